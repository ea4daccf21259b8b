"""Format identification with Siegfried (PRONOM), in-process through pygfried: all files at
once, scanned by parallel Go workers; PREMIS ``format identification`` per file and
``logs/fileFormatIdentification.log``. For Identify file format and for every stage that
adds files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pygfried

from preservation.core import premis
from preservation.core.fsutil import merge_log
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.core.state import FileRecord

LOG = "fileFormatIdentification.log"


UNKNOWN = "UNKNOWN"
BATCH = 10_000


def _essentials(result: dict) -> dict:
    """What is kept of one file's result: its PRONOM match and errors."""
    return {
        "matches": [m for m in result.get("matches", []) if m.get("ns") == "pronom"][:1],
        "errors": result.get("errors"),
    }


@dataclass(frozen=True)
class IdentifyResult:
    files_identified: int
    unidentified: int
    tool: str


def identify(package: Package, records: Sequence[FileRecord]) -> IdentifyResult:
    """Identify ``records``; records ``format identification`` events."""
    root = package.current_dir()
    paths = [str(root / r.path) for r in records]
    report: dict = {"siegfried": pygfried.version(), "identifiers": []}
    by_path = {}
    # In batches: Siegfried's report of 100,000 files at once, as JSON and then as
    # Python objects, held hundreds of MB at a time.
    for start in range(0, len(paths), BATCH):
        report = pygfried.identify_many(
            paths[start : start + BATCH], workers=package.settings.workers
        )
        by_path.update((f["filename"], _essentials(f)) for f in report.get("files", []))
    signatures = "; ".join(i["details"] for i in report.get("identifiers", []))
    detail = f'program="Siegfried"; version="{report["siegfried"]}"; signatures="{signatures}"'
    events, updates, log = [], [], []
    unknown = 0
    for record, path in zip(records, paths):
        result = by_path.get(path, {})
        match = next((m for m in result.get("matches", []) if m.get("ns") == "pronom"), {})
        puid = match.get("id") or UNKNOWN
        if puid == UNKNOWN:
            unknown += 1
            outcome = "Not identified"
            note = result.get("errors") or match.get("warning") or "no match"
        else:
            outcome, note = "Positive", puid
        events.append(
            Event(
                record.uuid,
                premis.FORMAT_IDENTIFICATION,
                detail=detail,
                outcome=outcome,
                outcome_note=note,
            )
        )
        updates.append((puid, match.get("format", ""), match.get("version", ""), record.uuid))
        log.append(f"{record.path} ({record.uuid}): {puid} {match.get('format', '')}".rstrip())
    package.state.record_formats(updates)
    package.state.record_events(events)
    merge_log(package.logs_dir() / LOG, log)
    return IdentifyResult(len(records), unknown, f"Siegfried {report['siegfried']}")
