"""Receive transfer: a .zip or a folder becomes the working copy
``currentlyProcessing/<name>-<uuid>/{objects,metadata,logs}``, safely, without touching the
source, and a bad package is refused with a clear reason and nothing left behind."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from preservation.core.errors import PackageRejected, TransferInvalid, UnsafeArchive
from preservation.services import receive_transfer
from tests.conftest import CATALOGUED_CSV

CONTENT = {"a.txt": "alpha", "sub/b.txt": "beta", "sub/empty": None}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: bytes, mtime and mode (folders: mtime and mode)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if path.is_file() else None
        found[path.relative_to(root).as_posix()] = (data, info.st_mtime_ns, info.st_mode)
    return found


def contents(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


EXPECTED_WORKING_COPY = {
    "logs": None,
    "metadata": None,
    "metadata/metadata.csv": CATALOGUED_CSV.encode(),
    "objects": None,
    "objects/a.txt": b"alpha",
    "objects/sub": None,
    "objects/sub/b.txt": b"beta",
    "objects/sub/empty": None,
}


def assert_nothing_left(package) -> None:
    """A refused package leaves no working copy, staging folder or state behind."""
    processing = package.settings.processing_directory
    leftovers = sorted(p.name for p in processing.iterdir()) if processing.exists() else []
    assert leftovers == []
    assert not package.transfer_dir.exists()
    assert not package.state_path.exists()


def nothing_escaped(tmp_path: Path, name: str) -> None:
    for folder in (tmp_path, tmp_path.parent, tmp_path.parent.parent, Path("/")):
        assert not (folder / name).exists()
    assert not list(tmp_path.rglob(name))


def evil_zip(tmp_path: Path, *members: tuple[zipfile.ZipInfo | str, str]) -> Path:
    archive = tmp_path / "sources" / "evil.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("metadata/metadata.csv", CATALOGUED_CSV)
        zf.writestr("ok.txt", "fine")
        for info, data in members:
            zf.writestr(info, data)
    return archive


# Receiving


def test_a_zip_transfer_becomes_a_working_copy_with_objects_metadata_and_logs(
    home, make_transfer, new_package
):
    source = make_transfer(CONTENT, as_zip=True, name="PP MDM")
    package = new_package(source)
    result = receive_transfer.run(package, str(source))

    working = home.processing_directory / f"PP_MDM-{package.ref.transfer_uuid}"
    assert result.transfer_dir == str(working) == str(package.transfer_dir)
    assert contents(working) == EXPECTED_WORKING_COPY
    assert (result.files, result.bytes) == (3, len("alpha") + len("beta") + len(CATALOGUED_CSV))
    assert result.transfer_uuid == package.ref.transfer_uuid
    assert result.aip_uuid == package.ref.aip_uuid
    assert package.state.facts().source == str(source)
    assert package.state.facts().processing_config == "automated"
    # Besides the working copy only the state database (and its WAL files): no staging left.
    others = {p.name for p in home.processing_directory.iterdir()} - {working.name}
    assert package.state_path.name in others
    assert all(name.startswith(package.state_path.name) for name in others)


def test_a_folder_transfer_becomes_the_same_working_copy_as_its_zip(
    home, make_transfer, new_package
):
    source = make_transfer(CONTENT, name="folder-transfer")
    package = new_package(source)
    result = receive_transfer.run(package, str(source))
    assert contents(package.transfer_dir) == EXPECTED_WORKING_COPY
    assert package.transfer_dir.name == f"folder-transfer-{package.ref.transfer_uuid}"
    assert result.files == 3


def test_a_file_url_source_is_received_like_a_local_path(home, make_transfer, new_package):
    source = make_transfer(CONTENT, as_zip=True)
    package = new_package(source)
    receive_transfer.run(package, source.as_uri())
    assert contents(package.transfer_dir) == EXPECTED_WORKING_COPY


def test_a_transfer_without_metadata_gets_objects_and_logs_only(home, make_transfer, new_package):
    source = make_transfer({"a.txt": "alpha"}, metadata=None, as_zip=True)
    package = new_package(source)
    receive_transfer.run(package, str(source))
    assert contents(package.transfer_dir) == {
        "logs": None,
        "objects": None,
        "objects/a.txt": b"alpha",
    }


def test_received_files_are_readable_even_when_the_zip_stored_them_without_permissions(
    home, tmp_path, new_package
):
    archive = tmp_path / "locked.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("a.txt")
        info.external_attr = 0o000 << 16
        zf.writestr(info, "alpha")
        zf.writestr("metadata/metadata.csv", CATALOGUED_CSV)
    package = new_package(archive)
    receive_transfer.run(package, str(archive))
    received = package.transfer_dir / "objects" / "a.txt"
    assert received.stat().st_mode & 0o777 == 0o644
    assert received.read_bytes() == b"alpha"


def test_a_zip_source_is_left_untouched(home, make_transfer, new_package):
    source = make_transfer(CONTENT, as_zip=True)
    before = (source.read_bytes(), source.stat().st_mtime_ns, source.stat().st_mode)
    receive_transfer.run(new_package(source), str(source))
    assert (source.read_bytes(), source.stat().st_mtime_ns, source.stat().st_mode) == before


def test_a_folder_source_is_left_untouched(home, make_transfer, new_package):
    source = make_transfer({**CONTENT, ".DS_Store": "finder"})
    os.chmod(source / "a.txt", 0o600)
    before = snapshot(source)
    package = new_package(source)
    receive_transfer.run(package, str(source))
    assert snapshot(source) == before
    assert (package.transfer_dir / "objects" / ".DS_Store").is_file()


def test_a_folder_is_received_as_bytes_of_its_own_so_the_aip_never_shares_the_sources_files(
    home, make_transfer, new_package
):
    # Store AIP hard-links the working copy into a local store: were the working copy a
    # link to the archivist's folder, an edit there would change the stored AIP.
    source = make_transfer({f"d{i % 4}/f{i}.txt": f"file {i}" for i in range(40)})
    package = new_package(source)
    receive_transfer.run(package, str(source))
    for original in (source / "d1").iterdir():
        received = package.transfer_dir / "objects" / "d1" / original.name
        assert received.read_bytes() == original.read_bytes()
        assert received.stat().st_ino != original.stat().st_ino
    assert len(list((package.transfer_dir / "objects").rglob("*.txt"))) == 40


def test_a_stale_working_copy_from_an_earlier_attempt_is_replaced(home, make_transfer, new_package):
    source = make_transfer(CONTENT, as_zip=True)
    package = new_package(source)
    stale = package.transfer_dir
    (stale / "metadata").mkdir(parents=True)
    (stale / "junk.txt").write_text("left by a killed worker")
    (stale / "metadata" / "old.csv").write_text("old")
    (stale / "objects").write_text("a file where the objects folder should be")
    (stale / "logs").write_text("a file where the logs folder should be")
    staging = stale.with_name(f".{stale.name}.receiving")
    staging.write_text("a file where the staging folder should be")
    package.state_path.write_bytes(b"not a database")

    receive_transfer.run(package, str(source))

    assert contents(package.transfer_dir) == EXPECTED_WORKING_COPY
    assert not staging.exists()
    assert package.state.facts().transfer_uuid == package.ref.transfer_uuid


def test_a_stale_file_where_the_working_copy_folder_should_be_is_replaced(
    home, make_transfer, new_package
):
    source = make_transfer(CONTENT)
    package = new_package(source)
    package.transfer_dir.parent.mkdir(parents=True)
    package.transfer_dir.write_text("stale")
    receive_transfer.run(package, str(source))
    assert contents(package.transfer_dir) == EXPECTED_WORKING_COPY


def test_receiving_the_same_transfer_twice_gives_the_same_working_copy(
    home, make_transfer, new_package
):
    source = make_transfer(CONTENT, as_zip=True)
    package = new_package(source)
    first = receive_transfer.run(package, str(source))
    first_copy = contents(package.transfer_dir)
    (package.transfer_dir / "objects" / "added-by-a-later-step.txt").write_text("x")
    second = receive_transfer.run(package, str(source))
    assert second == first
    assert contents(package.transfer_dir) == first_copy == EXPECTED_WORKING_COPY
    assert package.state.facts().transfer_uuid == package.ref.transfer_uuid


# Deflate64


def test_a_deflate64_zip_that_python_cannot_read_is_received_with_the_right_bytes(
    home, tmp_path, new_package
):
    folder = tmp_path / "d64"
    (folder / "metadata").mkdir(parents=True)
    (folder / "sub").mkdir()
    files = {
        "a.txt": b"alpha line\n" * 2000,
        "sub/b.txt": bytes(range(256)) * 400,
        "metadata/metadata.csv": CATALOGUED_CSV.encode() * 1,
    }
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    archive = tmp_path / "deflate64.zip"
    subprocess.run(
        ["7z", "a", "-tzip", "-mm=Deflate64", "-bd", str(archive), "a.txt", "sub", "metadata"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    with zipfile.ZipFile(archive) as zf:
        types = {i.filename: i.compress_type for i in zf.infolist() if not i.is_dir()}
        assert types["a.txt"] == types["sub/b.txt"] == 9
        with pytest.raises(NotImplementedError):
            zf.read("a.txt")

    package = new_package(archive)
    receive_transfer.run(package, str(archive))
    working = package.transfer_dir
    assert (working / "objects" / "a.txt").read_bytes() == files["a.txt"]
    assert (working / "objects" / "sub" / "b.txt").read_bytes() == files["sub/b.txt"]
    assert (working / "metadata" / "metadata.csv").read_text() == CATALOGUED_CSV


# Refusals


def test_a_file_that_is_not_a_zip_is_refused_as_an_unreadable_transfer_package(
    home, tmp_path, new_package
):
    source = tmp_path / "upload.zip"
    source.write_bytes(b"this is not a zip at all\n" * 10)
    package = new_package(source)
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    assert isinstance(caught.value, PackageRejected)
    assert str(caught.value).startswith("Unable to read transfer package:")
    assert "File is not a zip file" in str(caught.value)
    assert "Upload the transfer as a .zip archive" in str(caught.value)
    assert_nothing_left(package)


def test_a_truncated_zip_is_refused_as_an_unreadable_transfer_package(
    home, make_transfer, new_package
):
    good = make_transfer({"a.bin": os.urandom(20000)}, as_zip=True)
    source = good.with_name("truncated.zip")
    source.write_bytes(good.read_bytes()[:5000])
    package = new_package(source)
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    assert str(caught.value).startswith("Unable to read transfer package:")
    assert "File is not a zip file" in str(caught.value)
    assert "truncated.zip is damaged or incomplete; upload it again" in str(caught.value)
    assert_nothing_left(package)


def test_a_zip_with_a_parent_directory_member_is_refused_naming_the_member(
    home, tmp_path, new_package
):
    source = evil_zip(tmp_path, ("../../../../../evil.txt", "pwned"), ("../evil.txt", "pwned"))
    package = new_package(source)
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    assert caught.value.message == "evil.zip cannot be unpacked safely"
    assert caught.value.details == [
        "../../../../../evil.txt: path traversal ('..'); members must stay inside the archive",
        "../evil.txt: path traversal ('..'); members must stay inside the archive",
    ]
    nothing_escaped(tmp_path, "evil.txt")
    assert_nothing_left(package)


def test_a_zip_with_an_absolute_member_is_refused_naming_the_member(home, tmp_path, new_package):
    source = evil_zip(tmp_path, (zipfile.ZipInfo("/abs.txt"), "pwned"))
    package = new_package(source)
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    assert caught.value.details == [
        "/abs.txt: absolute path; members must be relative to the archive"
    ]
    nothing_escaped(tmp_path, "abs.txt")
    assert_nothing_left(package)


def test_a_zip_holding_a_symbolic_link_is_refused_naming_the_link(home, tmp_path, new_package):
    link = zipfile.ZipInfo("passwords")
    link.external_attr = 0o120777 << 16
    source = evil_zip(tmp_path, (link, "/etc/passwd"))
    package = new_package(source)
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    assert caught.value.details == [
        "passwords: symbolic link pointing to /etc/passwd; links are not accepted, put the "
        "file itself in the archive"
    ]
    assert_nothing_left(package)


def test_a_folder_holding_a_symbolic_link_is_refused_naming_the_link(
    home, make_transfer, new_package, tmp_path
):
    source = make_transfer(CONTENT)
    (source / "sub" / "outside").symlink_to(tmp_path)
    before = snapshot(source)
    package = new_package(source)
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    assert caught.value.message == f"{source.name} cannot be received safely"
    assert caught.value.details == [
        "sub/outside: symbolic link; links are not accepted, put the file itself in the transfer"
    ]
    assert snapshot(source) == before
    assert_nothing_left(package)


def test_a_missing_source_is_refused_saying_what_to_give(home, tmp_path, new_package):
    missing = tmp_path / "nowhere" / "transfer.zip"
    package = new_package(missing)
    with pytest.raises(TransferInvalid) as caught:
        receive_transfer.run(package, str(missing))
    assert str(caught.value) == (
        f"Transfer not found: {missing}. Give the path of a .zip or a folder."
    )
    assert_nothing_left(package)


def test_a_zip_with_more_members_than_the_limit_is_refused(
    home, make_transfer, new_package, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_MAX_MEMBERS", "3")
    source = make_transfer({"a.txt": "a", "b.txt": "b", "c.txt": "c"}, as_zip=True)
    package = new_package(source)
    assert package.settings.limits.max_members == 3
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    # a.txt, b.txt, c.txt, metadata/ and metadata/metadata.csv
    assert caught.value.details == ["5 members, more than the limit of 3; split the transfer"]
    assert_nothing_left(package)


def test_a_zip_within_the_member_limit_is_received(home, make_transfer, new_package, monkeypatch):
    monkeypatch.setenv("PRESERVATION_MAX_MEMBERS", "5")
    source = make_transfer({"a.txt": "a", "b.txt": "b", "c.txt": "c"}, as_zip=True)
    package = new_package(source)
    assert receive_transfer.run(package, str(source)).files == 4


def test_a_zip_bigger_than_the_byte_limit_is_refused(home, make_transfer, new_package, monkeypatch):
    monkeypatch.setenv("PRESERVATION_MAX_BYTES", "1000")
    source = make_transfer({"big.bin": b"\0" * 2000}, as_zip=True)
    package = new_package(source)
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    [detail] = caught.value.details
    total = 2000 + len(CATALOGUED_CSV)
    assert detail == f"{total} bytes when unpacked, more than the limit of 1000; split the transfer"
    assert_nothing_left(package)


def test_a_folder_bigger_than_the_byte_limit_is_refused(
    home, make_transfer, new_package, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_MAX_BYTES", "1000")
    source = make_transfer({"big.bin": b"\0" * 2000})
    package = new_package(source)
    with pytest.raises(UnsafeArchive) as caught:
        receive_transfer.run(package, str(source))
    [detail] = caught.value.details
    assert detail.endswith("bytes unpacked, more than the limit of 1000")
    assert detail.startswith(f"{2000 + len(CATALOGUED_CSV)} bytes")
    assert_nothing_left(package)


def test_a_refused_retry_also_removes_the_working_copy_of_an_earlier_attempt(
    home, make_transfer, new_package, tmp_path
):
    source = make_transfer(CONTENT)
    package = new_package(source)
    receive_transfer.run(package, str(source))
    assert package.transfer_dir.is_dir()
    (source / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafeArchive):
        receive_transfer.run(package, str(source))
    assert_nothing_left(package)


def test_a_transfer_given_by_http_url_is_downloaded_and_received(home, make_transfer, new_package):
    import functools
    import http.server
    import threading

    source = make_transfer({"a.txt": "from the web"}, as_zip=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(source.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{source.name}"
        package = new_package(url)
        receive_transfer.run(package, url)
    finally:
        server.shutdown()
    assert (package.transfer_dir / "objects" / "a.txt").read_text() == "from the web"
    assert not (package.transfer_dir / "download").exists()
