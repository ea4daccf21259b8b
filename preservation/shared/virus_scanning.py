"""Virus scanning with ClamAV (clamd when running, clamscan otherwise): PREMIS ``virus
check`` per file, ``logs/virusScan.log``, VirusFound naming every infected file. For
Scan for viruses and for every stage that adds files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from preservation.core import premis
from preservation.core.errors import ToolError, VirusFound
from preservation.core.fsutil import merge_log
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.core.state import FileRecord
from preservation.tools import clamav

LOG = "virusScan.log"


NOT_SCANNED = "Not scanned"


@dataclass(frozen=True)
class ScanSummary:
    files_scanned: int
    infected: int
    engine: str
    not_scanned: int = 0


def scan(package: Package, records: Sequence[FileRecord]) -> ScanSummary:
    """Scan ``records``; records ``virus check`` events and raises VirusFound if infected."""
    if not records:
        return ScanSummary(0, 0, "")
    engine = clamav.scanner(package.settings)
    version, definitions = engine.version()
    root = package.current_dir()
    limit = package.settings.virus_scan_max_mb
    scannable, too_big = [], []
    for record in records:
        (too_big if (record.size or 0) > limit * 2**20 else scannable).append(record)
    records = scannable
    paths = [root / r.path for r in records]
    results = engine.scan(paths)
    detail = f'program="{engine.program}"; version="{version}"; virusDefinitions="{definitions}"'
    events, infected, errors, log = [], [], [], []
    for record in too_big:
        note = (
            f"not scanned: {record.size / 2**20:,.0f} MiB is above the scan limit of "
            f"{limit:,} MiB (PRESERVATION_VIRUS_SCAN_MAX_MB; ClamAV scans at most 2 GiB)"
        )
        events.append(
            Event(record.uuid, premis.VIRUS_CHECK, detail, NOT_SCANNED, outcome_note=note)
        )
        log.append(f"{record.path}: {note}")
    for record, path in zip(records, paths):
        result = results.get(path)
        if result is None or result.status == clamav.ERROR:
            errors.append(f"{record.path}: {result.signature if result else 'no answer'}")
            continue
        passed = result.status == clamav.OK
        events.append(
            Event(
                record.uuid,
                premis.VIRUS_CHECK,
                detail=detail,
                outcome="Pass" if passed else "Fail",
                outcome_note="" if passed else result.signature,
            )
        )
        if not passed:
            infected.append(f"{record.path}: {result.signature}")
        log.append(f"{record.path}: {result.status} {result.signature}".rstrip())
    package.state.record_events(events)
    # Infected files stay unchecked: a rerun must scan (and reject) them again. A file
    # above the limit is settled: a rerun would not scan it either.
    package.state.mark_scanned(e.subject for e in events if e.outcome != "Fail")
    merge_log(package.logs_dir() / LOG, log)
    if errors:
        raise ToolError(f"{engine.program} could not scan {len(errors)} file(s)", errors)
    if infected:
        raise VirusFound(
            f"Malware found in {len(infected)} file(s) of transfer {package.ref.name}; "
            "the transfer is stopped and nothing from it is stored",
            infected,
        )
    return ScanSummary(len(records), 0, f"{engine.program} {version}", len(too_big))
