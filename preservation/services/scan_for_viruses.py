"""Scan for viruses: every file, with ClamAV (clamd when running, clamscan otherwise).

Records a ``virus check`` event per file with the engine and signature versions. Any
infected file rejects the transfer with a report naming each file and signature, and
``logs/virusScan.log`` keeps the report; nothing infected goes further.

A file larger than ``PRESERVATION_VIRUS_SCAN_MAX_MB`` (at most ClamAV's own ceiling of
2 GiB) is not scanned, and says so: its ``virus check`` event has the outcome
``Not scanned`` and a note naming the size and the setting, never ``Pass``.
"""

from __future__ import annotations

from preservation.core.package import Package
from preservation.shared.virus_scanning import LOG, NOT_SCANNED, ScanSummary, scan

# Shared with other stages: preservation.shared.virus_scanning (re-exported here).
__all__ = ["NAME", "run", "LOG", "NOT_SCANNED", "scan", "ScanSummary"]

NAME = "Scan for viruses"


def run(package: Package) -> ScanSummary:
    """Scan every registered file not yet scanned."""
    return scan(package, package.state.files_to_scan())
