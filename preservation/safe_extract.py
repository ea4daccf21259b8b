"""Unpacking archives we did not make, safely.

Every archive is listed and checked *before* anything is written: no absolute paths, no
``..`` components, no links, no device files, at most ``max_members`` members and
``max_total_bytes`` bytes. Then it is extracted into a staging folder next to the target,
checked again on disk, and renamed into place, so a failed or retried extraction never
leaves a half-written target (and a stale one from an earlier attempt is replaced).

Zip and 7z go through 7-Zip, which also reads Deflate64 (compression type 9) that Python's
``zipfile`` cannot; tar (plain, gz, bz2, xz) goes through ``tarfile`` with its ``data``
filter.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from preservation.errors import UnsafeArchive
from preservation.settings import Limits
from preservation.tools import require, run

ZIP, SEVEN_ZIP, TAR = "zip", "7z", "tar"


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


def list_members(path: Path, kind: str, timeout: int) -> list[Member]:
    """The members of an archive, from its index, without extracting anything."""
    try:
        if kind == ZIP:
            return _list_zip(path)
        if kind == TAR:
            return _list_tar(path)
        return _list_7z(path, timeout)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise UnsafeArchive(f"Unable to read {path.name}: {exc}") from exc


def _list_zip(path: Path) -> list[Member]:
    members = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            link = stat.S_ISLNK(mode)
            target = ""
            if link and info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                target = archive.read(info).decode("utf-8", "replace")
            members.append(
                Member(
                    name=info.filename,
                    size=info.file_size,
                    is_dir=info.is_dir(),
                    is_link=link,
                    link_target=target,
                    encrypted=bool(info.flag_bits & 0x1),
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
                is_link=m.issym() or m.islnk(),
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


def check_members(members: list[Member], label: str, limits: Limits) -> None:
    """Refuse an archive whose index asks for anything unsafe, naming every offender."""
    problems = []
    total = 0
    for m in members:
        name = m.name.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            problems.append(f"{m.name}: absolute path; members must be relative to the archive")
        elif ".." in parts:
            problems.append(
                f"{m.name}: path traversal ('..'); members must stay inside the archive"
            )
        if m.is_link:
            where = f" pointing to {m.link_target}" if m.link_target else ""
            problems.append(
                f"{m.name}: symbolic link{where}; links are not accepted, put the file itself "
                "in the archive"
            )
        if m.is_special:
            problems.append(
                f"{m.name}: device or special file; only files and folders are accepted"
            )
        if m.encrypted:
            problems.append(f"{m.name}: encrypted; send the archive without a password")
        total += m.size
    if len(members) > limits.max_members:
        problems.append(
            f"{len(members)} members, more than the limit of {limits.max_members}; "
            "split the transfer"
        )
    if total > limits.max_total_bytes:
        problems.append(
            f"{total} bytes when unpacked, more than the limit of {limits.max_total_bytes}; "
            "split the transfer"
        )
    if problems:
        raise UnsafeArchive(f"{label} cannot be unpacked safely", problems)


def extract(path: Path, kind: str, target: Path, limits: Limits, timeout: int) -> list[Member]:
    """Safely extract the archive ``path`` into the folder ``target`` (replaced if present)."""
    members = list_members(path, kind, timeout)
    check_members(members, path.name, limits)
    staging = target.with_name(f".{target.name}.partial")
    for leftover in (staging, target):
        remove_tree(leftover)
    staging.mkdir(parents=True)
    if kind == TAR:
        with tarfile.open(path, "r:*") as archive:
            archive.extractall(staging, filter="data")
    else:
        seven = require("7z")
        result = run(
            [seven, "x", "-y", "-bd", "-p-", f"-o{staging}", str(path)], timeout, ok_codes=(0, 1, 2)
        )
        if result.returncode != 0:
            remove_tree(staging)
            raise UnsafeArchive(
                f"Unable to extract {path.name}: 7-Zip reported an error",
                [line for line in result.stdout.splitlines() if "ERROR" in line][:10]
                or [result.stderr.strip()[-300:]],
            )
    check_tree(staging, path.name, limits)
    staging.rename(target)
    return members


def check_tree(root: Path, label: str, limits: Limits) -> tuple[int, int]:
    """After unpacking: no links on disk, sizes within limits, everything readable by us.

    Returns (file count, byte count).
    """
    problems, count, total = [], 0, 0
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in dirs + files:
            full = Path(folder, name)
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                problems.append(f"{full.relative_to(root)}: symbolic link; links are not accepted")
            elif stat.S_ISREG(info.st_mode):
                count += 1
                total += info.st_size
                os.chmod(full, 0o644)
            elif not stat.S_ISDIR(info.st_mode):
                problems.append(f"{full.relative_to(root)}: special file; not accepted")
    if total > limits.max_total_bytes:
        problems.append(f"{total} bytes unpacked, more than the limit of {limits.max_total_bytes}")
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
