"""Chunks of files, so the per-file stages of a large transfer spread over workers.

The number of chunks is fixed once per package, from the number of originals, and kept
in the package's state: every mapped task, and every retry of one, sees the same split.
A file belongs to a chunk by its UUID (uniform, stable), so a chunk's files never depend
on the order files were registered in; a derivative is handled with its source's chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from preservation.core.package import Package
from preservation.core.state import FileRecord

#: Airflow maps at most 1024 task instances; stay well under it.
MAX_CHUNKS = 64


@dataclass(frozen=True)
class Chunk:
    """Chunk ``index`` of ``count`` (a count of 1: the whole package)."""

    index: int
    count: int

    def holds(self, uuid: str) -> bool:
        return self.count <= 1 or int(uuid.replace("-", "")[:8], 16) % self.count == self.index


def plan(package: Package) -> int:
    """How many chunks this package's per-file stages use (decided once, then kept)."""
    known = package.state.facts().chunks
    if known:
        return known
    originals = len(package.state.files(group="original"))
    count = max(1, min(MAX_CHUNKS, -(-originals // package.settings.chunk_files)))
    package.state.record_facts(chunks=count)
    return count


def of(package: Package, index: int | None) -> Chunk:
    """Chunk ``index`` of this package (None: the whole package, as the CLI runs it)."""
    return Chunk(0, 1) if index is None else Chunk(index, plan(package))


def select(records: Sequence[FileRecord], chunk: Chunk) -> list[FileRecord]:
    """The records of ``chunk``."""
    return [r for r in records if chunk.holds(r.uuid)]


def originals(package: Package, index: int | None) -> list[FileRecord]:
    """The original files of chunk ``index`` (all of them when ``index`` is None)."""
    return package.state.files(group="original", uuids=_members(of(package, index)))


def count(package: Package, index: int | None) -> int:
    """How many original files chunk ``index`` holds (none of their records read)."""
    return package.state.count_files("original", _members(of(package, index)))


def _members(chunk: Chunk):
    """The test of a file's UUID for the state's query (None: every file, no test)."""
    return chunk.holds if chunk.count > 1 else None
