"""The transfer bucket on moto's S3 server: new uploads, feedback logs, tags."""

import time

from preservation import transfer_bucket
from preservation.settings import Limits
from tests.conftest import CATALOGUED_CSV
from tests.media import zip_bytes

package = zip_bytes


GOOD = package({"a.txt": "a", "metadata/metadata.csv": CATALOGUED_CSV})


def check_all(client, bucket, tmp_path):
    verdicts = [
        transfer_bucket.verify(client, u, tmp_path, Limits(), 60)
        for u in transfer_bucket.uploads(client, bucket)
    ]
    for verdict in verdicts:
        transfer_bucket.publish(client, verdict)
    return {v.upload.key: v for v in verdicts}


def test_an_accepted_upload_gets_a_success_log_and_its_tags(s3, tmp_path):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="born-digital/1234.zip", Body=GOOD)
    verdicts = check_all(client, bucket, tmp_path)
    verdict = verdicts["born-digital/1234.zip"]
    assert verdict.accepted and verdict.processing_config == "born_digital"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    [log] = [k for k in keys if k.endswith(".log")]
    assert log == f"born-digital/1234.zip.success.{verdict.upload.stamp}.log"
    text = client.get_object(Bucket=bucket, Key=log)["Body"].read().decode()
    assert "Running 7 checks" in text and f"Transfer ID: {verdict.upload.transfer_id}" in text
    tags = {
        t["Key"]: t["Value"]
        for t in client.get_object_tagging(Bucket=bucket, Key="born-digital/1234.zip")["TagSet"]
    }
    assert tags["transfer-id"] == verdict.upload.transfer_id
    assert tags["processing-config"] == "born_digital"
    assert tags["catalogue-identifier"] == "PP/MDM/A/3/1a"
    assert "born-digital/1234.zip" in keys  # the upload stays


def test_a_bad_upload_gets_a_failed_log_with_the_reason(s3, tmp_path):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="born-digital/bad.zip", Body=b"not a zip")
    client.put_object(Bucket=bucket, Key="elsewhere/x.zip", Body=GOOD)
    verdicts = check_all(client, bucket, tmp_path)
    assert not verdicts["born-digital/bad.zip"].accepted
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    bad_log = next(k for k in keys if k.startswith("born-digital/bad.zip.failed."))
    body = client.get_object(Bucket=bucket, Key=bad_log)["Body"].read().decode()
    assert "Unable to read transfer package: File is not a zip file" in body
    other_log = next(k for k in keys if k.startswith("elsewhere/x.zip.failed."))
    body = client.get_object(Bucket=bucket, Key=other_log)["Body"].read().decode()
    assert "Unable to determine processing config for key elsewhere/x.zip" in body


def test_an_upload_is_checked_once_and_a_new_upload_of_the_same_key_again(s3, tmp_path):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="born-digital/1234.zip", Body=GOOD)
    first = check_all(client, bucket, tmp_path)["born-digital/1234.zip"]
    assert transfer_bucket.uploads(client, bucket) == []  # seen: has its feedback log
    time.sleep(1.1)  # S3 times have one-second resolution
    changed = package({"b.txt": "b", "metadata/metadata.csv": CATALOGUED_CSV})
    client.put_object(Bucket=bucket, Key="born-digital/1234.zip", Body=changed)
    [again] = transfer_bucket.uploads(client, bucket)
    assert again.run_id != first.upload.run_id
    assert again.transfer_id != first.upload.transfer_id


def test_an_unreachable_bucket_is_a_system_fault_naming_it(tmp_path):
    import socket

    import boto3
    import pytest
    from botocore.config import Config

    from preservation.errors import StorageUnavailable

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
        transfer_bucket.uploads(client, "transfers")


def test_an_upload_gone_before_it_is_checked_is_a_system_fault_and_writes_nothing(s3, tmp_path):
    import pytest

    from preservation.errors import StorageUnavailable

    client, bucket = s3
    client.put_object(Bucket=bucket, Key="born-digital/1234.zip", Body=GOOD)
    [upload] = transfer_bucket.uploads(client, bucket)
    client.delete_object(Bucket=bucket, Key="born-digital/1234.zip")
    with pytest.raises(StorageUnavailable, match="Cannot read s3://.*/born-digital/1234.zip"):
        transfer_bucket.verify(client, upload, tmp_path, Limits(), 60)
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)  # no feedback log


def test_an_upload_replaced_within_the_same_second_as_the_checked_one_is_new(s3, tmp_path):
    from dataclasses import replace

    client, bucket = s3
    key = "born-digital/1234.zip"
    client.put_object(Bucket=bucket, Key=key, Body=GOOD)
    [first] = transfer_bucket.uploads(client, bucket)
    verdict = transfer_bucket.verify(client, first, tmp_path, Limits(), 60)
    client.put_object(Bucket=bucket, Key=key, Body=package({"other.txt": "new content"}))
    [second] = transfer_bucket.uploads(client, bucket)
    # The log of the first upload, under the second's second (S3 times are to the second).
    transfer_bucket.publish(
        client, replace(verdict, upload=replace(first, **{"last_modified": second.last_modified}))
    )
    assert [u.etag for u in transfer_bucket.uploads(client, bucket)] == [second.etag]
    # Once the second upload has its own log, it is no longer new.
    transfer_bucket.publish(client, transfer_bucket.verify(client, second, tmp_path, Limits(), 60))
    assert transfer_bucket.uploads(client, bucket) == []


def test_a_transfer_failing_after_acceptance_is_noted_once_in_its_feedback_log(s3, tmp_path):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="born-digital/1234.zip", Body=GOOD)
    verdicts = check_all(client, bucket, tmp_path)
    upload = verdicts["born-digital/1234.zip"].upload
    for _ in range(2):  # a second failure callback adds nothing
        key = transfer_bucket.note_failure(
            client, upload.url, upload.etag, "Scan for viruses", "virus.com: Eicar-Test-Signature"
        )
    text = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert text.startswith(verdicts["born-digital/1234.zip"].text)  # the checks stay
    assert text.count("FAILED after acceptance: the transfer stopped at 'Scan for viruses'") == 1
    assert "virus.com: Eicar-Test-Signature" in text
    assert transfer_bucket.uploads(client, bucket) == []  # still known as checked


def test_the_slack_alert_for_a_failed_transfer_names_package_stage_reason_and_log():
    alert = transfer_bucket.failure_alert(
        "s3://b/born-digital/x.zip", "Scan for viruses", "virus", "http://ui/log", "AM", "staging"
    )
    assert alert["text"].startswith("🚨 *A transfer failed in AM (staging)*")
    assert "<http://ui/log|Task log in Airflow>" in alert["text"]
    assert alert["blocks"][0]["text"]["text"] == alert["text"]
