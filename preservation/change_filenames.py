"""Change filenames: Archivematica's rule for portable names.

Each file and folder name under ``objects/`` is transliterated to ASCII (Unidecode), then
every character outside ``A-Za-z0-9-_.()`` becomes ``_``; a name that would collide with
a sibling gets ``_1``, ``_2``… before its extension. Every renamed file gets a
``filename change`` event with its old and new names, and ``logs/filenameChanges.log``
lists every rename.

The plan is computed first and saved in the state, then applied: a step stopped half way
resumes the same plan on retry instead of losing track of what it renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from preservation import __version__, premis
from preservation.fsutil import merge_log
from preservation.names import sanitize
from preservation.package import Package
from preservation.premis import Event

NAME = "Change filenames"
LOG = "filenameChanges.log"
DETAIL = f'prohibited characters removed: program="change_filenames"; version="{__version__}"'


@dataclass(frozen=True)
class RenameResult:
    files_renamed: int
    folders_renamed: int


def run(package: Package) -> RenameResult:
    """Rename everything under ``objects/`` that needs it; records ``filename change``."""
    root = package.transfer_dir
    pending = package.state.meta("rename_plan")
    plan = json.loads(pending) if pending else _plan(root / "objects")
    package.state.set_meta(rename_plan=json.dumps(plan))
    for original, new in plan:
        old_name, new_path = PurePosixPath(original).name, PurePosixPath(new)
        if old_name == new_path.name:
            continue  # moved only because a parent folder was renamed
        current = root / new_path.parent / old_name  # parents are renamed first
        if current.exists():
            current.rename(root / new_path)
    renamed = dict(plan)
    changes = [
        (r, renamed[r.path])
        for r in package.state.files("path LIKE 'objects/%'")
        if r.path in renamed
    ]
    package.state.record_events(
        Event(
            r.uuid,
            premis.FILENAME_CHANGE,
            detail=DETAIL,
            outcome_note=f'Original name="%transferDirectory%{r.path}"; '
            f'cleaned up name="%transferDirectory%{new}"',
        )
        for r, new in changes
    )
    # Paths last: a retry that finds the old paths still recorded redoes the (idempotent)
    # events; updating first would lose them if the step stopped in between.
    package.state.update_files("path = ?", ((new, r.uuid) for r, new in changes))
    merge_log(package.logs_dir() / LOG, (f"{old} -> {new}" for old, new in plan))
    package.state.set_meta(rename_plan="")
    folders = sum(1 for _, new in plan if (root / new).is_dir())
    return RenameResult(len(changes), folders)


def _plan(objects: Path) -> list[tuple[str, str]]:
    """(original path, new path) of every entry whose path changes, parents first."""
    plan: list[tuple[str, str]] = []

    def visit(folder: Path, old: PurePosixPath, new: PurePosixPath) -> None:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
        taken = {e.name for e in entries if sanitize(e.name) == e.name}
        for entry in entries:
            name = entry.name
            if sanitize(name) != name:
                name = _unique(sanitize(name), taken)
                taken.add(name)
            if old / entry.name != new / name:
                plan.append((str(old / entry.name), str(new / name)))
            if entry.is_dir() and not entry.is_symlink():
                visit(entry, old / entry.name, new / name)

    root = PurePosixPath("objects")
    visit(objects, root, root)
    return plan


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    stem, dot, suffix = name.partition(".") if not name.startswith(".") else (name, "", "")
    number = 1
    while f"{stem}_{number}{dot}{suffix}" in taken:
        number += 1
    return f"{stem}_{number}{dot}{suffix}"
