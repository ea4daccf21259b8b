"""Find and fetch stored AIPs, and read their audit trail: ``preservation aip list``,
``preservation aip get`` and ``preservation aip audit``.

Works on any AIP location (local folder or S3) through its index: AIPs are found by UUID
or by identifier (the newest version, or ``--version N``), and a fetched AIP is checked
on arrival (the package's sha256 from its pointer file, or every checksum of a bag), so
what lands in the output folder is known to be what was stored. Each fetch is an entry
("downloaded", by whom) in the audit trail.
"""

from __future__ import annotations

import getpass
import json
import tempfile
import uuid
from pathlib import Path

from preservation.core.errors import FixityMismatch, NotStored
from preservation.shared.aip_package import recorded_sha256
from preservation.storage.aip_index import AuditEntry, Stored
from preservation.storage.location import Location, verify_bag
from preservation.tools.process import file_digest

COLUMNS = ("identifier", "version", "aip_uuid", "space", "stored_at", "status")
AUDIT_COLUMNS = ("at", "action", "user", "identifier", "aip_uuid", "reason", "detail")


def list_aips(location: Location, identifier: str | None = None) -> list[dict]:
    """Stored AIPs, newest first: every one, or the versions of ``identifier``; a deleted
    one with ``status`` "deleted" and its tombstone (who asked, who approved, when, why)."""
    index = location.index
    records = (
        index.versions(identifier, include_deleted=True)
        if identifier
        else index.all(include_deleted=True)
    )
    gone = index.deleted_uuids()
    listed = []
    for record in records:
        if record.aip_uuid in gone:
            tombstone = index.tombstone(record.aip_uuid)
            listed.append(
                {
                    **record.as_dict(),
                    "status": tombstone.summary,
                    "deleted": {k: v for k, v in tombstone.as_dict().items() if k != "record"},
                }
            )
        else:
            listed.append({**record.as_dict(), "status": "stored"})
    return listed


def get(
    location: Location,
    reference: str,
    output: Path,
    version: int | None = None,
    user: str = "",
) -> Path:
    """Fetch the AIP ``reference`` (a UUID or an identifier) into ``output`` and check it;
    returns the local copy (its pointer file, if any, beside it). ``user`` fetched it."""
    record = resolve(location, reference, version)
    target = fetch(location, record, output)
    location.index.audit(
        AuditEntry(
            str(uuid.uuid4()),  # every fetch is an entry of its own
            "downloaded",
            user or getpass.getuser(),
            record.aip_uuid,
            identifier=record.identifier,
            detail=f"version {record.version} to {target}",
        )
    )
    return target


def resolve(location: Location, reference: str, version: int | None = None) -> Stored:
    """The stored AIP ``reference`` names (a UUID, or an identifier's version: its newest
    when ``version`` is None); ``NotStored`` saying why when there is none."""
    record = location.index.resolve(reference, version)
    if record is not None:
        return record
    tombstone = location.index.gone(reference, version)
    if tombstone:
        gone = tombstone.record
        raise NotStored(
            f"AIP {gone.aip_uuid} ({gone.identifier}, version {gone.version}) was "
            f"{tombstone.summary}"
        )
    wanted = f"version {version} of {reference!r}" if version else repr(reference)
    raise NotStored(
        f"No stored AIP is {wanted} in {location.description}; "
        "`preservation aip list` shows what is stored"
    )


def fetch(location: Location, record: Stored, output: Path) -> Path:
    """Copy the stored AIP ``record`` into ``output`` and check it against its record
    (every bag checksum, or the package's sha256); only a complete, intact copy appears
    there. Returns it (its pointer file, if any, beside it)."""
    output.mkdir(parents=True, exist_ok=True)
    stored = location.url(record)
    with tempfile.TemporaryDirectory(prefix=".aip-get-", dir=output) as work:
        local = location.download(stored, Path(work))
        pointer = location.pointer(record.aip_uuid)
        if local.is_dir():
            report = verify_bag(local)
            if not report.success:
                raise FixityMismatch(f"The fetched AIP is damaged: {report.message}")
        else:
            actual = file_digest(local)
            recorded = record.sha256 or (recorded_sha256(pointer) if pointer else None)
            if recorded and actual != recorded:
                raise FixityMismatch(
                    f"The fetched {local.name} has sha256 {actual}, its record says {recorded}"
                )
        target = output / local.name
        local.rename(target)  # complete and checked: only now in the output folder
    if pointer:
        (output / f"pointer.{record.aip_uuid}.xml").write_bytes(pointer)
    return target


def audit_trail(location: Location, reference: str | None = None) -> list[AuditEntry]:
    """The audit trail, oldest first: of the AIP ``reference`` (a UUID, or every version
    of an identifier), or of every AIP."""
    if not reference:
        return location.index.audit_trail()
    versions = location.index.versions(reference, include_deleted=True)
    uuids = [v.aip_uuid for v in versions] or [reference]
    entries = [e for aip_uuid in uuids for e in location.index.audit_trail(aip_uuid)]
    return sorted(entries, key=lambda e: (e.at, e.entry_id))


def command(location: Location, action: str, **options) -> tuple[int, str]:
    """The ``preservation aip`` command on ``location``: its exit code and its output."""
    try:
        if action == "list":
            records = list_aips(location, options.get("identifier"))
            if options.get("json"):
                return 0, json.dumps(records, indent=2)
            table = _table(records, COLUMNS)
            return 0, f"{table}\n{len(records)} AIP(s) in {location.description}"
        if action == "audit":
            entries = audit_trail(location, options.get("reference"))
            if options.get("json"):
                return 0, json.dumps([e.as_dict() for e in entries], indent=2)
            table = _table([e.as_dict() for e in entries], AUDIT_COLUMNS)
            return 0, f"{table}\n{len(entries)} entries in {location.description}"
        path = get(
            location,
            options["reference"],
            Path(options["output"]),
            options.get("version"),
            options.get("user", ""),
        )
        return 0, f"Fetched {path} (checked: intact)"
    except (NotStored, FixityMismatch) as exc:
        return 1, str(exc)


def _table(records: list[dict], columns: tuple[str, ...]) -> str:
    rows = [columns, *[tuple(str(r[c]) for c in columns) for r in records]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )
