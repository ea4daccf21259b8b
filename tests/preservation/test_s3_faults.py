"""S3 failing on every call the storage and the drop box make: 5xx, SlowDown, a reset
connection part-way through a body, an answer that never comes. Through the fault proxy
(tests/s3_faults.py) in front of moto, with the client settings every deployment's
connection carries (preservation.deploy.topology.s3_client_config). Each fault is retried and
ends with nothing lost and nothing doubled; a fault that outlasts the retries names the
object, and the next try completes."""

import hashlib
import os
from datetime import UTC, datetime

import boto3
import botocore.config
import pytest

from preservation.core.errors import StorageUnavailable
from preservation.deploy.topology import s3_client_config
from preservation.intake.transfer_bucket import S3TransferSource
from preservation.intake.transfer_source import Upload
from preservation.storage.s3_storage import MIN_PART_SIZE, S3Location
from tests.s3_faults import KINDS, FaultProxy, Rule

AIP = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
READ_TIMEOUT = 2


@pytest.fixture
def proxy(moto_endpoint):
    proxy = FaultProxy(moto_endpoint, stall_seconds=READ_TIMEOUT + 1, agent="")
    yield proxy
    proxy.close()


@pytest.fixture
def faulty(s3, proxy):
    """(client through the proxy, direct client, bucket)."""
    direct, bucket = s3
    config = botocore.config.Config(**s3_client_config(read_timeout=READ_TIMEOUT))
    client = boto3.client("s3", endpoint_url=proxy.url, region_name="us-east-1", config=config)
    return client, direct, bucket


def put_upload(direct, bucket: str, key: str, body: bytes) -> Upload:
    """An archivist's upload, put straight into moto (past the proxy)."""
    direct.put_object(Bucket=bucket, Key=key, Body=body)
    head = direct.head_object(Bucket=bucket, Key=key)
    return Upload(f"s3://{bucket}", key, head["ETag"], datetime.now(UTC))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_download_broken_part_way_resumes_where_it_broke_and_arrives_intact(
    faulty, proxy, tmp_path
):
    client, direct, bucket = faulty
    data = os.urandom(3 * 1024 * 1024)
    upload = put_upload(direct, bucket, "born-digital/big.zip", data)
    [rule] = proxy.inject(Rule("download", "GET", r"/big\.zip$", faults=("reset",), times=3))

    S3TransferSource(client, bucket).fetch(upload, tmp_path / "copy.zip")

    assert rule.hits == ["reset"] * 3 and rule.seen == 4
    assert sha256((tmp_path / "copy.zip").read_bytes()) == sha256(data)


def test_every_kind_of_fault_on_every_storage_call_stores_one_aip_that_verifies(
    faulty, proxy, tmp_path
):
    client, direct, bucket = faulty
    location = S3Location(client, bucket, "aips", "born-digital", part_size=MIN_PART_SIZE)
    package = tmp_path / f"Papers-{AIP}.7z"
    package.write_bytes(os.urandom(MIN_PART_SIZE * 2 + 1024))  # three parts
    small = tmp_path / f"pointer.{AIP}.xml"
    small.write_text("<pointer/>")
    rules = proxy.inject(
        Rule("put", "PUT", r"/pointer\.", without=("partNumber",)),
        Rule("start parts", "POST", r"\.7z$", query=("uploads",)),
        Rule("part", "PUT", r"\.7z$", query=("partNumber",)),
        Rule("complete", "POST", r"\.7z$", query=("uploadId",)),
        Rule("read back", "GET", r"\.7z$", faults=("reset", "500", "slowdown", "stall")),
        Rule("index write", "PUT", r"/index/"),
        Rule("index read", "GET", r"/index/"),
    )

    stored = location.store(package, AIP, [small])
    assert location.verify(stored, sha256(package.read_bytes())).success
    record = location.register(
        AIP, stored, "PP/FAULTS/1", "transfer-1", sha256(package.read_bytes())
    )

    assert {rule.name: rule.hits for rule in rules} == {
        rule.name: list(rule.faults) for rule in rules
    }
    # One version of one AIP, though answers were lost after the writes were done.
    assert [v.aip_uuid for v in location.index.versions("PP/FAULTS/1")] == [AIP]
    assert record.version == 1
    keys = [o["Key"] for o in direct.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(k.rsplit("/", 1)[1] for k in keys if "/index/" not in k) == sorted(
        [package.name, small.name]
    )
    assert direct.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_fault_that_outlasts_the_retries_names_the_object_and_the_next_try_completes(
    faulty, proxy, tmp_path
):
    client, direct, bucket = faulty
    upload = put_upload(direct, bucket, "born-digital/a.zip", b"zip")
    source = S3TransferSource(client, bucket)
    every_try = 1 + s3_client_config()["retries"]["max_attempts"]
    proxy.inject(Rule("download", "GET", r"/a\.zip$", faults=("500", "slowdown"), times=every_try))

    with pytest.raises(StorageUnavailable, match=f"Cannot read s3://{bucket}/born-digital/a.zip"):
        source.fetch(upload, tmp_path / "a.zip")
    assert not (tmp_path / "a.zip").exists()

    source.fetch(upload, tmp_path / "a.zip")  # the outage is over: the retry gets it
    assert (tmp_path / "a.zip").read_bytes() == b"zip"


@pytest.mark.parametrize("kind", KINDS)
def test_feedback_logs_and_tags_survive_each_kind_of_fault_and_are_written_once(
    faulty, proxy, kind
):
    client, direct, bucket = faulty
    upload = put_upload(direct, bucket, "born-digital/b.zip", b"zip")
    source = S3TransferSource(client, bucket)
    rules = proxy.inject(
        Rule("listing", "GET", f"^/{bucket}$", query=("list-type",), faults=(kind,), times=1),
        Rule("log", "PUT", r"\.log$", faults=(kind,), times=1),
        Rule("tag", "PUT", r"/b\.zip$", query=("tagging",), faults=(kind,), times=1),
        Rule("delete", "DELETE", r"/b\.zip$", faults=(kind,), times=1),
    )

    assert [u.key for u in source.listing().uploads] == ["born-digital/b.zip"]
    source.write_text("born-digital/b.zip.success.log", "Transfer accepted\n", upload)
    source.tag(upload, {"transfer-id": "t-1"})
    source.delete(["born-digital/b.zip"])

    assert all(rule.hits == [kind] for rule in rules), [(r.name, r.hits) for r in rules]
    keys = [o["Key"] for o in direct.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["born-digital/b.zip.success.log"]
    log = direct.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    assert log == b"Transfer accepted\n"
