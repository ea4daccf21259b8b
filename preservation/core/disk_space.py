"""Free space where packages are worked on: checked before a stage writes, with the
stage's estimate in the message, and a disk that fills anyway reported as what it is.

A full disk is a system fault (:class:`~preservation.core.errors.DiskFull`): the task fails
and is retried, nothing half-made is stored, and once space is freed the retry, or a
cleared task, goes on.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from preservation.core.errors import DiskFull

MiB = 1024 * 1024


def mib(size: int) -> str:
    return f"{size / MiB:.1f} MiB"


def require_space(folder: Path, needed: int, stage: str, estimate: str, reserve: int) -> None:
    """DiskFull unless ``folder``'s file system has ``needed`` bytes free beyond the
    ``reserve`` kept spare (``PRESERVATION_DISK_RESERVE_MB``) for the other runs."""
    free = shutil.disk_usage(folder).free
    if free - reserve < needed:
        raise DiskFull(
            f"Not enough free space: {stage} needs about {mib(needed)} in {folder} "
            f"({estimate}); {mib(free)} free there, {mib(reserve)} of it kept spare."
        )


@contextmanager
def disk_full_is_a_fault(folder: Path, stage: str) -> Iterator[None]:
    """Turn "no space left on device" met while writing into ``folder`` into DiskFull."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        raise filled_up(folder, stage, f"{where} (no space left on device)") from exc


def filled_up(folder: Path, stage: str, what: str) -> DiskFull:
    """The DiskFull of a disk that filled up during ``stage`` (``what`` says how)."""
    free = shutil.disk_usage(folder).free
    return DiskFull(f"{folder} filled up during {stage}{what}; {mib(free)} free there now.")


def tree_size(path: Path) -> int:
    """The bytes of the regular files under ``path`` (or of the file ``path``)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total
