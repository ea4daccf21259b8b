"""A folder as the drop box: the embedded default, ``$PRESERVATION_HOME/transfers``
(``file:///folder``), with ``born-digital/`` and ``born-digital-accessions/`` inside.

The archivist copies a zip into the folder and the feedback log appears beside it, as on
S3. What differs from a bucket, and why:

* a copy takes time to arrive: an upload counts once it has not changed for
  ``settle_seconds`` (a name starting with ``.`` is never an upload, so a tool that
  writes ``.name.part`` and renames is seen only when complete);
* there is no ETag: an upload's is a fingerprint of the file (inode, size, change time in
  nanoseconds), which any new copy, move or rewrite changes;
* a feedback log is about the upload it was written after (file times have nanoseconds
  here, where S3 has seconds);
* there are no tags: the success log (about this very upload) is the record of its
  acceptance, and a hidden ``.<name>.keep`` beside an upload keeps it from the monitor.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from preservation.core.errors import ConfigurationInvalid, StorageUnavailable, TransferInvalid
from preservation.intake.preflight import PREFIXES
from preservation.intake.transfer_source import (
    FEEDBACK,
    Accepted,
    Listing,
    TransferSource,
    Upload,
    is_upload,
)

#: Seconds an upload must stay unchanged before it is checked (a copy still arriving).
SETTLE_SECONDS = 2.0


def fingerprint(status: os.stat_result) -> str:
    """A folder file's ETag: changed by any new copy, move or rewrite."""
    return f"{status.st_ino:x}-{status.st_size:x}-{status.st_ctime_ns:x}"


def _arrival_ns(status: os.stat_result) -> int:
    # A moved-in file keeps its old modification time; its change time is the move.
    return max(status.st_mtime_ns, status.st_ctime_ns)


class FolderTransferSource(TransferSource):
    """The drop box in a local (or shared) folder."""

    lookups = 1  # a stat is cheap: no threads

    def __init__(self, root: Path, settle_seconds: float = SETTLE_SECONDS):
        self.root = Path(root)
        self.url = self.root.as_uri()
        self.settle_seconds = settle_seconds

    def create(self) -> None:
        """Make the folder and its kind folders (the embedded default does at start)."""
        for prefix in PREFIXES:
            (self.root / prefix).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        relative = PurePosixPath(key)
        if relative.is_absolute() or ".." in relative.parts:
            raise ConfigurationInvalid(f"{key!r} is not a key inside {self.url}")
        return self.root.joinpath(*relative.parts)

    # -- listing --------------------------------------------------------------------------
    def listing(self, prefix: str = "") -> Listing:
        if not self.root.is_dir():
            raise ConfigurationInvalid(
                f"The drop box folder {self.root} does not exist: create it with "
                f"{' and '.join(PREFIXES)} inside, or point PRESERVATION_TRANSFER_SOURCE at "
                "the right folder."
            )
        start = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root

        def refuse(error: OSError):
            raise StorageUnavailable(f"Cannot list {error.filename}: {error.strerror}")

        uploads, logs = [], {}
        settled_before = time.time_ns() - int(self.settle_seconds * 1e9)
        for folder, subfolders, names in os.walk(start, onerror=refuse):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for name in names:
                key = (Path(folder) / name).relative_to(self.root).as_posix()
                if name.startswith(".") or not key.startswith(prefix):
                    continue
                match = FEEDBACK.match(key)
                if match:
                    logs.setdefault((match["key"], match["stamp"]), []).append(key)
                    continue
                if not is_upload(key):
                    continue
                try:
                    status = os.lstat(Path(folder) / name)
                except FileNotFoundError:
                    continue  # removed while we looked
                if not stat.S_ISREG(status.st_mode) or _arrival_ns(status) > settled_before:
                    continue  # a link, or still arriving
                arrived = datetime.fromtimestamp(_arrival_ns(status) / 1e9, UTC)
                uploads.append(Upload(self.url, key, fingerprint(status), arrived))
        return Listing(uploads, logs)

    def log_is_about(self, upload: Upload, log_key: str) -> bool:
        try:
            written = os.stat(self._path(log_key)).st_mtime_ns
        except FileNotFoundError:
            return False
        return written >= int(upload.last_modified.timestamp() * 1e9) - 1000

    # -- reading and writing -----------------------------------------------------------
    def _current(self, upload: Upload) -> None:
        try:
            status = os.lstat(self._path(upload.key))
        except FileNotFoundError:
            raise StorageUnavailable(f"Cannot read {upload.url}: it is not there") from None
        if fingerprint(status) != upload.etag:
            raise TransferInvalid(
                f"{upload.url} was replaced after it was checked (this run is for ETag "
                f"{upload.etag}); the new upload gets its own feedback log and run"
            )

    def fetch(self, upload: Upload, target: Path) -> None:
        self._current(upload)
        try:
            shutil.copyfile(self._path(upload.key), target)
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise StorageUnavailable(f"Cannot read {upload.url}: {exc}") from exc
        try:
            self._current(upload)  # not replaced while it was copied
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def write_text(self, key: str, text: str, upload: Upload | None = None) -> None:
        path = self._path(key)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, path)  # the archivist never sees half a log
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise StorageUnavailable(f"Cannot write {self.url}/{key}: {exc}") from exc

    def read_text(self, key: str) -> str:
        try:
            return self._path(key).read_text(encoding="utf-8")
        except OSError as exc:
            raise StorageUnavailable(f"Cannot read {self.url}/{key}: {exc}") from exc

    def tag(self, upload: Upload, tags: dict[str, str]) -> None:
        """A folder has no tags: the success log's Transfer ID line is the record."""

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                self._path(key).unlink(missing_ok=True)
                self._keep_mark(key).unlink(missing_ok=True)
            except OSError as exc:
                raise StorageUnavailable(f"Cannot delete {self.url}/{key}: {exc}") from exc

    def _keep_mark(self, key: str) -> Path:
        path = self._path(key)
        return path.with_name(f".{path.name}.keep")

    def keep(self, key: str) -> str:
        if not self._path(key).exists():
            return f"{self.url}/{key} is gone already"
        try:
            self._keep_mark(key).touch()
        except OSError as exc:
            raise StorageUnavailable(f"Cannot mark {self.url}/{key} kept: {exc}") from exc
        return f"kept {self.url}/{key} (marked {self._keep_mark(key).name})"

    def accepted(self, upload: Upload, listing: Listing) -> Accepted | None:
        logs = listing.logs.get((upload.key, upload.stamp), [])
        success = [k for k in logs if FEEDBACK.match(k)["verdict"].lower() == "success"]
        if not any(self.log_is_about(upload, k) for k in success):
            return None
        return Accepted(upload.transfer_id, self._keep_mark(upload.key).exists())

    def put(self, key: str, path: Path) -> Upload:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        shutil.copyfile(path, partial)
        os.replace(partial, target)
        status = os.lstat(target)
        arrived = datetime.fromtimestamp(_arrival_ns(status) / 1e9, UTC)
        return Upload(self.url, key, fingerprint(status), arrived)
