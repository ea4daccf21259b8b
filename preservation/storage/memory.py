"""A storage location held in memory: the ``Location`` protocol without a disk or a
network, for unit tests that are about what is stored rather than where.

It keeps what ``LocalLocation`` and ``S3Location`` promise: UUID quad paths, nothing ever
overwritten (the same content again is no change, other content a ``StorageConflict``),
a package is complete once its last item is in, the stored copy read back for
verification, and an index of what it holds. A test damages a stored AIP by changing
``objects``, as a failing disk would change a file.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path, PurePosixPath

from preservation.core.errors import StorageConflict
from preservation.metadata.bag import FixityReport, verify_bag
from preservation.storage.aip_index import Index, MemoryRecords, Stored
from preservation.storage.location import quad_path


class MemoryLocation:
    """Stored files as bytes under their keys (``<uuid quads>/<name>[/<path in a bag>]``)."""

    def __init__(self, space: str = ""):
        self.space = space
        self.description = "in-memory location"
        self.objects: dict[str, bytes] = {}
        self.index = Index(MemoryRecords())

    def find(self, aip_uuid: str) -> str | None:
        folder = f"{quad_path(aip_uuid)}/"
        names = {k[len(folder) :].split("/")[0] for k in self.objects if k.startswith(folder)}
        for name in sorted(names):
            if aip_uuid in name and not name.startswith((".", "pointer.")):
                return folder + name
        return None

    def store(
        self, source: Path, aip_uuid: str, extra: list[Path], *, working_copy: bool = False
    ) -> str:
        existing = self.find(aip_uuid)
        if existing is not None and PurePosixPath(existing).name != source.name:
            raise StorageConflict(
                f"{existing} is already stored under AIP UUID {aip_uuid}; stored AIPs "
                "are never overwritten"
            )
        folder = quad_path(aip_uuid)
        complete = existing is not None
        for item in [*extra, source]:  # the package last: its presence means complete
            key = str(folder / item.name)
            new = _read(item, key)
            old = self._under(key)
            if old and old != new and (complete or item.is_dir()):
                raise StorageConflict(
                    f"{key} already exists with different content; stored AIPs are never "
                    "overwritten"
                )
            for stale in old:
                del self.objects[stale]
            self.objects.update(new)
        return str(folder / source.name)

    def verify(self, stored: str, sha256: str | None) -> FixityReport:
        objects = self._under(stored)
        if not objects:
            report = FixityReport(False, f"{stored} is missing")
            report.failures["files"]["missing"].append(stored)
            return report
        name = PurePosixPath(stored).name
        if stored not in objects:  # a bag folder
            with tempfile.TemporaryDirectory(prefix="memory-verify-") as work:
                return verify_bag(self.download(stored, Path(work)))
        actual = hashlib.sha256(objects[stored]).hexdigest()
        if actual != sha256:
            report = FixityReport(False, f"{name}: sha256 {actual}, expected {sha256}")
            report.failures["files"]["changed"].append(name)
            return report
        return FixityReport(True, f"{name}: sha256 {actual} matches")

    def pointer(self, aip_uuid: str) -> bytes | None:
        return self.objects.get(f"{quad_path(aip_uuid)}/pointer.{aip_uuid}.xml")

    def register(self, aip_uuid, stored, identifier, transfer_uuid, sha256) -> Stored:
        """Add the stored, verified AIP to the index (the next version of its identifier)."""
        return self.index.register(aip_uuid, self.space, stored, identifier, transfer_uuid, sha256)

    def url(self, record: Stored) -> str:
        return record.key

    def download(self, stored: str, target: Path) -> Path:
        objects = self._under(stored)
        if not objects:
            raise FileNotFoundError(f"{stored} is missing")
        copy = target / PurePosixPath(stored).name
        for key, body in objects.items():
            path = copy / key[len(stored) + 1 :] if key != stored else copy
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        return copy

    def delete(self, aip_uuid: str) -> list[str]:
        folder = f"{quad_path(aip_uuid)}/"
        removed = sorted(k for k in self.objects if k.startswith(folder))
        for key in removed:
            del self.objects[key]
        return removed

    def _under(self, key: str) -> dict[str, bytes]:
        """The object ``key`` itself, or every object of the folder ``key``."""
        return {k: v for k, v in self.objects.items() if k == key or k.startswith(f"{key}/")}


def _read(item: Path, key: str) -> dict[str, bytes]:
    if item.is_dir():
        return {
            f"{key}/{path.relative_to(item).as_posix()}": path.read_bytes()
            for path in sorted(item.rglob("*"))
            if path.is_file()
        }
    return {key: item.read_bytes()}
