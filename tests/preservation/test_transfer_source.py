"""The drop box, as an S3 bucket on moto's server and as a local folder: new uploads,
feedback logs, tags, and what a broken drop box says."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from preservation.core.errors import ConfigurationInvalid, StorageUnavailable, TransferInvalid
from preservation.core.settings import Limits
from preservation.intake import transfer_source
from preservation.intake.transfer_bucket import S3TransferSource
from preservation.intake.transfer_folder import FolderTransferSource
from tests.conftest import CATALOGUED_CSV
from tests.media import zip_bytes

package = zip_bytes
GOOD = package({"a.txt": "a", "metadata/metadata.csv": CATALOGUED_CSV})


def drop(source, key: str, body: bytes, tmp_path: Path):
    """Put ``body`` into the drop box at ``key``, as an archivist's upload."""
    local = tmp_path / f"drop-{time.monotonic_ns()}.zip"
    local.write_bytes(body)
    upload = source.put(key, local)
    local.unlink()
    return upload


@pytest.fixture(params=["s3", "folder"])
def drop_box(request, tmp_path):
    """The drop box of either kind (a folder whose copies count as arrived at once)."""
    if request.param == "s3":
        client, bucket = request.getfixturevalue("s3")
        return S3TransferSource(client, bucket, credentials="the Airflow connection 'aws_default'")
    folder = FolderTransferSource(tmp_path / "transfers", settle_seconds=0)
    folder.create()
    return folder


def check_all(source, tmp_path):
    verdicts = [
        transfer_source.verify(source, u, tmp_path, Limits(), 60) for u in source.new_uploads()
    ]
    for verdict in verdicts:
        transfer_source.publish(source, verdict)
    return {v.upload.key: v for v in verdicts}


def logs(source) -> list[str]:
    return sorted(k for keys in source.listing().logs.values() for k in keys)


def test_an_accepted_upload_gets_a_success_log_naming_its_transfer(drop_box, tmp_path):
    drop(drop_box, "born-digital/1234.zip", GOOD, tmp_path)
    verdict = check_all(drop_box, tmp_path)["born-digital/1234.zip"]
    assert verdict.accepted and verdict.processing_config == "born_digital"
    [log] = logs(drop_box)
    assert log == f"born-digital/1234.zip.success.{verdict.upload.stamp}.log"
    text = drop_box.read_text(log)
    assert "Running 7 checks" in text and f"Transfer ID: {verdict.upload.transfer_id}" in text
    assert drop_box.upload("born-digital/1234.zip") == verdict.upload  # the upload stays


def test_an_accepted_upload_in_the_bucket_is_tagged_for_the_weekly_monitor(s3, tmp_path):
    client, bucket = s3
    source = S3TransferSource(client, bucket)
    drop(source, "born-digital/1234.zip", GOOD, tmp_path)
    verdict = check_all(source, tmp_path)["born-digital/1234.zip"]
    tags = {
        t["Key"]: t["Value"]
        for t in client.get_object_tagging(Bucket=bucket, Key="born-digital/1234.zip")["TagSet"]
    }
    assert tags["transfer-id"] == verdict.upload.transfer_id
    assert tags["processing-config"] == "born_digital"
    assert tags["catalogue-identifier"] == "PP/MDM/A/3/1a"


def test_a_bad_upload_gets_a_failed_log_with_the_reason(drop_box, tmp_path):
    drop(drop_box, "born-digital/bad.zip", b"not a zip", tmp_path)
    drop(drop_box, "elsewhere/x.zip", GOOD, tmp_path)
    verdicts = check_all(drop_box, tmp_path)
    assert not verdicts["born-digital/bad.zip"].accepted
    bad_log = next(k for k in logs(drop_box) if k.startswith("born-digital/bad.zip.failed."))
    assert "Unable to read transfer package: File is not a zip file" in drop_box.read_text(bad_log)
    other_log = next(k for k in logs(drop_box) if k.startswith("elsewhere/x.zip.failed."))
    assert "Unable to determine processing config for key elsewhere/x.zip" in (
        drop_box.read_text(other_log)
    )


def test_an_upload_is_checked_once_and_a_new_upload_of_the_same_key_again(drop_box, tmp_path):
    drop(drop_box, "born-digital/1234.zip", GOOD, tmp_path)
    first = check_all(drop_box, tmp_path)["born-digital/1234.zip"]
    assert drop_box.new_uploads() == []  # seen: it has its feedback log
    time.sleep(1.1)  # S3 times have one-second resolution
    changed = package({"b.txt": "b", "metadata/metadata.csv": CATALOGUED_CSV})
    drop(drop_box, "born-digital/1234.zip", changed, tmp_path)
    [again] = drop_box.new_uploads()
    assert again.run_id != first.upload.run_id
    assert again.transfer_id != first.upload.transfer_id


def test_two_uploads_in_the_same_second_are_both_new_each_with_its_own_run(drop_box, tmp_path):
    one = drop(drop_box, "born-digital/one.zip", GOOD, tmp_path)
    two = drop(drop_box, "born-digital-accessions/two.zip", GOOD, tmp_path)
    assert {u.key for u in drop_box.new_uploads()} == {one.key, two.key}
    assert one.run_id != two.run_id and one.transfer_id != two.transfer_id


def test_an_upload_gone_before_it_is_checked_is_a_system_fault_and_writes_nothing(
    drop_box, tmp_path
):
    drop(drop_box, "born-digital/1234.zip", GOOD, tmp_path)
    [upload] = drop_box.new_uploads()
    drop_box.delete([upload.key])
    with pytest.raises(StorageUnavailable, match="Cannot read .*/born-digital/1234.zip"):
        transfer_source.verify(drop_box, upload, tmp_path, Limits(), 60)
    assert drop_box.listing().logs == {}  # no feedback log


def test_an_upload_replaced_after_it_was_checked_is_never_read_in_its_place(drop_box, tmp_path):
    checked = drop(drop_box, "born-digital/1234.zip", GOOD, tmp_path)
    time.sleep(0.01)
    drop(drop_box, "born-digital/1234.zip", package({"other.txt": "replaced"}), tmp_path)
    with pytest.raises(TransferInvalid, match="was replaced after it was checked"):
        drop_box.fetch(checked, tmp_path / "copy.zip")
    assert not (tmp_path / "copy.zip").exists()


def test_a_transfer_failing_after_acceptance_is_noted_once_in_its_feedback_log(drop_box, tmp_path):
    drop(drop_box, "born-digital/1234.zip", GOOD, tmp_path)
    verdict = check_all(drop_box, tmp_path)["born-digital/1234.zip"]
    upload = verdict.upload
    for _ in range(2):  # a second failure callback adds nothing
        key = drop_box.note_failure(
            upload.key, upload.etag, "Scan for viruses", "virus.com: Eicar-Test-Signature"
        )
    text = drop_box.read_text(key)
    assert text.startswith(verdict.text)  # the checks stay
    assert text.count("FAILED after acceptance: the transfer stopped at 'Scan for viruses'") == 1
    assert "virus.com: Eicar-Test-Signature" in text
    assert drop_box.new_uploads() == []  # still known as checked


def test_delete_after_storage_removes_the_upload_and_its_logs_only(drop_box, tmp_path):
    drop(drop_box, "born-digital/1234.zip", GOOD, tmp_path)
    drop(drop_box, "born-digital/other.zip", GOOD, tmp_path)
    check_all(drop_box, tmp_path)
    done = drop_box.after_storage("born-digital/1234.zip", "delete")
    assert done == f"deleted {drop_box.url}/born-digital/1234.zip and 1 feedback log(s)"
    assert [u.key for u in drop_box.listing().uploads] == ["born-digital/other.zip"]
    assert [k.split(".zip")[0] for k in logs(drop_box)] == ["born-digital/other"]


# -- what is new, and how often a watcher asks ------------------------------------------------
def test_a_watcher_looking_every_few_seconds_asks_about_each_feedback_log_once(s3, tmp_path):
    client, bucket = s3
    source = S3TransferSource(client, bucket)
    for number in range(5):
        drop(source, f"born-digital/{number}.zip", GOOD, tmp_path)
    check_all(source, tmp_path)
    heads = []
    client.meta.events.register("before-call.s3.HeadObject", lambda **kw: heads.append(1))
    known: set = set()
    for _ in range(3):
        assert source.new_uploads(known) == []
    assert len(heads) == 5  # the first look asked about each log; the others asked nothing


def test_an_upload_replaced_within_the_same_second_as_the_checked_one_is_new(s3, tmp_path):
    client, bucket = s3
    source = S3TransferSource(client, bucket)
    key = "born-digital/1234.zip"
    first = drop(source, key, GOOD, tmp_path)
    verdict = transfer_source.verify(source, first, tmp_path, Limits(), 60)
    second = drop(source, key, package({"other.txt": "new content"}), tmp_path)
    # The log of the first upload, under the second's second (S3 times are to the second).
    transfer_source.publish(
        source, replace(verdict, upload=replace(first, last_modified=second.last_modified))
    )
    assert [u.etag for u in source.new_uploads()] == [second.etag]
    # Once the second upload has its own log, it is no longer new.
    transfer_source.publish(source, transfer_source.verify(source, second, tmp_path, Limits(), 60))
    assert source.new_uploads() == []


def test_a_zip_still_being_copied_into_the_folder_is_not_an_upload_yet(tmp_path):
    folder = FolderTransferSource(tmp_path / "transfers", settle_seconds=1)
    folder.create()
    arriving = tmp_path / "transfers" / "born-digital" / "1234.zip"
    arriving.write_bytes(GOOD[:100])  # half of it so far
    (tmp_path / "transfers" / "born-digital" / ".big.zip.part").write_bytes(GOOD)
    assert folder.new_uploads() == []
    arriving.write_bytes(GOOD)
    time.sleep(1.1)
    [upload] = folder.new_uploads()  # settled: the dot file never counts
    assert upload.key == "born-digital/1234.zip"


def test_a_zip_moved_into_the_folder_counts_from_its_arrival_not_its_old_date(tmp_path):
    folder = FolderTransferSource(tmp_path / "transfers", settle_seconds=0)
    folder.create()
    old = tmp_path / "old.zip"
    old.write_bytes(GOOD)
    os.utime(old, (0, 0))  # made in 1970
    old.rename(tmp_path / "transfers" / "born-digital" / "old.zip")
    [upload] = folder.new_uploads()
    assert upload.last_modified.year >= 2026 and upload.stamp.startswith(time.strftime("%Y"))


# -- a broken drop box says what to fix -------------------------------------------------------
def test_a_missing_bucket_is_a_configuration_error_saying_to_create_it(s3):
    client, _ = s3
    source = S3TransferSource(client, "no-such-bucket")
    with pytest.raises(ConfigurationInvalid, match="the bucket no-such-bucket does not exist"):
        source.new_uploads()


def test_refused_credentials_name_the_connection_to_fix(moto_checking_credentials):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_checking_credentials,
        region_name="us-east-1",
        aws_access_key_id="AKIAWRONGKEY",
        aws_secret_access_key="wrong",
    )
    source = S3TransferSource(client, "transfers", credentials="the Airflow connection 'aws_x'")
    with pytest.raises(ConfigurationInvalid) as refused:
        source.new_uploads()
    assert "S3 refused the Airflow connection 'aws_x' (InvalidAccessKeyId)" in str(refused.value)
    assert "Fix its access key and secret" in str(refused.value)


def test_an_unreachable_bucket_is_a_system_fault_naming_it():
    import socket

    import boto3
    from botocore.config import Config

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(StorageUnavailable, match="Cannot list s3://transfers"):
        S3TransferSource(client, "transfers").new_uploads()


def test_a_missing_drop_box_folder_is_a_configuration_error_saying_what_to_create(tmp_path):
    folder = FolderTransferSource(tmp_path / "nowhere")
    with pytest.raises(ConfigurationInvalid, match="drop box folder .*nowhere does not exist"):
        folder.new_uploads()


def test_a_drop_box_url_that_is_neither_s3_nor_a_folder_is_refused():
    with pytest.raises(ConfigurationInvalid, match="use s3://bucket"):
        transfer_source.open_transfer_source("ftp://example.org/transfers")


def test_the_slack_alert_for_a_failed_transfer_names_package_stage_reason_and_log():
    alert = transfer_source.failure_alert(
        "s3://b/born-digital/x.zip", "Scan for viruses", "virus", "http://ui/log", "AM", "staging"
    )
    assert alert["text"].startswith("🚨 *A transfer failed in AM (staging)*")
    assert "<http://ui/log|Task log in Airflow>" in alert["text"]
    assert alert["blocks"][0]["text"]["text"] == alert["text"]
