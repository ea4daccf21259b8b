"""Find and fetch stored AIPs: ``preservation aip list`` and ``preservation aip get``.

Works on any AIP location (local folder or S3) through its index: AIPs are found by UUID
or by identifier (the newest version, or ``--version N``), and a fetched AIP is checked
on arrival (the package's sha256 from its pointer file, or every checksum of a bag), so
what lands in the output folder is known to be what was stored.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from preservation.core.errors import FixityMismatch, NotStored
from preservation.shared.aip_package import recorded_sha256
from preservation.storage.aip_index import Stored
from preservation.storage.location import Location, verify_bag
from preservation.tools.process import file_digest

COLUMNS = ("identifier", "version", "aip_uuid", "space", "stored_at", "key")


def list_aips(location: Location, identifier: str | None = None) -> list[Stored]:
    """Stored AIPs, newest first: every one, or the versions of ``identifier``."""
    return location.index.versions(identifier) if identifier else location.index.all()


def get(location: Location, reference: str, output: Path, version: int | None = None) -> Path:
    """Fetch the AIP ``reference`` (a UUID or an identifier) into ``output`` and check it;
    returns the local copy (its pointer file, if any, beside it)."""
    record = location.index.resolve(reference, version)
    if record is None:
        wanted = f"version {version} of {reference!r}" if version else repr(reference)
        raise NotStored(
            f"No stored AIP is {wanted} in {location.description}; "
            "`preservation aip list` shows what is stored"
        )
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


def command(location: Location, action: str, **options) -> tuple[int, str]:
    """The ``preservation aip`` command on ``location``: its exit code and its output."""
    try:
        if action == "list":
            records = list_aips(location, options.get("identifier"))
            if options.get("json"):
                return 0, json.dumps([r.as_dict() for r in records], indent=2)
            return 0, f"{_table(records)}\n{len(records)} AIP(s) in {location.description}"
        path = get(location, options["reference"], Path(options["output"]), options.get("version"))
        return 0, f"Fetched {path} (checked: intact)"
    except (NotStored, FixityMismatch) as exc:
        return 1, str(exc)


def _table(records: list[Stored]) -> str:
    rows = [COLUMNS, *[tuple(str(getattr(r, c)) for c in COLUMNS) for r in records]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )
