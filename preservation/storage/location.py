"""AIP storage locations: where AIPs live, in UUID quad directories, never overwritten.

A location stores a package (a bag folder, or a compressed file with its pointer file)
under ``<root>/<uuid quads>/`` (the UUID's 32 hex digits as 8 folders of 4), verifies it
by reading it back, and answers whether an AIP is stored. ``LocalLocation`` is the
embedded default; an S3 location implements the same ``Location`` protocol. Each keeps an
index of what it holds (``preservation.storage.aip_index``).
"""

from __future__ import annotations

import shutil
import uuid as uuidlib
from pathlib import Path, PurePosixPath
from typing import Protocol

from preservation.core.errors import StorageConflict, StorageUnavailable
from preservation.core.fsutil import link_or_copy, link_tree
from preservation.metadata.bag import FixityReport, verify_bag
from preservation.storage.aip_index import FileRecords, Index, Stored
from preservation.tools.process import file_digest
from preservation.tools.safe_extract import remove_tree


def quad_path(aip_uuid: str) -> PurePosixPath:
    """``a1b2c3d4-…`` -> ``a1b2/c3d4/…`` (8 folders of 4 hex digits)."""
    digits = uuidlib.UUID(aip_uuid).hex
    return PurePosixPath(*(digits[i : i + 4] for i in range(0, 32, 4)))


class Location(Protocol):
    """A storage location: what Store AIP, Store DIP, Clean up, the AIP catalog and the
    fixity audit need of one. Implementations: ``LocalLocation`` (a folder),
    ``S3Location`` (``preservation.storage.s3_storage``) and ``MemoryLocation``
    (``preservation.storage.memory``, for tests)."""

    description: str
    #: The storage space AIPs are written into (born-digital, …; "" for none).
    space: str
    #: What the location holds, by UUID, identifier and transfer, and its fixity history.
    index: Index

    def find(self, aip_uuid: str) -> str | None:
        """The stored package's path or URL, when a complete AIP with this UUID is there."""

    def store(
        self, source: Path, aip_uuid: str, extra: list[Path], *, working_copy: bool = False
    ) -> str:
        """Store ``source`` (and ``extra`` files such as the pointer) without overwriting.
        ``working_copy``: the source is the run's own copy, removed once stored, so a
        location on its file system may hard-link it rather than copy its bytes."""

    def verify(self, stored: str, sha256: str | None) -> FixityReport:
        """Read the stored package back and check it."""

    def pointer(self, aip_uuid: str) -> bytes | None:
        """The stored pointer file of a compressed AIP, if there is one."""

    def register(
        self, aip_uuid: str, stored: str, identifier: str, transfer_uuid: str, sha256: str | None
    ) -> Stored:
        """Record a stored, verified AIP in the location's index."""

    def url(self, record: Stored) -> str:
        """Where an indexed AIP is (a path or URL, as ``find`` gives it)."""

    def download(self, stored: str, target: Path) -> Path:
        """A local copy of a stored package or folder, made in the folder ``target``."""

    def delete(self, aip_uuid: str) -> list[str]:
        """Remove everything stored under the AIP's quad folder (package, pointer); what
        was removed (nothing, once it is gone). Its index records stay."""


class LocalLocation:
    """A folder on a local or mounted file system."""

    def __init__(self, root: Path, space: str = ""):
        self.root, self.space = root, space
        self.description = f"local folder {root}"
        # Beside the quad directories (4 hex digits each), so never taken for one.
        self.index = Index(FileRecords(root / "index"))

    def _folder(self, aip_uuid: str) -> Path:
        return self.root / quad_path(aip_uuid)

    def find(self, aip_uuid: str) -> str | None:
        folder = self._folder(aip_uuid)
        if not folder.is_dir():
            return None
        for entry in sorted(folder.iterdir()):
            if aip_uuid in entry.name and not entry.name.startswith((".", "pointer.")):
                return str(entry)
        return None

    def store(
        self, source: Path, aip_uuid: str, extra: list[Path], *, working_copy: bool = False
    ) -> str:
        folder = self._folder(aip_uuid)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            existing = self.find(aip_uuid)
            if existing is not None and Path(existing).name != source.name:
                raise StorageConflict(
                    f"{existing} is already stored under AIP UUID {aip_uuid}; stored AIPs "
                    "are never overwritten"
                )
            complete = (folder / source.name).exists()
            for item in [*extra, source]:  # the package last: its presence means complete
                target = folder / item.name
                if target.exists():
                    if _same(item, target):
                        continue
                    # Without its package, a pointer is what an interrupted attempt left:
                    # no AIP is stored yet, so it is replaced rather than a conflict.
                    if complete or target.is_dir():
                        raise StorageConflict(
                            f"{target} already exists with different content; stored AIPs "
                            "are never overwritten"
                        )
                partial = folder / f".{item.name}.partial"
                remove_tree(partial)
                if working_copy:
                    # No bytes copied where a link does (the same file system): the run's
                    # working copy is removed by Clean up, and what Store AIP reads back
                    # is then the stored AIP's only name.
                    _link(item, partial)
                elif item.is_dir():
                    shutil.copytree(item, partial)
                else:
                    shutil.copy2(item, partial)
                partial.rename(target)
        except OSError as exc:
            raise StorageUnavailable(f"Cannot write to {self.description}: {exc}") from exc
        return str(folder / source.name)

    def register(self, aip_uuid, stored, identifier, transfer_uuid, sha256) -> Stored:
        """Add the stored, verified AIP to the index (the next version of its identifier)."""
        key = Path(stored).relative_to(self.root).as_posix()
        return self.index.register(aip_uuid, self.space, key, identifier, transfer_uuid, sha256)

    def url(self, record: Stored) -> str:
        return str(self.root / record.key)

    def download(self, stored: str, target: Path) -> Path:
        source = Path(stored)
        if not source.exists():
            raise FileNotFoundError(f"{stored} is missing")
        copy = target / source.name
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copy2(source, copy)
        return copy

    def delete(self, aip_uuid: str) -> list[str]:
        folder = self._folder(aip_uuid)
        removed = sorted(str(p) for p in folder.iterdir()) if folder.is_dir() else []
        try:
            remove_tree(folder)
        except OSError as exc:
            raise StorageUnavailable(f"Cannot delete from {self.description}: {exc}") from exc
        return removed

    def pointer(self, aip_uuid: str) -> bytes | None:
        path = self._folder(aip_uuid) / f"pointer.{aip_uuid}.xml"
        return path.read_bytes() if path.is_file() else None

    def verify(self, stored: str, sha256: str | None) -> FixityReport:
        path = Path(stored)
        if not path.exists():
            report = FixityReport(False, f"{stored} is missing")
            report.failures["files"]["missing"].append(stored)
            return report
        if path.is_dir():
            return verify_bag(path)
        actual = file_digest(path)
        if actual != sha256:
            report = FixityReport(False, f"{path.name}: sha256 {actual}, expected {sha256}")
            report.failures["files"]["changed"].append(path.name)
            return report
        return FixityReport(True, f"{path.name}: sha256 {actual} matches")


def _link(source: Path, target: Path) -> None:
    if source.is_dir():
        link_tree(source, target)
    else:
        link_or_copy(source, target)


def _same(source: Path, target: Path) -> bool:
    """Whether an existing stored item holds what we were about to store."""
    if source.is_dir() != target.is_dir():
        return False
    if source.is_dir():
        manifest = "manifest-sha256.txt"
        return (
            (source / manifest).read_bytes() == (target / manifest).read_bytes()
            if (target / manifest).exists()
            else False
        )
    return file_digest(source) == file_digest(target)


__all__ = ["FixityReport", "LocalLocation", "Location", "quad_path", "verify_bag"]
