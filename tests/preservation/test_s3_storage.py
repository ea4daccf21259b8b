"""AIP storage on moto's S3 server: spaces, quad paths, checksums, no overwrite, index."""

import base64
import hashlib

import pytest

from preservation.core.errors import StorageConflict
from preservation.storage import s3_storage
from preservation.storage.location import quad_path
from preservation.storage.s3_storage import S3Location, space_for

AIP = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
OTHER = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def location(s3):
    client, bucket = s3
    return S3Location(client, bucket, "aips", "born-digital")


@pytest.fixture
def package_file(tmp_path):
    path = tmp_path / f"Papers-{AIP}.tar.gz"
    path.write_bytes(b"an AIP package" * 1000)
    return path


def test_the_space_comes_from_the_identifier_and_the_kind():
    assert space_for("PP/MDM/A/1", "catalogued", "archivematica-dev/TEST") == "born-digital"
    assert space_for("2314_2", "accession", "archivematica-dev/TEST") == ("born-digital-accessions")
    assert space_for("archivematica-dev/TEST/1", "catalogued", "archivematica-dev/TEST") == (
        "testing"
    )


def test_an_aip_is_stored_under_its_quad_path_with_s3s_sha256(location, package_file, s3):
    client, bucket = s3
    stored = location.store(package_file, AIP, [])
    key = f"aips/born-digital/{quad_path(AIP)}/{package_file.name}"
    assert stored == f"s3://{bucket}/{key}"
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    digest = hashlib.sha256(package_file.read_bytes()).digest()
    assert head["ChecksumSHA256"] == base64.b64encode(digest).decode()
    assert location.find(AIP) is None  # not indexed until verified
    assert location.verify(stored, sha256(package_file)).success
    location.register(AIP, stored, "PP/MDM/A/1", "t-1", sha256(package_file))
    assert location.find(AIP) == stored


def test_nothing_stored_is_ever_overwritten(location, package_file, tmp_path):
    location.store(package_file, AIP, [])
    location.store(package_file, AIP, [])  # a retry with the same bytes is fine
    package_file.write_bytes(b"different bytes")
    with pytest.raises(StorageConflict, match="never overwritten"):
        location.store(package_file, AIP, [])


def test_a_changed_stored_object_fails_verification(location, package_file, s3):
    client, bucket = s3
    stored = location.store(package_file, AIP, [])
    client.put_object(Bucket=bucket, Key=stored.split(f"{bucket}/", 1)[1], Body=b"flipped")
    report = location.verify(stored, sha256(package_file))
    assert not report.success and report.failures["files"]["changed"] == [package_file.name]


def test_large_packages_go_up_in_parts_and_read_back_intact(location, tmp_path):
    location.part_size = s3_storage.MIN_PART_SIZE
    big = tmp_path / f"Big-{AIP}.7z"
    big.write_bytes(bytes(range(256)) * (12 * 1024 * 16))  # 12 MiB: three parts
    stored = location.store(big, AIP, [])
    assert location.verify(stored, sha256(big)).success


def test_a_folder_aip_is_stored_file_by_file_and_verified_as_a_bag(location, tmp_path):
    import bagit

    bag_dir = tmp_path / f"Papers-{AIP}"
    (bag_dir / "objects").mkdir(parents=True)
    (bag_dir / "objects" / "a.txt").write_text("a")
    bagit.make_bag(str(bag_dir), checksums=["sha256"])
    stored = location.store(bag_dir, AIP, [])
    assert location.verify(stored, None).success


def test_the_index_finds_versions_of_an_identifier_newest_first(location, package_file, tmp_path):
    first = location.store(package_file, AIP, [])
    location.register(AIP, first, "PP/MDM/A/1", "transfer-1", sha256(package_file))
    second_file = tmp_path / f"Papers-{OTHER}.tar.gz"
    second_file.write_bytes(b"re-ingested")
    second = location.store(second_file, OTHER, [])
    location.register(OTHER, second, "PP/MDM/A/1", "transfer-2", sha256(second_file))
    location.register(OTHER, second, "PP/MDM/A/1", "transfer-2", sha256(second_file))  # retry
    versions = location.index.versions("PP/MDM/A/1")
    assert [(v.aip_uuid, v.version) for v in versions] == [(OTHER, 2), (AIP, 1)]
    assert location.index.transfer_stored("transfer-1").aip_uuid == AIP
    assert location.index.transfer_stored("transfer-3") is None


def test_reading_from_an_unreachable_s3_is_a_system_fault_naming_the_object(tmp_path):
    import boto3

    from preservation.core.errors import StorageUnavailable

    unreachable = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    location = S3Location(unreachable, "aips", "aips")
    url = f"s3://aips/aips/born-digital/x/Papers-{AIP}.7z"
    with pytest.raises(StorageUnavailable, match=f"Cannot read {url}"):
        location.download(url, tmp_path)
    with pytest.raises(StorageUnavailable, match=f"Cannot read {url}"):
        location.verify(url, None)
