"""Unpacking archives we did not make: tar (plain, gz, bz2, xz), 7z and zip, with real files
and the real 7-Zip. Unsafe members are refused before anything is written."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from preservation.core.errors import PackageRejected, UnsafeArchive
from preservation.core.settings import Limits
from preservation.tools.safe_extract import (
    SEVEN_ZIP,
    TAR,
    ZIP,
    archive_kind,
    check_tree,
    extract,
    list_members,
)

LIMITS = Limits()
TIMEOUT = 60
TAR_MODES = {"tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}


def make_tar(path: Path, mode: str, entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    """A tar whose members are exactly as given (names are not sanitised)."""
    with tarfile.open(path, mode) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def tar_link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def seven_zip(archive: Path, cwd: Path, *members: str, options: tuple[str, ...] = ()) -> Path:
    subprocess.run(
        ["7z", "a", "-bd", *options, str(archive), *members],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    return archive


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def nothing_escaped(tmp_path: Path, name: str) -> None:
    """No file called ``name`` was written anywhere near the extraction."""
    for folder in (tmp_path, tmp_path.parent, tmp_path.parent.parent):
        assert not (folder / name).exists()
    assert not list(tmp_path.rglob(name))


# archive_kind


@pytest.mark.parametrize("mode, suffix", [("w", "tar"), *((m, s) for s, m in TAR_MODES.items())])
def test_tars_plain_and_compressed_are_recognised_as_tar(tmp_path, mode, suffix):
    archive = make_tar(tmp_path / f"a.{suffix}", mode, [("a.txt", b"alpha")])
    assert archive_kind(archive) == TAR


def test_a_zip_and_a_7z_are_recognised_by_their_first_bytes_not_their_names(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"alpha")
    with zipfile.ZipFile(tmp_path / "really-a-zip.bin", "w") as zf:
        zf.write(tmp_path / "a.txt", "a.txt")
    seven = seven_zip(tmp_path / "really-a-7z.zip", tmp_path, "a.txt", options=("-t7z",))
    assert archive_kind(tmp_path / "really-a-zip.bin") == ZIP
    assert archive_kind(seven) == SEVEN_ZIP


def test_an_empty_zip_is_recognised_as_a_zip(tmp_path):
    with zipfile.ZipFile(tmp_path / "empty.zip", "w"):
        pass
    assert archive_kind(tmp_path / "empty.zip") == ZIP


def test_a_plain_gzip_that_is_not_a_tar_is_not_an_archive(tmp_path):
    plain = tmp_path / "notes.txt.gz"
    plain.write_bytes(gzip.compress(b"just some notes, not a tar\n" * 50))
    assert archive_kind(plain) is None


def test_a_plain_bzip2_or_xz_stream_that_is_not_a_tar_is_not_an_archive(tmp_path):
    import bz2
    import lzma

    (tmp_path / "a.bz2").write_bytes(bz2.compress(b"plain text\n" * 50))
    (tmp_path / "a.xz").write_bytes(lzma.compress(b"plain text\n" * 50))
    assert archive_kind(tmp_path / "a.bz2") is None
    assert archive_kind(tmp_path / "a.xz") is None


def test_text_and_empty_files_are_not_archives(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "empty.zip").write_bytes(b"")
    assert archive_kind(tmp_path / "a.txt") is None
    assert archive_kind(tmp_path / "empty.zip") is None


# tar


@pytest.mark.parametrize("suffix", list(TAR_MODES))
def test_a_safe_compressed_tar_is_extracted_with_its_bytes(tmp_path, suffix):
    archive = make_tar(
        tmp_path / f"a.{suffix}",
        TAR_MODES[suffix],
        [("a.txt", b"alpha"), ("sub/b.txt", b"beta" * 1000)],
    )
    target = tmp_path / "out"
    members = extract(archive, TAR, target, LIMITS, TIMEOUT)
    assert {m.path for m in members} == {"a.txt", "sub/b.txt"}
    assert tree(target) == {"a.txt": b"alpha", "sub": None, "sub/b.txt": b"beta" * 1000}
    assert not (tmp_path / ".out.partial").exists()


@pytest.mark.parametrize("suffix", list(TAR_MODES))
def test_a_tar_with_a_parent_directory_member_is_refused_naming_the_member(tmp_path, suffix):
    archive = make_tar(
        tmp_path / f"a.{suffix}",
        TAR_MODES[suffix],
        [("ok.txt", b"fine"), ("../../evil.txt", b"pwned")],
    )
    target = tmp_path / "out"
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, TAR, target, LIMITS, TIMEOUT)
    assert isinstance(caught.value, PackageRejected)
    assert caught.value.message == f"a.{suffix} cannot be unpacked safely"
    assert caught.value.details == [
        "../../evil.txt: path traversal ('..'); members must stay inside the archive"
    ]
    assert not target.exists()
    assert not (tmp_path / ".out.partial").exists()
    nothing_escaped(tmp_path, "evil.txt")


@pytest.mark.parametrize("suffix", list(TAR_MODES))
def test_a_tar_with_a_symbolic_link_member_is_refused_naming_link_and_target(tmp_path, suffix):
    archive = make_tar(
        tmp_path / f"a.{suffix}",
        TAR_MODES[suffix],
        [("ok.txt", b"fine"), tar_link("passwd", "/etc/passwd")],
    )
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, TAR, tmp_path / "out", LIMITS, TIMEOUT)
    [detail] = caught.value.details
    assert detail.startswith("passwd: symbolic link pointing to /etc/passwd")
    assert "put the file itself in the archive" in detail
    assert not (tmp_path / "out").exists()


def test_a_tar_with_an_absolute_member_is_refused(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", "w:gz", [("/abs.txt", b"pwned")])
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, TAR, tmp_path / "out", LIMITS, TIMEOUT)
    assert caught.value.details == [
        "/abs.txt: absolute path; members must be relative to the archive"
    ]
    assert not (tmp_path / "out").exists()


def test_a_tar_with_a_hard_link_or_a_device_is_refused(tmp_path):
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    device = tarfile.TarInfo("disk")
    device.type = tarfile.BLKTYPE
    archive = make_tar(
        tmp_path / "a.tar",
        "w",
        [("a.txt", b"x"), tar_link("hard", "a.txt", tarfile.LNKTYPE), fifo, device],
    )
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, TAR, tmp_path / "out", LIMITS, TIMEOUT)
    details = caught.value.details
    assert any(d.startswith("hard: hard link to a.txt") for d in details)
    assert "pipe: device or special file; only files and folders are accepted" in details
    assert "disk: device or special file; only files and folders are accepted" in details
    assert not (tmp_path / "out").exists()


def test_every_unsafe_member_is_named_in_one_refusal(tmp_path):
    archive = make_tar(
        tmp_path / "a.tar.xz",
        "w:xz",
        [("../up.txt", b"x"), ("/abs.txt", b"x"), tar_link("link", "../../etc")],
    )
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, TAR, tmp_path / "out", LIMITS, TIMEOUT)
    text = str(caught.value)
    assert len(caught.value.details) == 3
    for name in ("../up.txt", "/abs.txt", "link: symbolic link pointing to ../../etc"):
        assert name in text


def test_an_archive_with_more_members_than_the_limit_is_refused_before_writing(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", "w:gz", [(f"f{i}.txt", b"x") for i in range(5)])
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, TAR, tmp_path / "out", Limits(max_members=4), TIMEOUT)
    assert caught.value.details == ["5 members, more than the limit of 4; split the transfer"]
    assert not (tmp_path / "out").exists()
    extract(archive, TAR, tmp_path / "out", Limits(max_members=5), TIMEOUT)
    assert len(list((tmp_path / "out").iterdir())) == 5


def test_an_archive_bigger_than_the_byte_limit_is_refused_before_writing(tmp_path):
    archive = make_tar(tmp_path / "a.tar.bz2", "w:bz2", [("big.bin", b"\0" * 1000)])
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, TAR, tmp_path / "out", Limits(max_total_bytes=999), TIMEOUT)
    assert caught.value.details == [
        "1000 bytes when unpacked, more than the limit of 999; split the transfer"
    ]
    assert not (tmp_path / "out").exists()


def test_a_corrupt_tar_is_reported_as_unreadable(tmp_path):
    good = make_tar(tmp_path / "a.tar.gz", "w:gz", [("a.txt", os.urandom(4000))])
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(good.read_bytes()[:200])
    with pytest.raises(UnsafeArchive) as caught:
        list_members(broken, TAR, TIMEOUT)
    assert caught.value.message.startswith("Unable to read broken.tar.gz:")


def test_extraction_replaces_a_stale_target_and_a_stale_partial_from_an_earlier_attempt(
    tmp_path,
):
    archive = make_tar(tmp_path / "a.tar.gz", "w:gz", [("a.txt", b"new")])
    target = tmp_path / "out"
    target.mkdir()
    (target / "junk.txt").write_text("from an earlier attempt")
    (tmp_path / ".out.partial").write_text("a file where a folder should be")
    extract(archive, TAR, target, LIMITS, TIMEOUT)
    assert tree(target) == {"a.txt": b"new"}
    assert not (tmp_path / ".out.partial").exists()


def test_extraction_replaces_a_stale_file_where_the_target_folder_should_be(tmp_path):
    archive = make_tar(tmp_path / "a.tar", "w", [("a.txt", b"new")])
    target = tmp_path / "out"
    target.write_text("stale file")
    extract(archive, TAR, target, LIMITS, TIMEOUT)
    assert tree(target) == {"a.txt": b"new"}


# 7z


def test_a_safe_7z_is_extracted_with_its_bytes(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.txt").write_bytes(b"beta" * 500)
    archive = seven_zip(tmp_path / "a.7z", src, "a.txt", "sub")
    assert archive_kind(archive) == SEVEN_ZIP
    members = extract(archive, SEVEN_ZIP, tmp_path / "out", LIMITS, TIMEOUT)
    assert {m.path for m in members} == {"a.txt", "sub", "sub/b.txt"}
    assert {m.path for m in members if m.is_dir} == {"sub"}
    assert tree(tmp_path / "out") == {"a.txt": b"alpha", "sub": None, "sub/b.txt": b"beta" * 500}


def test_a_7z_with_a_parent_directory_member_is_refused_naming_the_member(tmp_path):
    (tmp_path / "evil.txt").write_bytes(b"pwned")
    inner = tmp_path / "deep" / "inner"
    inner.mkdir(parents=True)
    (inner / "ok.txt").write_bytes(b"fine")
    # -spf keeps the paths as given, so "../../evil.txt" is stored as is.
    archive = seven_zip(tmp_path / "a.7z", inner, "ok.txt", "../../evil.txt", options=("-spf",))
    (tmp_path / "evil.txt").unlink()
    assert "../../evil.txt" in {m.name for m in list_members(archive, SEVEN_ZIP, TIMEOUT)}
    target = inner / "out"
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, SEVEN_ZIP, target, LIMITS, TIMEOUT)
    assert caught.value.details == [
        "../../evil.txt: path traversal ('..'); members must stay inside the archive"
    ]
    assert not target.exists()
    nothing_escaped(tmp_path, "evil.txt")


def test_a_7z_with_an_absolute_member_is_refused(tmp_path):
    (tmp_path / "abs.txt").write_bytes(b"pwned")
    archive = seven_zip(tmp_path / "a.7z", tmp_path, str(tmp_path / "abs.txt"), options=("-spf",))
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, SEVEN_ZIP, tmp_path / "out", LIMITS, TIMEOUT)
    assert caught.value.details == [
        f"{tmp_path / 'abs.txt'}: absolute path; members must be relative to the archive"
    ]
    assert not (tmp_path / "out").exists()


def test_a_7z_with_a_symbolic_link_member_is_refused(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"alpha")
    (src / "link").symlink_to("/etc/passwd")
    archive = seven_zip(tmp_path / "a.7z", src, "a.txt", "link", options=("-snl",))
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, SEVEN_ZIP, tmp_path / "out", LIMITS, TIMEOUT)
    [detail] = caught.value.details
    assert detail.startswith("link: symbolic link;")
    assert not (tmp_path / "out").exists()


def test_a_password_protected_7z_is_refused_asking_for_it_without_a_password(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"secret")
    archive = seven_zip(tmp_path / "a.7z", tmp_path, "a.txt", options=("-psecret",))
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, SEVEN_ZIP, tmp_path / "out", LIMITS, TIMEOUT)
    assert caught.value.details == ["a.txt: encrypted; send the archive without a password"]


def test_a_truncated_7z_is_reported_as_unreadable(tmp_path):
    (tmp_path / "a.bin").write_bytes(os.urandom(5000))
    good = seven_zip(tmp_path / "a.7z", tmp_path, "a.bin")
    broken = tmp_path / "broken.7z"
    broken.write_bytes(good.read_bytes()[:100])
    with pytest.raises(UnsafeArchive) as caught:
        extract(broken, SEVEN_ZIP, tmp_path / "out", LIMITS, TIMEOUT)
    assert caught.value.message.startswith("Unable to read broken.7z")
    assert not (tmp_path / "out").exists()


# zip


def test_a_zip_symbolic_link_member_is_refused_naming_its_target(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", "alpha")
        link = zipfile.ZipInfo("shadow")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/shadow")
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, ZIP, tmp_path / "out", LIMITS, TIMEOUT)
    [detail] = caught.value.details
    assert detail.startswith("shadow: symbolic link pointing to /etc/shadow")
    assert not (tmp_path / "out").exists()


def test_a_password_protected_zip_is_refused(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"secret")
    archive = seven_zip(tmp_path / "a.zip", tmp_path, "a.txt", options=("-tzip", "-psecret"))
    with pytest.raises(UnsafeArchive) as caught:
        extract(archive, ZIP, tmp_path / "out", LIMITS, TIMEOUT)
    assert caught.value.details == ["a.txt: encrypted; send the archive without a password"]


# after unpacking


def test_a_tree_found_holding_a_link_after_unpacking_is_removed_and_refused(tmp_path):
    root = tmp_path / "unpacked"
    root.mkdir()
    (root / "a.txt").write_text("alpha")
    (root / "escape").symlink_to(tmp_path)
    with pytest.raises(UnsafeArchive) as caught:
        check_tree(root, "x.zip", LIMITS)
    assert caught.value.details == ["escape: symbolic link; links are not accepted"]
    assert not root.exists()
    assert tmp_path.is_dir()


def test_check_tree_counts_files_and_bytes_and_makes_them_readable(tmp_path):
    root = tmp_path / "unpacked"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"12345")
    (root / "sub" / "b.txt").write_bytes(b"123")
    os.chmod(root / "a.txt", 0o000)
    assert check_tree(root, "x", LIMITS) == (2, 8)
    assert (root / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (root / "sub").stat().st_mode & 0o777 == 0o755
