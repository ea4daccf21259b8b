"""Renaming files and folders whose names hold characters other tools choke on (PREMIS
``filename change``, ``logs/filenameChanges.log``): for Change filenames and for Extract
packages' new members.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from preservation import __version__
from preservation.core import premis
from preservation.core.fsutil import merge_log
from preservation.core.names import sanitize, unique_name
from preservation.core.package import Package
from preservation.core.premis import Event

LOG = "filenameChanges.log"


DETAIL = f'prohibited characters removed: program="change_filenames"; version="{__version__}"'


@dataclass(frozen=True)
class RenameResult:
    files_renamed: int
    folders_renamed: int


def rename_files(package: Package) -> RenameResult:
    """Rename everything under ``objects/`` that needs it; records ``filename change``."""
    root = package.transfer_dir
    pending = package.state.facts().rename_plan
    plan = pending if pending is not None else _plan(root / "objects")
    package.state.record_facts(rename_plan=plan)
    for original, new in plan:
        old_name, new_path = PurePosixPath(original).name, PurePosixPath(new)
        if old_name == new_path.name:
            continue  # moved only because a parent folder was renamed
        current = root / new_path.parent / old_name  # parents are renamed first
        if current.exists():
            current.rename(root / new_path)
    renamed = dict(plan)
    recorded = package.state.subjects_of(premis.FILENAME_CHANGE)
    changes = [
        (r, renamed.get(r.path, r.path))
        for r in package.state.files(under="objects/")
        # Renamed now, or received under a safe name and not yet recorded as such.
        if r.path in renamed or (r.original_path != r.path and r.uuid not in recorded)
    ]
    package.state.record_events(
        Event(
            r.uuid,
            premis.FILENAME_CHANGE,
            detail=DETAIL,
            outcome_note=f'Original name="%transferDirectory%{r.original_path}"; '
            f'cleaned up name="%transferDirectory%{new}"',
        )
        for r, new in changes
    )
    # Paths last: a retry that finds the old paths still recorded redoes the (idempotent)
    # events; updating first would lose them if the step stopped in between.
    package.state.move_files((new, r.uuid) for r, new in changes if r.path != new)
    received = {r.path: r.original_path for r, _ in changes}
    merge_log(
        package.logs_dir() / LOG,
        [f"{received.get(old, old)} -> {new}" for old, new in plan]
        + [f"{r.original_path} -> {new}" for r, new in changes if r.path not in renamed],
    )
    package.state.record_facts(rename_plan=None)
    folders = sum(1 for _, new in plan if (root / new).is_dir())
    return RenameResult(len(changes), folders)


def _plan(objects: Path) -> list[tuple[str, str]]:
    """(original path, new path) of every entry whose path changes, parents first."""
    plan: list[tuple[str, str]] = []
    root = PurePosixPath("objects")
    stack = [(objects, root, root)]
    while stack:  # no recursion, however deep the folders go
        folder, old, new = stack.pop()
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
        clean = [e for e in entries if sanitize(e.name) == e.name]
        taken: set[str] = set()
        names = {}
        # Names already portable keep them first; then the others, and a name equal but
        # for case to one taken, get a number.
        for entry in clean + [e for e in entries if sanitize(e.name) != e.name]:
            names[entry] = unique_name(sanitize(entry.name), taken, key=str.lower)
            taken.add(names[entry].lower())
        for entry in entries:
            if old / entry.name != new / names[entry]:
                plan.append((str(old / entry.name), str(new / names[entry])))
        for entry in reversed(entries):
            if entry.is_dir() and not entry.is_symlink():
                stack.append((entry, old / entry.name, new / names[entry]))
    return plan
