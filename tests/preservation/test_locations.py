"""What every storage location promises (the ``Location`` protocol), held by each of them:
a local folder, S3 (moto's server) and the in-memory location the unit tests use."""

from __future__ import annotations

import hashlib
import shutil
import uuid

import bagit
import pytest

from preservation.core.errors import StorageConflict
from preservation.storage.location import LocalLocation, Location
from preservation.storage.memory import MemoryLocation
from preservation.storage.s3_storage import S3Location


@pytest.fixture(params=["local folder", "S3", "memory"])
def location(request, tmp_path) -> Location:
    if request.param == "local folder":
        return LocalLocation(tmp_path / "store", "born-digital")
    if request.param == "S3":
        client, bucket = request.getfixturevalue("s3")
        return S3Location(client, bucket, "aips", "born-digital")
    return MemoryLocation("born-digital")


@pytest.fixture
def aip_uuid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def bag(tmp_path, aip_uuid):
    folder = tmp_path / "work" / f"Papers-{aip_uuid}"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b c.txt").write_text("bravo charlie")
    bagit.make_bag(str(folder), checksums=["sha256"])
    return folder


@pytest.fixture
def package(tmp_path, aip_uuid):
    folder = tmp_path / "work"
    folder.mkdir(exist_ok=True)
    path = folder / f"Papers-{aip_uuid}.7z"
    path.write_bytes(b"a compressed AIP " * 500)
    pointer = folder / f"pointer.{aip_uuid}.xml"
    pointer.write_bytes(b"<mets/>")
    return path, pointer


def test_a_stored_bag_is_read_back_intact_found_by_its_uuid_and_indexed(
    location, bag, aip_uuid, tmp_path
):
    stored = location.store(bag, aip_uuid, [])
    assert location.verify(stored, None).success
    record = location.register(aip_uuid, stored, "PP/1", "transfer-1", None)
    assert location.find(aip_uuid) == location.url(record) == stored
    assert [r.aip_uuid for r in location.index.versions("PP/1")] == [aip_uuid]
    assert location.index.transfer_stored("transfer-1") == record
    (tmp_path / "copy").mkdir()
    copy = location.download(stored, tmp_path / "copy")
    bagit.Bag(str(copy)).validate()
    assert (copy / "data" / "sub" / "b c.txt").read_text() == "bravo charlie"


def test_a_package_verifies_against_its_sha256_and_a_wrong_one_names_it(
    location, package, aip_uuid
):
    path, pointer = package
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    stored = location.store(path, aip_uuid, [pointer])
    location.register(aip_uuid, stored, "PP/2", "transfer-2", sha256)
    assert location.pointer(aip_uuid) == b"<mets/>"
    assert location.verify(stored, sha256).success
    report = location.verify(stored, "0" * 64)
    assert not report.success
    assert report.failures["files"]["changed"] == [path.name]


def test_storing_the_same_aip_again_is_no_change_and_other_content_is_refused(
    location, package, aip_uuid
):
    path, pointer = package
    stored = location.store(path, aip_uuid, [pointer])
    assert location.store(path, aip_uuid, [pointer]) == stored
    original = path.read_bytes()
    path.write_bytes(b"something else entirely")
    with pytest.raises(StorageConflict):
        location.store(path, aip_uuid, [pointer])
    path.write_bytes(original)
    sha256 = hashlib.sha256(original).hexdigest()
    assert location.verify(stored, sha256).success


def test_a_damaged_file_in_a_stored_bag_is_named_by_its_fixity_report(bag, aip_uuid):
    location = MemoryLocation()
    stored = location.store(bag, aip_uuid, [])
    location.objects[f"{stored}/data/sub/b c.txt"] = b"bravo charlie, changed"
    del location.objects[f"{stored}/data/a.txt"]
    report = location.verify(stored, None)
    assert not report.success
    assert report.failures["files"]["changed"] == ["data/sub/b c.txt"]
    assert report.failures["files"]["missing"] == ["data/a.txt"]


def test_every_location_keeps_its_own_index(tmp_path, bag, aip_uuid):
    first, second = MemoryLocation(), LocalLocation(tmp_path / "other")
    first.register(aip_uuid, first.store(bag, aip_uuid, []), "PP/3", "transfer-3", None)
    shutil.rmtree(bag)
    assert first.index.record(aip_uuid) is not None
    assert second.index.record(aip_uuid) is None


def test_a_deleted_aip_is_gone_from_the_location_and_its_record_stays(location, package, aip_uuid):
    path, pointer = package
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    stored = location.store(path, aip_uuid, [pointer])
    location.register(aip_uuid, stored, "PP/4", "transfer-4", sha256)
    removed = location.delete(aip_uuid)
    assert len(removed) == 2 and any(r.endswith(path.name) for r in removed)
    assert location.pointer(aip_uuid) is None
    assert not location.verify(stored, sha256).success
    assert location.index.record(aip_uuid) is not None  # the tombstone's business
    assert location.delete(aip_uuid) == []
