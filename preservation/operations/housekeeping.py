"""Housekeeping of the processing directory: a finished run's working copies go.

A stored transfer's working copies are removed by Clean up. A failed run's are kept for
a while (``PRESERVATION_KEEP_FAILED_DAYS``, 14) so an engineer can look at them: the
failure alert marks them (``sharedDirectory/failed/<transfer dir>``), and the
housekeeping DAG removes those older than that. Storage is never touched.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from preservation.core.package import Package
from preservation.core.settings import Settings
from preservation.shared.aip_package import working_copies
from preservation.tools.safe_extract import remove_tree

NAME = "Housekeeping"


def _markers(settings: Settings) -> Path:
    return settings.shared_directory / "failed"


def mark_failed(package: Package, run_id: str) -> None:
    """Note that the run of ``package`` failed: its working copies are kept a while."""
    folder = _markers(package.settings)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(p) for p in working_copies(package)]
    record = {"run_id": run_id, "at": time.time(), "paths": paths}
    (folder / package.ref.transfer_dirname).write_text(json.dumps(record))


def sweep(settings: Settings, keep_failed_days: float, now: float | None = None) -> list[str]:
    """Remove the working copies of runs that failed more than ``keep_failed_days`` ago;
    returns what was removed."""
    now = time.time() if now is None else now
    removed = []
    folder = _markers(settings)
    for marker in sorted(folder.glob("*")) if folder.is_dir() else []:
        record = json.loads(marker.read_text())
        if now - record["at"] < keep_failed_days * 86400:
            continue
        for target in map(Path, record["paths"]):
            # Only what lies in the shared directory: a marker never removes anything else.
            if target.is_relative_to(settings.shared_directory) and target.exists():
                remove_tree(target)
                removed.append(str(target))
        marker.unlink()
    return removed
