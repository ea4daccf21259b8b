"""Change filenames: Archivematica's rule for portable names.

Each file and folder name under ``objects/`` is transliterated to ASCII (Unidecode), then
every character outside ``A-Za-z0-9-_.()`` becomes ``_`` (at most 255 bytes, never ``.``
or ``..``); a name that would collide with a sibling — also one that differs only by case,
which a case-insensitive file system would confuse — gets ``_1``, ``_2``… before its
extension. Every file whose name changed since it was received (here, or when it was
received under a safe name) gets a ``filename change`` event with its received name
(escaped, see :func:`preservation.core.names.escape`) and its new one, and
``logs/filenameChanges.log`` lists every rename.

The plan is computed first and saved in the state, then applied: a step stopped half way
resumes the same plan on retry instead of losing track of what it renamed.
"""

from __future__ import annotations

from preservation.core.package import Package
from preservation.shared.file_renaming import DETAIL, LOG, RenameResult, rename_files

# Shared with other stages: preservation.shared.file_renaming (re-exported here).
__all__ = ["NAME", "run", "DETAIL", "LOG", "rename_files", "RenameResult"]

NAME = "Change filenames"


def run(package: Package) -> RenameResult:
    """Rename what needs it under ``objects/`` (PREMIS ``filename change``)."""
    return rename_files(package)
