"""Characterize and extract metadata: run the registry's characterization tools per format.

ExifTool and MediaInfo take a batch of files per process (``preservation.tools.batch_tools``;
a few processes per chunk, in parallel); FFprobe, which has no batch mode, runs per
video file in a bounded pool (audio has MediaInfo: see the registry).
Each tool's XML is kept per file and goes into the file's PREMIS
``objectCharacteristicsExtension`` in the METS, as Archivematica does. No PREMIS event:
Archivematica records none for characterization; the tool names its version in its XML.
A tool failing on a file is logged in ``logs/characterization.log`` and the rest go on.
"""

from __future__ import annotations

from preservation.core import chunks
from preservation.core.errors import StepNotApplicable
from preservation.core.package import Package
from preservation.shared.characterization import LOG, CharacterizeResult, characterize

# Shared with other stages: preservation.shared.characterization (re-exported here).
__all__ = ["NAME", "run", "characterize", "CharacterizeResult", "LOG"]

NAME = "Characterize and extract metadata"


def run(package: Package, chunk: int | None = None) -> CharacterizeResult:
    """Characterize the original files (of one chunk) with the tools the FPR names."""
    if not package.config.characterize:
        raise StepNotApplicable(
            f"processing configuration {package.config.name!r} turns characterization off"
        )
    return characterize(package, chunks.originals(package, chunk))
