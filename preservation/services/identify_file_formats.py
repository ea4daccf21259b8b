"""Identify file format with Siegfried (PRONOM), in-process through pygfried.

All files not yet identified go to Siegfried in one call, scanned by parallel Go workers;
no subprocess per file. Records ``format identification`` per file with the tool and
signature versions and the PRONOM identifier, and writes
``logs/fileFormatIdentification.log``.
"""

from __future__ import annotations

from preservation.core.errors import StepNotApplicable
from preservation.core.package import Package
from preservation.shared.format_identification import LOG, UNKNOWN, IdentifyResult, identify

# Shared with other stages: preservation.shared.format_identification (re-exported here).
__all__ = ["NAME", "run", "identify", "IdentifyResult", "LOG", "UNKNOWN"]

NAME = "Identify file format"


def run(package: Package) -> IdentifyResult:
    """Identify every registered file not yet identified (when the configuration says so)."""
    if not package.config.identify_formats:
        raise StepNotApplicable(
            f"processing configuration {package.config.name!r} turns format identification off"
        )
    return identify(package, package.state.files_to_identify())
