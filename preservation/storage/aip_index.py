"""The AIP index of a storage location: which AIPs it holds, by UUID, identifier, transfer.

It answers "which AIPs hold identifier X, newest version first" and "is the AIP of
transfer T stored" from a few small records, without listing the location's AIPs:

* ``aips/<aip uuid>.json``: written last, so its presence means stored and verified;
* ``identifiers/<quoted identifier>/<version, 6 digits>.json``: one per stored version;
* ``transfers/<transfer uuid>.json``.

Records are only ever created, never replaced (``put_new``): storing an identifier again
adds the next version, a retried store finds its own record and adds nothing, and two
concurrent stores of one identifier take different version numbers.

The index also keeps each AIP's fixity history (``fixity/<aip uuid>/<stamp>-<kind>.json``,
written by the fixity audit) and the audit trail (``audit/<aip uuid>/<entry id>.json``):
who started an ingest, stored, decided, reingested, asked to delete, approved, deleted or
downloaded which AIP, when and why. Its entries are only ever added, each once.

The records live in a ``Records`` store: S3 objects (``S3Location``), files
(``LocalLocation``) or a dict (``MemoryLocation``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from preservation.core.premis import now

#: The longest identifier segment kept readable (quoted); longer ones are hashed.
MAX_SEGMENT = 200


@dataclass(frozen=True)
class Stored:
    """One stored AIP version, as the index records it."""

    aip_uuid: str
    space: str
    key: str
    identifier: str
    version: int
    transfer_uuid: str
    sha256: str | None
    stored_at: str

    def as_dict(self) -> dict:
        return asdict(self)


class Records(Protocol):
    """Small records under keys, created once."""

    def get(self, key: str) -> bytes | None:
        """The record's bytes, None when there is none."""

    def put_new(self, key: str, body: bytes) -> bool:
        """Create ``key``; False (and nothing written) when it already exists."""

    def keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``."""


class FileRecords:
    """Records as files under a folder (created with O_EXCL: never replaced)."""

    def __init__(self, root: Path):
        self.root = root

    def get(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def put_new(self, key: str, body: bytes) -> bool:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(body)
        try:
            os.link(partial, path)  # atomic, and fails when the record exists
        except FileExistsError:
            return False
        finally:
            partial.unlink(missing_ok=True)
        return True

    def keys(self, prefix: str) -> list[str]:
        folder = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not folder.is_dir():
            return []
        found = (p.relative_to(self.root).as_posix() for p in folder.rglob("*.json"))
        return sorted(k for k in found if k.startswith(prefix))


class MemoryRecords:
    """Records in a dict, for a location held in memory."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def put_new(self, key: str, body: bytes) -> bool:
        if key in self.data:
            return False
        self.data[key] = bytes(body)
        return True

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.data if k.startswith(prefix))


#: What the audit trail records.
AUDITED_ACTIONS = (
    "ingest started",
    "stored",
    "decision",
    "reingest",
    "deletion requested",
    "deletion approved",
    "deletion refused",
    "deleted",
    "downloaded",
)


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit trail: who did what to which AIP, when and why.

    ``entry_id`` names the act, not the moment: the same act recorded again (a retried
    task) is the same entry, so it is kept once."""

    entry_id: str
    action: str
    user: str
    aip_uuid: str
    at: str = field(default_factory=now)
    identifier: str = ""
    reason: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if self.action not in AUDITED_ACTIONS:
            raise ValueError(f"{self.action!r} is not an audited action: {AUDITED_ACTIONS}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Tombstone:
    """What the index keeps of a deleted AIP (``deleted/<aip uuid>.json``): its record,
    who asked, who approved, when and why, and the PREMIS ``deletion`` event. Its UUID
    is never used again."""

    record: Stored
    deleted_at: str
    requested_by: str
    approved_by: str
    reason: str
    locations: list[str]
    event: dict

    @property
    def summary(self) -> str:
        """Who deleted it, when and why, in one line."""
        return (
            f"deleted on {self.deleted_at} by {self.approved_by} (asked by "
            f"{self.requested_by}): {self.reason}"
        )

    def as_dict(self) -> dict:
        return {**asdict(self), "record": self.record.as_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> Tombstone:
        return cls(**{**data, "record": Stored(**data["record"])})


@dataclass(frozen=True)
class FixityCheck:
    """One kept fixity check of an AIP: when (``YYYYmmddTHHMMSSZ``) and how deep."""

    aip_uuid: str
    stamp: str
    kind: str  # "package" (its sha256) or "deep" (and the bag inside)


class Index:
    """The index of one location."""

    def __init__(self, records: Records):
        self.records = records

    def record(self, aip_uuid: str) -> Stored | None:
        """The record of a stored AIP (None: not stored, or not finished)."""
        return self._load(self.records.get(f"aips/{aip_uuid}.json"))

    def register(
        self,
        aip_uuid: str,
        space: str,
        key: str,
        identifier: str,
        transfer_uuid: str,
        sha256: str | None,
    ) -> Stored:
        """Add a stored, verified AIP as the next version of its identifier."""
        existing = self.record(aip_uuid)
        if existing:
            return existing
        folder = _folder(identifier)
        while True:
            versions = self.versions(identifier, include_deleted=True)
            mine = next((v for v in versions if v.aip_uuid == aip_uuid), None)
            version = mine.version if mine else (versions[0].version + 1 if versions else 1)
            record = mine or Stored(
                aip_uuid, space, key, identifier, version, transfer_uuid, sha256, now()
            )
            body = json.dumps(record.as_dict()).encode()
            if mine or self.records.put_new(f"{folder}{version:06d}.json", body):
                break  # else a concurrent store took this version number: take the next
        self.records.put_new(f"transfers/{transfer_uuid}.json", body)
        self.records.put_new(f"aips/{aip_uuid}.json", body)
        return record

    def versions(self, identifier: str, include_deleted: bool = False) -> list[Stored]:
        """Every stored version of ``identifier``, newest first (and the deleted ones,
        when asked: their version numbers are never given again)."""
        folder = _folder(identifier)
        records = [self._load(self.records.get(k)) for k in self.records.keys(folder)]
        gone = set() if include_deleted else self.deleted_uuids()
        records = [r for r in records if r and r.identifier == identifier]
        return sorted(
            (r for r in records if r.aip_uuid not in gone), key=lambda r: r.version, reverse=True
        )

    def transfer_stored(self, transfer_uuid: str) -> Stored | None:
        """The AIP stored from transfer ``transfer_uuid``, if any."""
        return self._load(self.records.get(f"transfers/{transfer_uuid}.json"))

    def all(self, include_deleted: bool = False) -> list[Stored]:
        """Every stored AIP, newest first (and those deleted since, when asked)."""
        records = [self._load(self.records.get(k)) for k in self.records.keys("aips/")]
        gone = set() if include_deleted else self.deleted_uuids()
        records = [r for r in records if r and r.aip_uuid not in gone]
        return sorted(records, key=lambda r: r.stored_at, reverse=True)

    def resolve(
        self, reference: str, version: int | None = None, include_deleted: bool = False
    ) -> Stored | None:
        """An AIP by UUID, or an identifier's version (newest when ``version`` is None);
        a deleted AIP only when ``include_deleted``."""
        if version is None:
            by_uuid = self.record(reference)
            if by_uuid:
                gone = not include_deleted and self.tombstone(by_uuid.aip_uuid) is not None
                return None if gone else by_uuid
        versions = self.versions(reference, include_deleted)
        if version is None:
            return versions[0] if versions else None
        return next((v for v in versions if v.version == version), None)

    def add_fixity_check(self, check: FixityCheck, result: dict) -> bool:
        """Keep one fixity check's result; the same check kept again (a retry in the same
        second) adds nothing and returns False."""
        key = f"fixity/{check.aip_uuid}/{check.stamp}-{check.kind}.json"
        return self.records.put_new(key, json.dumps(result).encode())

    def fixity_checks(self) -> list[FixityCheck]:
        """Every kept fixity check, of every AIP."""
        checks = []
        for key in self.records.keys("fixity/"):
            _, aip_uuid, name = key.split("/")
            stamp, _, kind = name.removesuffix(".json").partition("-")
            checks.append(FixityCheck(aip_uuid, stamp, kind))
        return checks

    def bury(self, tombstone: Tombstone) -> bool:
        """Keep the tombstone of a deleted AIP; False when it was kept already."""
        key = f"deleted/{tombstone.record.aip_uuid}.json"
        return self.records.put_new(key, json.dumps(tombstone.as_dict()).encode())

    def tombstone(self, aip_uuid: str) -> Tombstone | None:
        """The tombstone of a deleted AIP (None: not deleted)."""
        data = self.records.get(f"deleted/{aip_uuid}.json")
        return Tombstone.from_dict(json.loads(data)) if data else None

    def gone(self, reference: str, version: int | None = None) -> Tombstone | None:
        """The tombstone of the deleted AIP ``reference`` names (as ``resolve`` reads it)."""
        record = self.resolve(reference, version, include_deleted=True)
        return self.tombstone(record.aip_uuid) if record else None

    def deleted_uuids(self) -> set[str]:
        """The UUIDs of every deleted AIP (one listing)."""
        return {k.split("/")[-1].removesuffix(".json") for k in self.records.keys("deleted/")}

    def remember_alert(self, key: str, body: dict) -> bool:
        """Note that the alert ``key`` was sent; False when it had been already (each
        alert goes once)."""
        return self.records.put_new(f"alerts/{key}.json", json.dumps(body).encode())

    def alerted(self, key: str) -> bool:
        """Whether the alert ``key`` was sent."""
        return self.records.get(f"alerts/{key}.json") is not None

    def audit(self, entry: AuditEntry) -> bool:
        """Add ``entry`` to the audit trail; False when it is there already."""
        key = f"audit/{entry.aip_uuid or 'none'}/{entry.entry_id}.json"
        return self.records.put_new(key, json.dumps(entry.as_dict()).encode())

    def audit_trail(self, aip_uuid: str | None = None) -> list[AuditEntry]:
        """The audit trail, oldest first: of one AIP, or of every AIP."""
        prefix = f"audit/{aip_uuid}/" if aip_uuid else "audit/"
        entries = []
        for key in self.records.keys(prefix):
            data = self.records.get(key)
            if data:
                entries.append(AuditEntry(**json.loads(data)))
        return sorted(entries, key=lambda e: (e.at, e.entry_id))

    @staticmethod
    def _load(data: bytes | None) -> Stored | None:
        return Stored(**json.loads(data)) if data else None


def _folder(identifier: str) -> str:
    """One path segment whatever the identifier holds ("/", "..", spaces), short enough
    for any file system: an identifier never becomes a file name as it is."""
    segment = quote(identifier, safe="").replace(".", "%2E")
    if len(segment) > MAX_SEGMENT:
        # Too long to be a name: its SHA-256 (the records inside hold the identifier).
        segment = "~" + hashlib.sha256(identifier.encode("utf-8", "surrogateescape")).hexdigest()
    return f"identifiers/{segment}/"
