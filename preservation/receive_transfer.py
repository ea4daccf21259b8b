"""Receive transfer: copy the transfer into the processing directory and unpack it safely.

The working copy is ``currentlyProcessing/<name>-<transfer uuid>/`` with Archivematica's
transfer layout: ``objects/`` (everything the archivist sent but ``metadata/``),
``metadata/`` and ``logs/``. A stale copy from an earlier attempt is replaced, never
reused half-made. The source is only read, never moved or changed.
"""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from preservation.errors import StorageUnavailable, TransferInvalid, UnsafeArchive
from preservation.package import Package
from preservation.premis import now
from preservation.safe_extract import archive_kind, check_tree, extract, remove_tree

NAME = "Receive transfer"


@dataclass(frozen=True)
class ReceiveResult:
    transfer_uuid: str
    aip_uuid: str
    transfer_dir: str
    files: int
    bytes: int


def run(package: Package, source: str) -> ReceiveResult:
    """Copy ``source`` (a local .zip or folder, ``file://`` or ``http(s)://`` URL) into the
    processing directory and unpack it. Records no PREMIS event (``ingestion`` comes with
    the file UUIDs)."""
    target = package.transfer_dir
    staging = target.with_name(f".{target.name}.receiving")
    for stale in (staging, target, package.state_path):
        remove_tree(stale)
    for suffix in ("-wal", "-shm"):
        remove_tree(package.state_path.with_name(package.state_path.name + suffix))
    package.close()
    staging.mkdir(parents=True)
    try:
        with _local_source(source, staging) as local:
            content = staging / "content"
            count, size = _unpack(package, local, content)
        _restructure(content, staging)
        staging.rename(target)
    except BaseException:
        remove_tree(staging)
        raise
    package.state.set_meta(
        source=source,
        name=package.ref.name,
        transfer_uuid=package.ref.transfer_uuid,
        aip_uuid=package.ref.aip_uuid,
        received=now(),
        processing_config=package.config.name,
    )
    return ReceiveResult(package.ref.transfer_uuid, package.ref.aip_uuid, str(target), count, size)


@contextmanager
def _local_source(source: str, staging: Path) -> Iterator[Path]:
    """The source as a local path; a URL is downloaded into the staging folder first."""
    parsed = urlparse(source)
    if parsed.scheme not in ("http", "https"):
        path = Path(parsed.path if parsed.scheme == "file" else source)
        if not path.exists():
            raise TransferInvalid(
                f"Transfer not found: {source}. Give the path of a .zip or a folder."
            )
        yield path
        return
    download = staging / "download"
    try:
        with urllib.request.urlopen(source, timeout=300) as response, open(download, "wb") as out:
            shutil.copyfileobj(response, out, 1024 * 1024)
    except OSError as exc:
        raise StorageUnavailable(f"Unable to download {source}: {exc}") from exc
    try:
        yield download
    finally:
        remove_tree(download)


def _unpack(package: Package, source: Path, content: Path) -> tuple[int, int]:
    """Copy or safely extract the source into ``content``; returns (files, bytes)."""
    settings = package.settings
    if source.is_dir():
        links = [p for p in source.rglob("*") if p.is_symlink()]
        if links:
            raise UnsafeArchive(
                f"{source.name} cannot be received safely",
                [
                    f"{p.relative_to(source)}: symbolic link; links are not accepted, put the file "
                    "itself in the transfer"
                    for p in links
                ],
            )
        shutil.copytree(source, content, symlinks=True)
        return check_tree(content, source.name, settings.limits)
    kind = archive_kind(source)
    if kind is None:
        raise UnsafeArchive(
            f"Unable to read transfer package: {source.name} is not a zip file "
            "(File is not a zip file). Upload the transfer as a .zip archive."
        )
    try:
        # extract() checked the unpacked tree already: count from its members.
        members = extract(source, kind, content, settings.limits, settings.tool_timeout)
        files = [m for m in members if not m.is_dir]
        return len(files), sum(m.size for m in files)
    except UnsafeArchive as exc:
        unreadable = f"Unable to read {source.name}: "
        if not exc.message.startswith(unreadable):
            raise
        raise UnsafeArchive(
            f"Unable to read transfer package: {exc.message[len(unreadable) :]}. "
            f"{source.name} is damaged or incomplete; upload it again as a .zip archive.",
            exc.details,
        ) from exc


def _restructure(content: Path, staging: Path) -> None:
    """Archivematica's layout: ``metadata/`` stays, everything else goes into ``objects/``."""
    objects = staging / "objects"
    metadata = content / "metadata"
    if metadata.is_dir():
        metadata.rename(staging / "metadata")
    content.rename(objects)
    (staging / "logs").mkdir()
