"""Store AIP: AIPs in UUID quad folders, verified on arrival, never overwritten."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
from pathlib import Path

import bagit
import pytest

from preservation.core.errors import (
    BagInvalid,
    PackageRejected,
    StorageConflict,
    StorageUnavailable,
    SystemFault,
)
from preservation.services import compress_aip, store_aip
from preservation.storage.location import LocalLocation, quad_path, verify_bag

FILES = {"a b.txt": "hello", "sub/c.txt": "deep content", "empty": None}
REPORT_KEYS = {"success", "message", "failures", "timestamp"}


@pytest.fixture
def bagged(package_until):
    """A package run up to compress_aip (automated configuration: an uncompressed bag)."""
    """A package run up to compress_aip (automated configuration: an uncompressed bag)."""
    return package_until(FILES, "compress_aip")


def _snapshot(folder: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every entry under ``folder`` with its bytes (None for folders) and mtime."""
    return {
        p.relative_to(folder).as_posix(): (
            p.read_bytes() if p.is_file() else None,
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
    }


def test_quad_path_is_eight_folders_of_four_hex_digits():
    quad = quad_path("7CA8075B-3FA9-5368-B465-E01C278363A7")
    assert quad.as_posix() == "7ca8/075b/3fa9/5368/b465/e01c/2783/63a7"
    assert all(re.fullmatch(r"[0-9a-f]{4}", part) for part in quad.parts)
    assert len(quad.parts) == 8


def test_the_aip_is_stored_under_its_uuid_quad_folders(bagged):
    result = store_aip.run(bagged)
    store = bagged.settings.aip_store
    expected = store / quad_path(bagged.ref.aip_uuid) / bagged.ref.aip_name
    assert result.aip_path == str(expected)
    assert result.aip_uuid == bagged.ref.aip_uuid
    quads = Path(result.aip_path).relative_to(store).parts[:8]
    assert quads == quad_path(bagged.ref.aip_uuid).parts
    bagit.Bag(result.aip_path).validate()
    assert LocalLocation(store).find(bagged.ref.aip_uuid) == result.aip_path


def test_the_stored_bag_is_verified_with_archivematica_fixity_report(bagged):
    result = store_aip.run(bagged)
    report = result.fixity
    assert set(report) == REPORT_KEYS
    assert report["success"] is True
    assert report["failures"] == {"files": {"missing": [], "changed": [], "untracked": []}}
    assert re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", report["timestamp"])
    [event] = bagged.state.events(bagged.ref.aip_uuid)
    assert (event.event_type, event.outcome) == ("fixity check", "Pass")


def test_storing_again_neither_overwrites_nor_breaks_the_stored_aip(bagged):
    first = store_aip.run(bagged)
    stored = Path(first.aip_path)
    before = _snapshot(stored.parent)
    second = store_aip.run(bagged)
    assert second.aip_path == first.aip_path
    assert second.fixity["success"] is True
    assert _snapshot(stored.parent) == before  # same bytes, same modification times
    assert len(bagged.state.events(bagged.ref.aip_uuid)) == 1


def test_a_different_package_under_the_same_name_is_a_conflict(bagged, tmp_path):
    location = LocalLocation(tmp_path / "store")
    stored = Path(location.store(bagged.sip_dir, bagged.ref.aip_uuid, []))
    before = _snapshot(stored.parent)
    impostor = tmp_path / "impostor" / bagged.ref.aip_name
    shutil.copytree(bagged.sip_dir, impostor)
    (impostor / "data" / "objects" / "a_b.txt").write_text("other content")
    (impostor / "manifest-sha256.txt").write_text("")  # a different bag altogether

    with pytest.raises(StorageConflict):
        location.store(impostor, bagged.ref.aip_uuid, [])
    assert _snapshot(stored.parent) == before


def test_a_package_with_the_same_uuid_under_another_name_is_a_conflict(bagged, tmp_path):
    location = LocalLocation(tmp_path / "store")
    stored = Path(location.store(bagged.sip_dir, bagged.ref.aip_uuid, []))
    before = _snapshot(stored.parent)
    other = tmp_path / "other" / f"renamed-{bagged.ref.aip_uuid}"
    shutil.copytree(bagged.sip_dir, other)

    with pytest.raises(StorageConflict):
        location.store(other, bagged.ref.aip_uuid, [])
    assert _snapshot(stored.parent) == before
    assert location.find(bagged.ref.aip_uuid) == str(stored)


def test_store_aip_refuses_when_another_bag_holds_its_place(bagged, tmp_path):
    # Another bag, with the same name and UUID, is already in the AIP store.
    folder = bagged.settings.aip_store / quad_path(bagged.ref.aip_uuid)
    other = folder / bagged.ref.aip_name
    (other).mkdir(parents=True)
    (other / "letter.txt").write_text("an older, different AIP")
    bagit.make_bag(str(other))
    before = _snapshot(folder)

    with pytest.raises(StorageConflict):
        store_aip.run(bagged)
    assert _snapshot(folder) == before
    bagit.Bag(str(other)).validate()


def test_verify_reports_a_corrupted_stored_file_as_changed(bagged):
    result = store_aip.run(bagged)
    stored = Path(result.aip_path)
    (stored / "data" / "objects" / "sub" / "c.txt").write_text("bit rot")
    report = LocalLocation(bagged.settings.aip_store).verify(str(stored), None)
    assert report.success is False
    assert set(report.as_dict()) == REPORT_KEYS
    assert report.failures["files"] == {
        "missing": [],
        "changed": ["data/objects/sub/c.txt"],
        "untracked": [],
    }


def test_verify_reports_missing_and_untracked_files(bagged):
    result = store_aip.run(bagged)
    stored = Path(result.aip_path)
    (stored / "data" / "objects" / "a_b.txt").unlink()
    (stored / "data" / "objects" / "intruder.txt").write_text("?")
    report = verify_bag(stored)
    assert report.success is False
    assert report.failures["files"]["missing"] == ["data/objects/a_b.txt"]
    assert report.failures["files"]["untracked"] == ["data/objects/intruder.txt"]


def test_verify_reports_a_stored_package_that_is_gone_as_missing(tmp_path):
    report = LocalLocation(tmp_path).verify(str(tmp_path / "nothing.7z"), "0" * 64)
    assert report.success is False
    assert report.failures["files"]["missing"] == [str(tmp_path / "nothing.7z")]


def test_an_unwritable_location_is_a_system_fault(bagged, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the location's folder should be")
    with pytest.raises(StorageUnavailable) as caught:
        store_aip.run(bagged, LocalLocation(blocked))
    assert isinstance(caught.value, SystemFault)
    assert blocked.read_text() == "a file where the location's folder should be"


def test_a_broken_bag_is_not_stored(bagged):
    (bagged.sip_data / "objects" / "a_b.txt").write_text("changed after bagging")
    with pytest.raises(BagInvalid):
        store_aip.run(bagged)
    assert LocalLocation(bagged.settings.aip_store).find(bagged.ref.aip_uuid) is None


def test_a_compressed_aip_is_stored_with_its_pointer_beside_it(bagged):
    bagged.config = dataclasses.replace(bagged.config, compression="7z-lzma", compression_level=1)
    compressed = compress_aip.run(bagged)
    result = store_aip.run(bagged)
    folder = bagged.settings.aip_store / quad_path(bagged.ref.aip_uuid)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{bagged.ref.aip_name}.7z", f"pointer.{bagged.ref.aip_uuid}.xml"]
    )
    assert result.aip_path == str(folder / f"{bagged.ref.aip_name}.7z")
    assert result.fixity["success"] is True
    assert (folder / f"pointer.{bagged.ref.aip_uuid}.xml").read_bytes() == Path(
        compressed.pointer_path
    ).read_bytes()
    with open(result.aip_path, "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == compressed.sha256


def test_a_corrupted_compressed_aip_fails_verification(bagged):
    bagged.config = dataclasses.replace(bagged.config, compression="tar", compression_level=0)
    compressed = compress_aip.run(bagged)
    result = store_aip.run(bagged)
    with open(result.aip_path, "r+b") as handle:
        handle.seek(600)
        byte = handle.read(1)
        handle.seek(600)
        handle.write(bytes([byte[0] ^ 0xFF]))
    report = LocalLocation(bagged.settings.aip_store).verify(result.aip_path, compressed.sha256)
    assert report.success is False
    assert report.failures["files"]["changed"] == [Path(result.aip_path).name]
    damaged = Path(result.aip_path).read_bytes()
    with pytest.raises(PackageRejected):
        store_aip.run(bagged)  # storing again finds the damage instead of hiding it
    assert Path(result.aip_path).read_bytes() == damaged  # and never overwrites


def test_a_compressed_aip_damaged_before_storage_is_not_stored(bagged):
    bagged.config = dataclasses.replace(bagged.config, compression="tar", compression_level=0)
    compressed = compress_aip.run(bagged)
    with open(compressed.package_path, "r+b") as handle:
        handle.seek(600)
        byte = handle.read(1)
        handle.seek(600)
        handle.write(bytes([byte[0] ^ 0xFF]))  # after compression, before storage
    with pytest.raises(PackageRejected) as caught:
        store_aip.run(bagged)
    assert compressed.sha256 in str(caught.value)
    assert LocalLocation(bagged.settings.aip_store).find(bagged.ref.aip_uuid) is None
    events = bagged.state.events(bagged.ref.aip_uuid)
    assert [e for e in events if e.outcome == "Pass" and e.event_type == "fixity check"] == []


def test_a_pointer_left_by_an_interrupted_storage_does_not_block_a_new_attempt(bagged):
    bagged.config = dataclasses.replace(bagged.config, compression="tar.gz", compression_level=1)
    compressed = compress_aip.run(bagged)
    pointer = Path(compressed.pointer_path)
    folder = bagged.settings.aip_store / quad_path(bagged.ref.aip_uuid)
    folder.mkdir(parents=True)
    # An earlier attempt stored its pointer (they go first) but never its package; the
    # package has been made again since, so that pointer describes another package.
    (folder / pointer.name).write_text(pointer.read_text().replace(compressed.sha256, "0" * 64))

    result = store_aip.run(bagged)

    assert result.fixity["success"] is True
    assert (folder / pointer.name).read_bytes() == pointer.read_bytes()
    with open(result.aip_path, "rb") as handle:
        assert hashlib.file_digest(handle, "sha256").hexdigest() == compressed.sha256


def test_a_stored_compressed_aip_keeps_its_pointer_when_a_different_one_arrives(bagged):
    bagged.config = dataclasses.replace(bagged.config, compression="tar.gz", compression_level=1)
    compress_aip.run(bagged)
    first = store_aip.run(bagged)
    folder = Path(first.aip_path).parent
    before = _snapshot(folder)
    bagged.config = dataclasses.replace(bagged.config, compression_level=9)
    compress_aip.run(bagged)  # another package under the same name and UUID
    with pytest.raises(StorageConflict):
        store_aip.run(bagged)
    assert _snapshot(folder) == before


@pytest.mark.parametrize("compression", ["uncompressed", "7z-bzip2"])
def test_rerunning_store_aip_after_clean_up_verifies_the_stored_aip_again(bagged, compression):
    from preservation.services import clean_up

    bagged.config = dataclasses.replace(bagged.config, compression=compression)
    if compression != "uncompressed":
        compress_aip.run(bagged)
    first = store_aip.run(bagged)
    clean_up.run(bagged)
    folder = Path(first.aip_path).parent
    before = _snapshot(folder)

    again = store_aip.run(bagged)

    assert again.aip_path == first.aip_path and again.fixity["success"] is True
    assert _snapshot(folder) == before
    assert not bagged.state_path.exists()  # no run record re-created after clean-up


@pytest.mark.parametrize("compression", ["uncompressed", "7z-bzip2"])
def test_rerunning_store_aip_after_clean_up_catches_a_damaged_stored_aip(bagged, compression):
    from preservation.services import clean_up

    bagged.config = dataclasses.replace(bagged.config, compression=compression)
    if compression != "uncompressed":
        compress_aip.run(bagged)
    stored = Path(store_aip.run(bagged).aip_path)
    clean_up.run(bagged)
    if stored.is_dir():
        next(p for p in (stored / "data" / "objects").rglob("*") if p.is_file()).write_text("x")
    else:
        with open(stored, "r+b") as handle:
            handle.seek(40)
            handle.write(b"\0\0\0\0")

    with pytest.raises(BagInvalid, match="failed its fixity check"):
        store_aip.run(bagged)


def test_with_replicas_the_aip_counts_as_stored_once_every_copy_is_verified(bagged, tmp_path, s3):
    from preservation.storage.s3_storage import S3Location

    client, bucket = s3
    main = LocalLocation(tmp_path / "main")
    replicas = [LocalLocation(tmp_path / "replica"), S3Location(client, bucket, "aips")]
    result = store_aip.run(bagged, main, replicas)
    assert result.replicas == [r.description for r in replicas]
    for location in [main, *replicas]:
        record = location.index.record(bagged.ref.aip_uuid)
        assert record is not None, location.description
        assert location.verify(location.url(record), None).success
    events = bagged.state.events(bagged.ref.aip_uuid)
    assert sorted(e.detail.split("location=")[1] for e in events) == sorted(
        f'"{loc.description}"' for loc in [main, *replicas]
    )


def test_an_unwritable_replica_means_not_stored_and_the_working_copy_is_kept(bagged, tmp_path, s3):
    import boto3

    from preservation.services import clean_up
    from preservation.storage.s3_storage import S3Location

    main = LocalLocation(tmp_path / "main")
    unreachable = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    with pytest.raises(StorageUnavailable):
        store_aip.run(bagged, main, [S3Location(unreachable, "aips")])
    assert main.index.record(bagged.ref.aip_uuid) is None  # not stored: not indexed
    with pytest.raises(StorageUnavailable, match="s3://aips/index"):
        clean_up.run(bagged, main, [S3Location(unreachable, "aips")])
    bagit.Bag(str(bagged.sip_dir)).validate()


def test_a_replica_holding_something_else_under_the_aip_is_a_conflict_reported_once(
    bagged, tmp_path
):
    main, replica = LocalLocation(tmp_path / "main"), LocalLocation(tmp_path / "replica")
    impostor = tmp_path / "impostor" / bagged.ref.aip_name
    shutil.copytree(bagged.sip_dir, impostor)
    (impostor / "manifest-sha256.txt").write_text("")
    replica.store(impostor, bagged.ref.aip_uuid, [])
    with pytest.raises(StorageConflict):
        store_aip.run(bagged, main, [replica])
    assert main.index.record(bagged.ref.aip_uuid) is None


def test_a_local_main_location_takes_the_bag_by_hard_links_and_a_replica_its_own_bytes(
    bagged, tmp_path
):
    main, replica = LocalLocation(tmp_path / "main"), LocalLocation(tmp_path / "replica")
    working = bagged.sip_dir / "data" / "objects" / "a_b.txt"
    store_aip.run(bagged, main, [replica])
    in_main = Path(main.find(bagged.ref.aip_uuid)) / "data" / "objects" / "a_b.txt"
    in_replica = Path(replica.find(bagged.ref.aip_uuid)) / "data" / "objects" / "a_b.txt"
    # No byte copied into the main location: the stored file is the working copy's.
    assert in_main.stat().st_ino == working.stat().st_ino
    # The replica is a copy of its own: damage to the main copy does not reach it.
    assert in_replica.stat().st_ino != in_main.stat().st_ino
    in_main.write_text("damaged")
    assert in_replica.read_text() == "hello"
    assert replica.verify(str(in_replica.parents[2]), None).success
