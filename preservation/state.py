"""The per-run record of files and PREMIS events, kept in one SQLite file per package.

Archivematica keeps this in MySQL; one small SQLite file beside the working copy keeps a
run self-contained and lets every micro-service read and write in batches (one
transaction per step, never one per file). Writes are upserts keyed on stable
identifiers, so a retried step leaves the same rows, not duplicates.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from preservation.premis import Event

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
    def set_meta(self, **values: str) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items())

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else default

    # -- files --------------------------------------------------------------------------
    def add_files(self, records: Iterable[FileRecord]) -> None:
        """Register files; a path already registered keeps its UUID and facts."""
        columns = list(FileRecord.__dataclass_fields__)
        sql = (
            f"INSERT OR IGNORE INTO files({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        with self.transaction() as db:
            db.executemany(sql, ([getattr(r, c) for c in columns] for r in records))

    def files(self, where: str = "1", params: tuple = ()) -> list[FileRecord]:
        """The live (not removed) files matching an SQL condition, in path order."""
        rows = self.db.execute(
            f"SELECT * FROM files WHERE removed = 0 AND ({where}) ORDER BY path", params
        ).fetchall()
        return [FileRecord(**dict(r)) for r in rows]

    def files_by_uuid(self, uuids: Iterable[str]) -> list[FileRecord]:
        """The live files with these UUIDs, in path order."""
        return self.files("uuid IN (SELECT value FROM json_each(?))", (json.dumps(list(uuids)),))

    def update_files(self, column_sql: str, rows: Iterable[tuple]) -> None:
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

    def events_by_subject(self) -> dict[str, list[Event]]:
        """All events grouped by subject, read in one query (for METS writing)."""
        grouped: dict[str, list[Event]] = {}
        for row in self.db.execute("SELECT * FROM events ORDER BY datetime, uuid"):
            grouped.setdefault(row["subject"], []).append(_event(row))
        return grouped

    # -- characterization and derivation ---------------------------------------------------
    def record_characteristics(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Store (file UUID, tool, XML) tool outputs; a re-run replaces them."""
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

    def derivatives(self, where: str = "1", params: tuple = ()) -> list[sqlite3.Row]:
        """Derivation links matching an SQL condition."""
        return self.db.execute(
            f"SELECT * FROM derivatives WHERE {where} ORDER BY source, purpose", params
        ).fetchall()


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
