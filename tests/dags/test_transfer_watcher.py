"""transfer_watcher end to end on moto's S3 server: the real DAG, sensor included, run by
Airflow (``airflow dags test``) through the same connection a deployment uses."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from preservation.transfer_bucket import uploads
from tests.airflow_support import airflow_cli, ensure_airflow_database, ingest
from tests.conftest import CATALOGUED_CSV
from tests.preservation.test_transfer_bucket import GOOD, package

pytestmark = pytest.mark.airflow


def ingest_runs(airflow_home: Path) -> dict[str, dict]:
    ensure_airflow_database()
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute(
            "SELECT run_id, conf FROM dag_run WHERE dag_id = 'transfer_ingest'"
        ).fetchall()
    return {run_id: json.loads(conf) if conf else {} for run_id, conf in rows}


def watch() -> None:
    ensure_airflow_database()
    done = airflow_cli("dags", "test", "transfer_watcher", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_each_upload_starts_exactly_one_run_and_bad_ones_none(airflow_env, home, s3):
    client, bucket = s3
    client.put_object(Bucket=bucket, Key="born-digital/1234.zip", Body=GOOD)
    client.put_object(Bucket=bucket, Key="born-digital/bad.zip", Body=b"not a zip")
    [good] = [u for u in uploads(client, bucket) if u.key == "born-digital/1234.zip"]
    before = set(ingest_runs(airflow_env))
    watch()
    watch()  # the same uploads seen again: no second run
    started = {k: v for k, v in ingest_runs(airflow_env).items() if k not in before}
    assert list(started) == [good.run_id]
    assert started[good.run_id]["transfer"] == f"s3://{bucket}/born-digital/1234.zip"
    assert started[good.run_id]["processing_config"] == "born_digital"
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert any(k.startswith("born-digital/1234.zip.success.") for k in keys)
    assert any(k.startswith("born-digital/bad.zip.failed.") for k in keys)
    assert {"born-digital/1234.zip", "born-digital/bad.zip"} <= keys  # sources stay


def test_fifty_uploads_at_once_all_get_their_run(airflow_env, home, s3):
    client, bucket = s3
    for number in range(50):
        body = package({f"f{number}.txt": str(number), "metadata/metadata.csv": CATALOGUED_CSV})
        client.put_object(Bucket=bucket, Key=f"born-digital/{number:04d}.zip", Body=body)
    expected = {u.run_id for u in uploads(client, bucket)}
    before = set(ingest_runs(airflow_env))
    watch()
    assert set(ingest_runs(airflow_env)) - before == expected
    assert len(expected) == 50


@pytest.mark.parametrize(
    "identifier, space",
    [("PP/MDM/A/3/1a", "born-digital"), ("archivematica-dev/TEST/1", "testing")],
)
def test_an_uploaded_package_becomes_an_aip_in_its_s3_space_found_by_identifier(
    airflow_env, home, s3, monkeypatch, identifier, space
):
    from preservation.s3_storage import S3Location

    client, bucket = s3
    monkeypatch.setenv("PRESERVATION_AIP_STORE", f"s3://{bucket}/aips")
    body = package(
        {"a.txt": "a", "metadata/metadata.csv": f"filename,dc.identifier\nobjects/,{identifier}\n"}
    )
    client.put_object(Bucket=bucket, Key="born-digital/1234.zip", Body=body)
    code, result, output = ingest(f"s3://{bucket}/born-digital/1234.zip", "born_digital")
    assert code == 0, output
    assert result["aip_path"].startswith(f"s3://{bucket}/aips/{space}/")
    [stored] = S3Location(client, bucket, "aips", space).index.versions(identifier)
    assert stored.aip_uuid == result["aip_uuid"] and stored.space == space
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "born-digital/1234.zip" in keys  # the upload stays in the bucket
    assert not list((home.shared_directory / "downloads").glob("*"))  # the copy is gone
    assert list(home.processing_directory.iterdir()) == []  # cleaned up once verified


def test_a_transfer_failing_after_upload_leaves_the_source_in_the_bucket(
    airflow_env, home, s3, monkeypatch
):
    from tests.conftest import EICAR

    client, bucket = s3
    monkeypatch.setenv("PRESERVATION_AIP_STORE", f"s3://{bucket}/aips")
    body = package(
        {"a.txt": "a", "virus.com": EICAR.decode(), "metadata/metadata.csv": CATALOGUED_CSV}
    )
    client.put_object(Bucket=bucket, Key="born-digital/1234.zip", Body=body)
    code, result, _ = ingest(f"s3://{bucket}/born-digital/1234.zip", "born_digital")
    assert code == 1 and result["failed_task"] == "scan_for_viruses"
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "born-digital/1234.zip" in keys
    assert not any(k.startswith("aips/") for k in keys)  # nothing stored


def test_the_test_transfer_dag_uploads_a_valid_test_package(airflow_env, home, s3, tmp_path):
    from preservation import preflight
    from preservation.settings import Limits

    client, bucket = s3
    ensure_airflow_database()
    done = airflow_cli("dags", "test", "test_transfer", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    local = tmp_path / "test_package.zip"
    client.download_file(bucket, "born-digital/test_package.zip", str(local))
    report = preflight.check(local, "catalogued", Limits())
    assert report.success and report.identifier == "archivematica-dev/TEST/1"
    watch()  # picked up like any upload, under the test identifier
    assert [u for u in uploads(client, bucket) if u.key.endswith("test_package.zip")] == []


def test_a_transfer_whose_upload_cannot_be_read_fails_as_a_system_fault(airflow_env, home, s3):
    client, bucket = s3
    code, result, _ = ingest(f"s3://{bucket}/born-digital/missing.zip", "born_digital")
    assert code == 1 and result["failed_task"] == "receive_transfer"
    assert "StorageUnavailable: Cannot download" in result["reason"]
    assert "born-digital/missing.zip" in result["reason"]


def test_an_upload_replaced_after_it_was_checked_is_not_processed_in_its_place(
    airflow_env, home, s3
):
    client, bucket = s3
    key = "born-digital/1234.zip"
    client.put_object(Bucket=bucket, Key=key, Body=GOOD)
    [checked] = uploads(client, bucket)
    client.put_object(Bucket=bucket, Key=key, Body=package({"other.txt": "replaced"}))
    conf = {
        "transfer": checked.url,
        "processing_config": "born_digital",
        "etag": checked.etag,
        "transfer_id": checked.transfer_id,
    }
    ensure_airflow_database()
    done = airflow_cli("dags", "test", "transfer_ingest", "--conf", json.dumps(conf), timeout=600)
    output = done.stdout + done.stderr
    assert "was replaced after it was checked" in output, output[-3000:]
    assert f"this run is for ETag {checked.etag}" in output
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert not any(k.startswith("aips/") for k in keys) and key in keys
