"""Small file-system helpers that keep every write atomic and every log idempotent."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content appears at ``path`` only when complete: readers
    see the old content or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a whole file atomically (see ``atomic_writer``)."""
    with atomic_writer(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def merge_log(path: Path, lines: Iterable[str]) -> None:
    """Add lines to a log, keeping earlier ones and never repeating a line.

    A retried step writes the same lines again; merging keeps the log as one run would
    have written it, and keeps what an earlier attempt recorded.
    """
    new = [line for line in lines]
    if not new and path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Chunks of one stage run at once (mapped tasks) and write the same log: a lock on
    # the folder keeps one writer's lines from replacing another's.
    with _folder_lock(path.parent):
        _merge_lines(path, new)


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    import fcntl

    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _merge_lines(path: Path, new: list[str]) -> None:
    existing = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    seen = set(existing)
    merged = existing + [line for line in new if not (line in seen or seen.add(line))]
    atomic_write_text(path, "\n".join(merged) + ("\n" if merged else ""))


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link a file into place (no bytes copied), copying when links cannot cross."""
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def link_tree(source: Path, target: Path) -> None:
    """Mirror ``source`` into ``target`` with hard links, keeping empty folders."""
    target.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return
    for folder, dirs, files in os.walk(source):
        rel = Path(folder).relative_to(source)
        for name in dirs:
            (target / rel / name).mkdir(parents=True, exist_ok=True)
        for name in files:
            link_or_copy(Path(folder, name), target / rel / name)
