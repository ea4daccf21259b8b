"""The per-run record of files and PREMIS events, kept in one SQLite file per package.

Archivematica keeps this in MySQL; one small SQLite file beside the working copy keeps a
run self-contained and lets every micro-service read and write in batches (one
transaction per step, never one per file). Writes are upserts keyed on stable
identifiers, so a retried step leaves the same rows, not duplicates.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from itertools import groupby
from pathlib import Path

from preservation.core.premis import Event

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    uuid TEXT PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,          -- current path, relative to the package directory
    original_path TEXT NOT NULL,        -- path when first registered (before renames)
    file_group TEXT NOT NULL,           -- original | metadata | submissionDocumentation
    size INTEGER,
    sha256 TEXT,
    puid TEXT,
    format_name TEXT,
    format_version TEXT,
    identified INTEGER NOT NULL DEFAULT 0,
    virus_checked INTEGER NOT NULL DEFAULT 0,
    parent_uuid TEXT,                   -- the package a file was extracted from
    extracted INTEGER NOT NULL DEFAULT 0, -- 1 once this file's own contents were extracted
    removed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    uuid TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    event_type TEXT NOT NULL,
    datetime TEXT NOT NULL,
    detail TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_subject ON events(subject);
CREATE TABLE IF NOT EXISTS characteristics (  -- tool output for objectCharacteristicsExtension
    uuid TEXT NOT NULL,
    tool TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (uuid, tool)
);
CREATE TABLE IF NOT EXISTS derivatives (     -- PREMIS derivation relationships
    source TEXT NOT NULL,
    derivative TEXT NOT NULL,
    purpose TEXT NOT NULL,                   -- preservation | access | thumbnail | transcription
    event TEXT NOT NULL,                     -- the normalization/transcription event's UUID
    path TEXT NOT NULL,                      -- where the derivative is (access copies: the DIP)
    PRIMARY KEY (source, purpose)
);
"""


@dataclass
class FileRecord:
    """One file of the package as the state store knows it."""

    uuid: str
    path: str
    original_path: str
    file_group: str
    size: int | None = None
    sha256: str | None = None
    puid: str | None = None
    format_name: str | None = None
    format_version: str | None = None
    identified: int = 0
    virus_checked: int = 0
    parent_uuid: str | None = None
    extracted: int = 0
    removed: int = 0


@dataclass(frozen=True)
class PackageFacts:
    """What a run learns about its package, stage by stage (kept in the ``meta`` table)."""

    # Receive transfer
    source: str = ""
    name: str = ""
    transfer_uuid: str = ""
    aip_uuid: str = ""
    received: str = ""
    processing_config: str = ""
    #: name in the package as received -> the name it was given on arrival (escaped)
    received_names: dict[str, str] = field(default_factory=dict)
    # Verify transfer compliance
    package_kind: str = ""
    catalogue_identifier: str = ""
    accession_number: str = ""
    collection_reference: str = ""
    external_identifier: str = ""
    #: metadata.csv's Dublin Core: [element, value] pairs (``title``, ``creator``, …)
    dublin_core: list[list[str]] = field(default_factory=list)
    #: metadata.csv's other columns (collection_reference, accession_number): [column, value]
    other_metadata: list[list[str]] = field(default_factory=list)
    rights: list[dict] = field(default_factory=list)
    # Change filenames: the renames still to make, [original, new] (None: none pending)
    rename_plan: list[list[str]] | None = None
    # Choose normalization, when a person chose (else the configuration's ``normalize``)
    normalization: str = ""
    # Create SIP
    sip_created: bool = False
    # the per-file stages' chunks, decided once (0: not yet)
    chunks: int = 0

    @classmethod
    def decode(cls, stored: dict[str, str]) -> PackageFacts:
        values = {}
        for name, kind in _FACT_KINDS.items():
            text = stored.get(name)
            if text is None:
                continue
            if kind is str:
                values[name] = text
            elif kind is bool:
                values[name] = bool(text)
            elif kind is int:
                values[name] = int(text or 0)
            else:
                values[name] = json.loads(text) if text else None
        return cls(**{k: v for k, v in values.items() if v is not None})

    @staticmethod
    def encode(values: dict) -> dict[str, str]:
        unknown = set(values) - set(_FACT_KINDS)
        if unknown:
            raise TypeError(f"not package facts: {', '.join(sorted(unknown))}")
        encoded = {}
        for name, value in values.items():
            kind = _FACT_KINDS[name]
            if kind is str:
                encoded[name] = str(value)
            elif kind is bool:
                encoded[name] = "1" if value else ""
            elif kind is int:
                encoded[name] = str(int(value))
            else:
                encoded[name] = "" if value is None else json.dumps(value)
        return encoded


#: fact -> str, bool, int, or json (lists and dicts)
_FACT_KINDS = {
    f.name: {"str": str, "bool": bool, "int": int}.get(str(f.type), "json")
    for f in fields(PackageFacts)
}


class State:
    """Access to one package's state file. Use as a context manager or call ``close``."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # A long timeout: two steps of one run never write at once, but a retried task may
        # start while the killed attempt's connection is still being torn down.
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic batch: everything in it lands, or nothing does."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- package-level facts ------------------------------------------------------------
    def facts(self) -> PackageFacts:
        """What the run has learnt about its package so far."""
        rows = self.db.execute("SELECT key, value FROM meta").fetchall()
        return PackageFacts.decode({r["key"]: r["value"] for r in rows})

    def record_facts(self, **values) -> None:
        """Keep facts about the package (``PackageFacts``' fields); recorded again, a fact
        is replaced."""
        encoded = PackageFacts.encode(values)
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", encoded.items())

    # -- files: which ---------------------------------------------------------------------
    def add_files(self, records: Iterable[FileRecord]) -> None:
        """Register files; a path already registered keeps its UUID and facts."""
        columns = list(FileRecord.__dataclass_fields__)
        sql = (
            f"INSERT OR IGNORE INTO files({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        with self.transaction() as db:
            db.executemany(sql, ([getattr(r, c) for c in columns] for r in records))

    def files(
        self,
        group: str | None = None,
        under: str = "",
        uuids: Callable[[str], bool] | None = None,
    ) -> list[FileRecord]:
        """The live (not removed) files, in path order: of one file group (``original``,
        ``metadata``, ``preservation``, …), whose path starts with ``under``, and/or
        whose UUID ``uuids`` holds (a chunk's files)."""
        # A chunk's files: a scan and a sort of the few kept beats walking the path
        # index over every row (0.07 s against 0.22 s of 100,000).
        return self._files(*self._where(group, under, uuids), scan=uuids is not None)

    def count_files(
        self, group: str | None = None, uuids: Callable[[str], bool] | None = None
    ) -> int:
        """How many live files ``files`` would return (none of them read)."""
        where, params = self._where(group, "", uuids)
        sql = f"SELECT count(*) FROM files WHERE removed = 0 AND ({where})"
        return self.db.execute(sql, params).fetchone()[0]

    def _where(self, group: str | None, under: str, uuids) -> tuple[str, tuple]:
        where, params = ["1"], []
        if group is not None:
            where.append("file_group = ?")
            params.append(group)
        if under:
            where.append("substr(path, 1, length(?)) = ?")
            params += [under, under]
        if uuids is not None:
            # Filtered in SQLite, so a chunk of a 100,000-file package builds its own
            # records only (building all of them took 0.85 s per chunk and stage).
            self.db.create_function("wanted_uuid", 1, uuids, deterministic=True)
            where.append("wanted_uuid(uuid)")
        return " AND ".join(where), tuple(params)

    def file_at(self, path: str) -> FileRecord | None:
        """The live file at ``path`` (relative to the package directory)."""
        found = self._files("path = ?", (path,))
        return found[0] if found else None

    def files_by_uuid(self, uuids: Iterable[str]) -> list[FileRecord]:
        """The live files with these UUIDs, in path order."""
        return self._files("uuid IN (SELECT value FROM json_each(?))", (json.dumps(list(uuids)),))

    def files_to_checksum(self) -> list[FileRecord]:
        """Files with no sha256 yet (new, or to be checked again)."""
        return self._files("sha256 IS NULL")

    def files_to_identify(self) -> list[FileRecord]:
        """Files whose format is not identified yet."""
        return self._files("identified = 0")

    def files_to_scan(self) -> list[FileRecord]:
        """Files not yet scanned for viruses (or found infected: scanned again)."""
        return self._files("virus_checked = 0")

    def packages_to_extract(self) -> list[FileRecord]:
        """Originals whose own contents have not been extracted yet."""
        return self._files("file_group = 'original' AND extracted = 0")

    def members_of(self, parent_uuid: str) -> list[FileRecord]:
        """The files extracted from the package ``parent_uuid``."""
        return self._files("parent_uuid = ?", (parent_uuid,))

    def unfinished_members(self, identify: bool) -> list[FileRecord]:
        """Extracted files not yet scanned (or, with ``identify``, identified)."""
        unfinished = "virus_checked = 0 OR identified = 0" if identify else "virus_checked = 0"
        return self._files(f"parent_uuid IS NOT NULL AND ({unfinished})")

    # -- files: what was done to them -----------------------------------------------------
    def record_checksums(self, rows: Iterable[tuple[str, int, str]]) -> None:
        """(sha256, size, UUID) of each file."""
        self._update("sha256 = ?, size = ?", rows)

    def record_formats(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """(PUID, format name, format version, UUID) of each identified file."""
        self._update("puid = ?, format_name = ?, format_version = ?, identified = 1", rows)

    def mark_scanned(self, uuids: Iterable[str]) -> None:
        """These files were scanned for viruses and are settled."""
        self._update("virus_checked = 1", ((u,) for u in uuids))

    def move_files(self, rows: Iterable[tuple[str, str]]) -> None:
        """(new path, UUID): files renamed or moved; each keeps its identity."""
        self._update("path = ?", rows)

    def make_preservation_copy(self, uuid: str, path: str) -> None:
        """The file ``uuid``, moved to ``path``, is now a preservation copy."""
        self._update("path = ?, file_group = 'preservation'", [(path, uuid)])

    def mark_extracted(self, uuids: Iterable[str]) -> None:
        """These packages' contents are extracted (and registered)."""
        self._update("extracted = 1", ((u,) for u in uuids))

    def mark_removed(self, uuids: Iterable[str]) -> None:
        """These files are gone from the package (no longer listed, their events kept)."""
        self._update("removed = 1", ((u,) for u in uuids))

    def check_again(self, uuid: str) -> None:
        """The file ``uuid`` changed: checksum, identify and scan it again."""
        self._update("sha256 = NULL, identified = 0, virus_checked = 0", [(uuid,)])

    def _files(self, where: str, params: tuple = (), scan: bool = False) -> list[FileRecord]:
        table = "files NOT INDEXED" if scan else "files"
        rows = self.db.execute(
            f"SELECT * FROM {table} WHERE removed = 0 AND ({where}) ORDER BY path", params
        ).fetchall()
        return [FileRecord(**dict(r)) for r in rows]

    def _update(self, column_sql: str, rows: Iterable[tuple]) -> None:
        """Batch update: ``column_sql`` is the SET clause, each row ends with the UUID."""
        with self.transaction() as db:
            db.executemany(f"UPDATE files SET {column_sql} WHERE uuid = ?", rows)

    # -- events -------------------------------------------------------------------------
    def record_events(self, events: Iterable[Event]) -> int:
        """Record PREMIS events; recording the same event again replaces it."""
        rows = [
            (e.identifier, e.subject, e.event_type, e.datetime, e.detail, e.outcome, e.outcome_note)
            for e in events
        ]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def events(self, subject: str | None = None) -> list[Event]:
        """Events in time order, of one subject or of all."""
        if subject is None:
            rows = self.db.execute("SELECT * FROM events ORDER BY datetime, uuid").fetchall()
        else:
            rows = self.db.execute(
                "SELECT * FROM events WHERE subject = ? ORDER BY datetime, uuid", (subject,)
            ).fetchall()
        return [_event(r) for r in rows]

    def subjects_of(self, event_type: str) -> set[str]:
        """The UUIDs of the files that have an event of this type."""
        rows = self.db.execute("SELECT subject FROM events WHERE event_type = ?", (event_type,))
        return {row["subject"] for row in rows}

    def count_events(self, subjects: Iterable[str]) -> int:
        """How many events these subjects have."""
        return self.db.execute(
            "SELECT count(*) FROM events WHERE subject IN (SELECT value FROM json_each(?))",
            (json.dumps(list(subjects)),),
        ).fetchone()[0]

    def events_by_subject(self) -> EventsBySubject:
        """All events grouped by subject, each subject's read when asked for (METS
        writing, summaries)."""
        return EventsBySubject(self.db)

    # -- characterization and derivation ---------------------------------------------------
    def record_characteristics(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Store (file UUID, tool, XML) tool outputs; a re-run replaces them. The XML is
        one element as lxml serialized it (``etree.tostring``: no declaration, no
        DOCTYPE, its namespaces declared): the METS writer puts it in as it is."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO characteristics VALUES (?, ?, ?)", rows)

    def characteristics(self, uuid: str) -> list[tuple[str, str]]:
        """The (tool, XML) outputs recorded for a file, in tool order."""
        rows = self.db.execute(
            "SELECT tool, xml FROM characteristics WHERE uuid = ? ORDER BY tool", (uuid,)
        )
        return [(r["tool"], r["xml"]) for r in rows]

    def record_derivatives(self, rows: Iterable[tuple[str, str, str, str, str]]) -> None:
        """Store (source, derivative, purpose, event, path) links; one per source and purpose."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO derivatives VALUES (?, ?, ?, ?, ?)", rows)

    def derivatives(
        self, purpose: str | None = None, source: str | None = None, with_event: bool = False
    ) -> list[sqlite3.Row]:
        """Derivation links, of one purpose and/or one source; ``with_event``: only those
        a PREMIS event made (not a manual copy's)."""
        where, params = ["1"], []
        if purpose is not None:
            where.append("purpose = ?")
            params.append(purpose)
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if with_event:
            where.append("event != ''")
        return self.db.execute(
            f"SELECT * FROM derivatives WHERE {' AND '.join(where)} ORDER BY source, purpose",
            params,
        ).fetchall()


class EventsBySubject(Mapping):
    """Subject UUID -> its events in time order, read from the state a subject at a time.

    Not held all at once: a 100,000-file package has 600,000 events, half a GB as
    Python objects, while a METS writer needs one file's at a time.
    """

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __getitem__(self, subject: str) -> list[Event]:
        rows = self.db.execute(
            "SELECT * FROM events WHERE subject = ? ORDER BY datetime, uuid", (subject,)
        ).fetchall()
        if not rows:
            raise KeyError(subject)
        return [_event(r) for r in rows]

    def __iter__(self) -> Iterator[str]:
        for row in self.db.execute("SELECT DISTINCT subject FROM events ORDER BY subject"):
            yield row[0]

    def __len__(self) -> int:
        return self.db.execute("SELECT count(DISTINCT subject) FROM events").fetchone()[0]

    def count_by_type(self) -> dict[str, int]:
        """How many events of each type, every subject's."""
        rows = self.db.execute("SELECT event_type, count(*) FROM events GROUP BY event_type")
        return {event_type: count for event_type, count in rows}

    def with_outcome(self, event_type: str, outcome: str) -> list[Event]:
        """The events of a type with an outcome (validation failures), every subject's."""
        rows = self.db.execute(
            "SELECT * FROM events WHERE event_type = ? AND outcome = ? "
            "ORDER BY subject, datetime, uuid",
            (event_type, outcome),
        )
        return [_event(r) for r in rows]

    def items(self) -> Iterator[tuple[str, list[Event]]]:  # type: ignore[override]
        """Every subject with its events, in one pass over the table."""
        rows = self.db.execute("SELECT * FROM events ORDER BY subject, datetime, uuid")
        for subject, group in groupby(rows, key=lambda r: r["subject"]):
            yield subject, [_event(r) for r in group]


def _event(row: sqlite3.Row) -> Event:
    # The key is folded into the stored identifier; rebuilding the record keeps the
    # identifier by carrying it in place of the key-derived one.
    return StoredEvent(
        subject=row["subject"],
        event_type=row["event_type"],
        detail=row["detail"],
        outcome=row["outcome"],
        outcome_note=row["outcome_note"],
        datetime=row["datetime"],
        stored_identifier=row["uuid"],
    )


@dataclass(frozen=True)
class StoredEvent(Event):
    """An event read back from the store, keeping the identifier it was stored under."""

    stored_identifier: str = ""

    @property
    def identifier(self) -> str:
        return self.stored_identifier
