"""Receive transfer: copy the transfer into the processing directory and unpack it safely.

The working copy is ``currentlyProcessing/<name>-<transfer uuid>/`` with Archivematica's
transfer layout: ``objects/`` (everything the archivist sent but ``metadata/``),
``metadata/`` and ``logs/``. A stale copy from an earlier attempt is replaced, never
reused half-made. The source is only read, never moved or changed.
"""

from __future__ import annotations

import os
import shutil
import stat
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from preservation.core.disk_space import disk_full_is_a_fault, require_space, tree_size
from preservation.core.errors import StorageUnavailable, TransferInvalid, UnsafeArchive
from preservation.core.names import byte_length, escape
from preservation.core.package import Package
from preservation.core.premis import now, stable_uuid
from preservation.storage.aip_index import AuditEntry
from preservation.storage.location import Location
from preservation.storage.locations import default_aip_location as default_location
from preservation.tools.safe_extract import (
    MAX_PATH_BYTES,
    ZIP,
    archive_kind,
    check_tree,
    extract,
    list_members,
    make_safe_tree,
    remove_tree,
)

NAME = "Receive transfer"


@dataclass(frozen=True)
class ReceiveResult:
    transfer_uuid: str
    aip_uuid: str
    transfer_dir: str
    files: int
    bytes: int


def run(package: Package, source: str, location: Location | None = None) -> ReceiveResult:
    """Copy ``source`` (a local .zip or folder, ``file://`` or ``http(s)://`` URL) into the
    processing directory and unpack it. Records no PREMIS event (``ingestion`` comes with
    the file UUIDs); the audit trail of the AIP ``location`` gets "ingest started"."""
    (location or default_location(package)).index.audit(
        AuditEntry(
            stable_uuid("ingest started", package.ref.aip_uuid),
            "ingest started",
            package.started_by,
            package.ref.aip_uuid,
            detail=f"transfer {package.ref.name} ({package.ref.transfer_uuid}), processing "
            f"configuration {package.config.name}",
        )
    )
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
            _require_space(package, local, staging.parent)
            with disk_full_is_a_fault(staging.parent, NAME):
                count, size = _unpack(package, local, content)
        _restructure(content, staging)
        staging.rename(target)
    except BaseException:
        remove_tree(staging)
        raise
    package.state.record_facts(
        source=source,
        name=package.ref.name,
        transfer_uuid=package.ref.transfer_uuid,
        aip_uuid=package.ref.aip_uuid,
        received=now(),
        processing_config=package.config.name,
    )
    return ReceiveResult(package.ref.transfer_uuid, package.ref.aip_uuid, str(target), count, size)


def _require_space(package: Package, local: Path, folder: Path) -> None:
    """Room to unpack: the sizes the zip's directory gives its files (or the folder's)."""
    if local.is_dir():
        needed, estimate = tree_size(local), f"the folder {local.name} copied"
    else:
        if archive_kind(local) != ZIP:
            return  # not a zip: _unpack says so
        try:
            members = list_members(local, ZIP, package.settings.tool_timeout)
        except UnsafeArchive:
            return  # unreadable: _unpack says what is wrong with it
        files = [m for m in members if not m.is_dir]
        needed = sum(e.size for e in files)
        estimate = f"{len(files)} files unpacked from {package.ref.name}.zip"
    require_space(folder, needed, NAME, estimate, package.settings.disk_reserve)


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
    """Copy or safely extract the source into ``content`` under safe names; keeps the
    received name of every path that had to change; returns (files, bytes)."""
    settings = package.settings
    if source.is_dir():
        _check_folder(source, settings.limits)
        shutil.copytree(source, content, symlinks=True, copy_function=_copy_regular_file)
        written = make_safe_tree(content)
        count, size = check_tree(content, source.name, settings.limits)
    else:
        kind = archive_kind(source)
        if kind != ZIP:
            what = f" (it is a {kind} archive named .zip; make a zip)" if kind else ""
            raise UnsafeArchive(
                f"Unable to read transfer package: File is not a zip file{what}. Upload the "
                f"transfer as a .zip archive: {source.name} is not one."
            )
        try:
            written = extract(source, kind, content, settings.limits, settings.tool_timeout)
        except UnsafeArchive as exc:
            unreadable = f"Unable to read {source.name}: "
            if not exc.message.startswith(unreadable):
                raise
            raise UnsafeArchive(
                f"Unable to read transfer package: {exc.message[len(unreadable) :]}. "
                f"{source.name} is damaged or incomplete; upload it again as a .zip archive.",
                exc.details,
            ) from exc
        files = [w for w in written if not w.is_dir]
        count, size = len(files), sum(w.size for w in files)
    renamed = {
        _in_working_copy(w.path): _in_working_copy(escape(w.received))
        for w in written
        if not w.is_dir and w.path != w.received
    }
    package.state.record_facts(received_names=renamed)
    return count, size


def _in_working_copy(path: str) -> str:
    """Where a path of the transfer lands: metadata/ stays, the rest goes into objects/."""
    return path if path.startswith("metadata/") else f"objects/{path}"


def _check_folder(source: Path, limits) -> None:
    """Refuse, by name and before anything is opened, what a folder must not hold: links,
    FIFOs, devices and sockets (a FIFO would hang the copy, a device never end it), and
    paths deeper or longer than the limits."""
    problems = []
    stack = [(source, 0)]
    while stack:  # no recursion: depth is checked, not spent
        folder, depth = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                path = Path(entry.path)
                shown = escape(str(path.relative_to(source)))
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    problems.append(
                        f"{shown}: symbolic link; links are not accepted, put the file itself "
                        "in the transfer"
                    )
                elif stat.S_ISDIR(mode):
                    if depth + 1 >= limits.max_depth:
                        problems.append(
                            f"{shown[:200]}…: more than {limits.max_depth} folders deep; "
                            "flatten the folders"
                        )
                    else:
                        stack.append((path, depth + 1))
                elif not stat.S_ISREG(mode):
                    kind = _special_kind(mode)
                    problems.append(f"{shown}: {kind}; only files and folders are accepted")
                elif byte_length(str(path.relative_to(source))) > MAX_PATH_BYTES:
                    problems.append(
                        f"{shown[:200]}…: a path longer than {MAX_PATH_BYTES} bytes; shorten "
                        "the folder names"
                    )
    if problems:
        raise UnsafeArchive(f"{source.name} cannot be received safely", sorted(problems))


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _copy_regular_file(source: str, target: str) -> None:
    """Copy one file, refusing anything that became special since it was checked."""
    if not stat.S_ISREG(os.lstat(source).st_mode):
        raise UnsafeArchive(f"{escape(source)} is not a regular file any more; not accepted")
    shutil.copy2(source, target)


def _restructure(content: Path, staging: Path) -> None:
    """Archivematica's layout: ``metadata/`` stays, everything else goes into ``objects/``."""
    objects = staging / "objects"
    metadata = content / "metadata"
    if metadata.is_dir():
        metadata.rename(staging / "metadata")
    content.rename(objects)
    (staging / "logs").mkdir()
