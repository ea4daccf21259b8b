"""Unpacking archives we did not make, safely, with every name kept.

Every archive is listed and checked *before* anything is written (:func:`check_members`):
no absolute paths, no ``..``, no links (symbolic or hard), no devices, no encrypted
members, no name given twice, no name that is both a file and a folder, no path deeper
than ``max_depth`` folders or longer than :data:`MAX_PATH_BYTES`, and at most
``max_members`` members and ``max_total_bytes`` bytes — counted across every level of a
transfer's nested archives, not per archive. Then it is extracted into a staging folder
next to the target, checked again on disk, and renamed into place, so a failed or retried
extraction never leaves a half-written target.

Each member lands under its *safe* name (:func:`preservation.core.names.safe_component`: no
control characters, no bytes that are not UTF-8, at most 255 bytes, two members never on
one name); :class:`Extracted` says which received name each path holds, so the exact
name becomes the file's PREMIS ``originalName``. Zips are read by
:mod:`preservation.tools.zip_reader` (names decoded as the zip specification says, Deflate64
included) and tars by ``tarfile``, member by member; 7z goes through 7-Zip, and the names
it wrote are made safe afterwards (:func:`make_safe_tree`).
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from preservation.core.errors import UnsafeArchive
from preservation.core.names import byte_length, safe_component, unique_name
from preservation.core.settings import Limits
from preservation.tools.process import require, run

ZIP, SEVEN_ZIP, TAR = "zip", "7z", "tar"
#: The longest path a member may have inside its archive, in bytes: Linux takes 4,096 for
#: a whole path, and the working copy's own folders need the rest.
MAX_PATH_BYTES = 3072


@dataclass(frozen=True)
class Member:
    """One entry of an archive, as its own index declares it."""

    name: str
    size: int
    is_dir: bool = False
    is_link: bool = False
    link_target: str = ""
    is_special: bool = False
    encrypted: bool = False
    is_hardlink: bool = False

    @property
    def path(self) -> str:
        """The member's path, without a trailing "/" (a "\\" written for "/" by a DOS or
        Windows tool was turned into "/" when the zip was read; any other is a character)."""
        return self.name.strip("/")


@dataclass(frozen=True)
class Extracted:
    """One file or folder written: its safe path under the target, and its received name."""

    path: str
    received: str
    size: int = 0
    is_dir: bool = False


def archive_kind(path: Path) -> str | None:
    """``zip``, ``7z`` or ``tar`` from the file's first bytes; None for anything else."""
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return SEVEN_ZIP
    if len(head) >= 262 and head[257:262] == b"ustar":
        return TAR
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        # A compressed stream: only a tar inside it is a package we unpack.
        try:
            with tarfile.open(path, "r:*") as tar:
                tar.next()
            return TAR
        except (tarfile.TarError, EOFError, OSError):
            return None
    return None


def is_damage(exc: BaseException) -> bool:
    """Whether an exception met while reading an archive means the archive is damaged (a
    verdict) rather than that the system failed (disk full, I/O error: retried)."""
    if isinstance(exc, zipfile.BadZipFile | tarfile.TarError | EOFError | zlib.error):
        return True
    if isinstance(exc, lzma.LZMAError | NotImplementedError | UnicodeError):
        return True
    # bz2 and zipfile say "Invalid data stream" / "Bad CRC" as OSErrors without an errno.
    return isinstance(exc, OSError) and exc.errno is None


def list_members(path: Path, kind: str, timeout: int) -> list[Member]:
    """The members of an archive, from its index, without extracting anything."""
    try:
        if kind == ZIP:
            return _list_zip(path)
        if kind == TAR:
            return _list_tar(path)
        return _list_7z(path, timeout)
    except Exception as exc:
        if not is_damage(exc):
            raise
        raise UnsafeArchive(f"Unable to read {path.name}: {exc}") from exc


def _list_zip(path: Path) -> list[Member]:
    from preservation.tools.zip_reader import ZipReader

    members = []
    with ZipReader(path) as reader:
        for entry in reader.entries:
            target = ""
            if entry.is_link and not entry.encrypted and entry.size < 4096:
                target = reader.read(entry, 4096).decode("utf-8", "replace")
            members.append(
                Member(
                    name=entry.name,
                    size=entry.size,
                    is_dir=entry.is_dir,
                    is_link=entry.is_link,
                    link_target=target,
                    encrypted=entry.encrypted,
                )
            )
    return members


def _list_tar(path: Path) -> list[Member]:
    with tarfile.open(path, "r:*") as archive:
        return [
            Member(
                name=m.name,
                size=m.size,
                is_dir=m.isdir(),
                is_link=m.issym(),
                is_hardlink=m.islnk(),
                link_target=m.linkname,
                is_special=not (m.isfile() or m.isdir() or m.issym() or m.islnk()),
            )
            for m in archive.getmembers()
        ]


def _list_7z(path: Path, timeout: int) -> list[Member]:
    seven = require("7z")
    result = run([seven, "l", "-slt", "-ba", "-p-", str(path)], timeout, ok_codes=(0, 2))
    if result.returncode != 0:
        raise UnsafeArchive(
            f"Unable to read {path.name}: 7-Zip cannot open it as an archive",
            [result.stdout.strip()[-300:]],
        )
    members = []
    for block in result.stdout.strip().split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        if "Path" not in fields:
            continue
        attributes = fields.get("Attributes", "")
        unix_mode = attributes.split()[-1] if attributes.split() else ""
        members.append(
            Member(
                name=fields["Path"],
                size=int(fields.get("Size") or 0),
                is_dir=fields.get("Folder") == "+" or attributes.startswith("D"),
                is_link=unix_mode.startswith("l"),
                encrypted=fields.get("Encrypted") == "+",
            )
        )
    return members


def check_members(
    members: list[Member], label: str, limits: Limits, used: tuple[int, int] = (0, 0)
) -> None:
    """Refuse an archive whose index asks for anything unsafe or ambiguous, naming every
    offender. ``used`` is (members, bytes) already unpacked from the same transfer: the
    limits hold for the whole expansion."""
    from preservation.core.names import escape

    problems = []
    total = 0
    seen: dict[str, Member] = {}
    clashes: set[str] = set()
    for m in members:
        name, shown = m.name, escape(m.name)
        parts = PurePosixPath(name).parts
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            problems.append(f"{shown}: absolute path; members must be relative to the archive")
        elif ".." in parts:
            problems.append(f"{shown}: path traversal ('..'); members must stay inside the archive")
        if m.is_link:
            where = f" pointing to {escape(m.link_target)}" if m.link_target else ""
            problems.append(
                f"{shown}: symbolic link{where}; links are not accepted, put the file itself "
                "in the archive"
            )
        if m.is_hardlink:
            problems.append(
                f"{shown}: hard link to {escape(m.link_target)}; links are not accepted, put "
                "the file itself in the archive"
            )
        if m.is_special:
            problems.append(f"{shown}: device or special file; only files and folders are accepted")
        if m.encrypted:
            problems.append(f"{shown}: encrypted; send the archive without a password")
        if len(parts) > limits.max_depth:
            problems.append(
                f"{shown[:200]}…: {len(parts)} folders deep, more than the limit of "
                f"{limits.max_depth}; flatten the folders"
            )
        elif byte_length(name) > MAX_PATH_BYTES:
            problems.append(
                f"{shown[:200]}…: a path of {byte_length(name)} bytes, more than the limit of "
                f"{MAX_PATH_BYTES}; shorten the folder names"
            )
        key = m.path
        if key in seen and not (m.is_dir and seen[key].is_dir):
            if m.is_dir != seen[key].is_dir:
                clashes.add(key)
            else:
                problems.append(
                    f"{shown}: in the archive twice; one of the two would be lost, keep one"
                )
        seen.setdefault(key, m)
        total += m.size
    folders = {str(parent) for key in seen for parent in PurePosixPath(key).parents}
    clashes |= {key for key, m in seen.items() if not m.is_dir and key in folders}
    problems += [
        f"{escape(key)}: both a file and a folder in the archive; rename one of them"
        for key in sorted(clashes)
    ]
    members_used, bytes_used = used
    across = " across the transfer's nested archives" if members_used or bytes_used else ""
    if len(members) + members_used > limits.max_members:
        problems.append(
            f"{len(members) + members_used} members{across}, more than the limit of "
            f"{limits.max_members}; split the transfer"
        )
    if total + bytes_used > limits.max_total_bytes:
        problems.append(
            f"{total + bytes_used} bytes when unpacked{across}, more than the limit of "
            f"{limits.max_total_bytes}; split the transfer"
        )
    if problems:
        raise UnsafeArchive(f"{label} cannot be unpacked safely", problems)


def plan_paths(names: Iterable[str]) -> dict[str, str]:
    """received path -> safe path, for every path and every folder above it: each part
    made safe, two received names never on one safe name (the later one gets ``_1``…)."""
    plan: dict[str, str] = {"": ""}
    taken: dict[str, set[str]] = {}
    for name in sorted({n.strip("/") for n in names}):
        received_parent = ""
        for part in PurePosixPath(name).parts:
            received = f"{received_parent}/{part}" if received_parent else part
            if received not in plan:
                parent = plan[received_parent]
                siblings = taken.setdefault(parent, set())
                safe = unique_name(safe_component(part), siblings)
                siblings.add(safe)
                plan[received] = f"{parent}/{safe}" if parent else safe
            received_parent = received
    del plan[""]
    return plan


def extract(
    path: Path,
    kind: str,
    target: Path,
    limits: Limits,
    timeout: int,
    used: tuple[int, int] = (0, 0),
) -> list[Extracted]:
    """Safely extract the archive ``path`` into the folder ``target`` (replaced if
    present); returns what was written, with each path's received name."""
    members = list_members(path, kind, timeout)
    check_members(members, path.name, limits, used)
    staging = target.with_name(f".{target.name}.partial")
    for leftover in (staging, target):
        remove_tree(leftover)
    staging.mkdir(parents=True)
    try:
        if kind == ZIP:
            written = _extract_zip(path, staging)
        elif kind == TAR:
            written = _extract_tar(path, staging)
        else:
            written = _extract_7z(path, staging, timeout)
    except Exception as exc:
        remove_tree(staging)
        if isinstance(exc, UnsafeArchive) or not is_damage(exc):
            raise
        raise UnsafeArchive(f"Unable to read {path.name}: {exc}") from exc
    check_tree(staging, path.name, limits, used[1])
    staging.rename(target)
    return written


def _extract_zip(path: Path, staging: Path) -> list[Extracted]:
    from preservation.tools.zip_reader import ZipReader

    written = []
    with ZipReader(path) as reader:
        plan = plan_paths(e.name for e in reader.entries)
        for entry in reader.entries:
            received = entry.name.strip("/")
            if not received:
                continue
            destination = staging / plan[received]
            if entry.is_dir:
                destination.mkdir(parents=True, exist_ok=True)
                written.append(Extracted(plan[received], received, 0, True))
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            size = reader.extract(entry, destination)
            written.append(Extracted(plan[received], received, size))
    return written


def _extract_tar(path: Path, staging: Path) -> list[Extracted]:
    written = []
    with tarfile.open(path, "r:*") as archive:
        members = archive.getmembers()
        plan = plan_paths(m.name for m in members)
        for member in members:
            received = member.name.strip("/")
            if not received:
                continue
            destination = staging / plan[received]
            if member.isdir():
                destination.mkdir(parents=True, exist_ok=True)
                written.append(Extracted(plan[received], received, 0, True))
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            with source, open(destination, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.utime(destination, (member.mtime, member.mtime))
            written.append(Extracted(plan[received], received, member.size))
    return written


def _extract_7z(path: Path, staging: Path, timeout: int) -> list[Extracted]:
    seven = require("7z")
    result = run(
        [seven, "x", "-y", "-bd", "-p-", f"-o{staging}", str(path)], timeout, ok_codes=(0, 1, 2)
    )
    if result.returncode != 0:
        raise UnsafeArchive(
            f"Unable to read {path.name}: 7-Zip could not unpack it",
            [line for line in result.stdout.splitlines() if "ERROR" in line][:10]
            or [result.stderr.strip()[-300:]],
        )
    return make_safe_tree(staging)


def make_safe_tree(root: Path) -> list[Extracted]:
    """Rename, in place, every name under ``root`` that is not safe (a folder copied as it
    was, or what 7-Zip wrote); returns every file and folder with its received name."""
    found: list[Extracted] = []
    stack = [(root, "", "")]  # (folder on disk, its safe path, its received path)
    while stack:  # no recursion: a tree thousands of folders deep is just a long loop
        folder, safe_parent, received_parent = stack.pop()
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        taken = {e.name for e in entries if safe_component(e.name) == e.name}
        for entry in entries:
            name = entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            size = 0 if is_dir else entry.stat(follow_symlinks=False).st_size
            if safe_component(name) != name:
                name = unique_name(safe_component(name), taken)
                taken.add(name)
                os.rename(Path(folder) / entry.name, Path(folder) / name)
            safe = f"{safe_parent}/{name}" if safe_parent else name
            received = f"{received_parent}/{entry.name}" if received_parent else entry.name
            found.append(Extracted(safe, received, size, is_dir))
            if is_dir:
                stack.append((Path(folder) / name, safe, received))
    return found


def check_tree(root: Path, label: str, limits: Limits, bytes_used: int = 0) -> tuple[int, int]:
    """After unpacking: no links on disk, sizes within limits, everything readable by us.

    Returns (file count, byte count).
    """
    problems, count, total = [], 0, 0
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in dirs + files:
            full = Path(folder, name)
            info = full.lstat()
            shown = full.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                problems.append(f"{shown}: symbolic link; links are not accepted")
            elif stat.S_ISREG(info.st_mode):
                count += 1
                total += info.st_size
                os.chmod(full, 0o644)
            elif not stat.S_ISDIR(info.st_mode):
                problems.append(f"{shown}: special file; not accepted")
    if total + bytes_used > limits.max_total_bytes:
        problems.append(
            f"{total + bytes_used} bytes unpacked, more than the limit of {limits.max_total_bytes}"
        )
    if problems:
        remove_tree(root)
        raise UnsafeArchive(f"{label} cannot be unpacked safely", problems)
    return count, total


def remove_tree(path: Path) -> None:
    """Remove a file or folder if it is there (a link is removed, never followed)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
