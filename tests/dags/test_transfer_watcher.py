"""transfer_watcher through Airflow (``airflow dags test``, its trigger run as Airflow runs it
in tests), on a drop box of each kind: an S3 bucket on moto's server, through the same
connection a deployment uses, and the embedded default's folder."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from preservation.intake.transfer_bucket import S3TransferSource
from preservation.intake.transfer_folder import FolderTransferSource
from tests.airflow_support import BIN, airflow_cli, ensure_airflow_database, ingest
from tests.conftest import CATALOGUED_CSV
from tests.preservation.test_transfer_source import GOOD, drop, package

pytestmark = pytest.mark.airflow


def ingest_runs(airflow_home: Path) -> dict[str, dict]:
    ensure_airflow_database()
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute(
            "SELECT run_id, conf FROM dag_run WHERE dag_id = 'transfer_ingest'"
        ).fetchall()
    return {run_id: json.loads(conf) if conf else {} for run_id, conf in rows}


def watch(expect_success: bool = True) -> str:
    """One transfer_watcher run, as its continuous schedule starts them."""
    ensure_airflow_database()
    done = airflow_cli("dags", "test", "transfer_watcher", timeout=600)
    output = done.stdout + done.stderr
    if expect_success:
        assert done.returncode == 0, output[-3000:]
    return output


def watch_in_background(log: Path) -> subprocess.Popen:
    """A transfer_watcher run going on while the test acts; its output goes to ``log``."""
    ensure_airflow_database()
    return subprocess.Popen(
        [str(BIN / "preservation"), "airflow", "dags", "test", "transfer_watcher"],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(autouse=True)
def no_outage_reported(airflow_env):
    """Each test starts with no watcher outage reported (the session shares a database)."""
    from preservation_airflow.notifications.alerts import WATCHER_ALERT

    ensure_airflow_database()
    with sqlite3.connect(airflow_env / "airflow.db") as db:
        db.execute("DELETE FROM variable WHERE key = ?", (WATCHER_ALERT,))


@pytest.fixture(params=["s3", "folder"])
def drop_box(request, airflow_env, home, monkeypatch, tmp_path):
    """The deployment's drop box of either kind; a watcher run ends 3 s after nothing new."""
    monkeypatch.setenv("PRESERVATION_WATCH_MINUTES", "0.05")
    monkeypatch.setenv("PRESERVATION_WATCH_POLL_SECONDS", "0.5")
    if request.param == "s3":
        client, bucket = request.getfixturevalue("s3")
        monkeypatch.setenv("PRESERVATION_TRANSFER_SOURCE", f"s3://{bucket}")
        return S3TransferSource(client, bucket)
    monkeypatch.delenv("PRESERVATION_TRANSFER_BUCKET", raising=False)
    monkeypatch.delenv("PRESERVATION_TRANSFER_SOURCE", raising=False)
    folder = FolderTransferSource(home.home / "transfers", settle_seconds=0)
    folder.create()
    return folder


def test_each_upload_starts_exactly_one_run_and_bad_ones_none(drop_box, airflow_env, tmp_path):
    good = drop(drop_box, "born-digital/1234.zip", GOOD, tmp_path)
    drop(drop_box, "born-digital/bad.zip", b"not a zip", tmp_path)
    time.sleep(2.1)  # a folder's copy counts once it has settled
    before = set(ingest_runs(airflow_env))
    watch()
    watch()  # nothing new: the run waits, deferred, then ends; no second run
    started = {k: v for k, v in ingest_runs(airflow_env).items() if k not in before}
    assert list(started) == [good.run_id]
    assert started[good.run_id]["transfer"] == good.url
    assert started[good.run_id]["transfer_source"] == drop_box.url
    assert started[good.run_id]["processing_config"] == "born_digital"
    logs = sorted(k for keys in drop_box.listing().logs.values() for k in keys)
    assert [k.rsplit(".", 2)[0] for k in logs] == [
        "born-digital/1234.zip.success",
        "born-digital/bad.zip.failed",
    ]
    assert {u.key for u in drop_box.listing().uploads} == {good.key, "born-digital/bad.zip"}


def test_an_upload_arriving_while_the_watcher_waits_wakes_it(
    drop_box, airflow_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_WATCH_MINUTES", "1")
    before = set(ingest_runs(airflow_env))
    log = tmp_path / "watcher.log"
    watcher = watch_in_background(log)
    try:
        deadline = time.monotonic() + 120
        while "Watching" not in log.read_text():  # deferred: nothing new yet
            assert watcher.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        accession = "filename,collection_reference,accession_number\nobjects/,SA/TIH,2314_2\n"
        body = package({"a.txt": "a", "metadata/metadata.csv": accession})
        upload = drop(drop_box, "born-digital-accessions/later.zip", body, tmp_path)
        assert watcher.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        watcher.kill()
    assert set(ingest_runs(airflow_env)) - before == {upload.run_id}
    assert "1 new upload(s): born-digital-accessions/later.zip" in log.read_text()


def test_fifty_uploads_at_once_all_get_their_run(airflow_env, home, s3, monkeypatch, tmp_path):
    client, bucket = s3
    monkeypatch.setenv("PRESERVATION_TRANSFER_SOURCE", f"s3://{bucket}")
    source = S3TransferSource(client, bucket)
    for number in range(50):
        body = package({f"f{number}.txt": str(number), "metadata/metadata.csv": CATALOGUED_CSV})
        client.put_object(Bucket=bucket, Key=f"born-digital/{number:04d}.zip", Body=body)
    expected = {u.run_id for u in source.new_uploads()}
    before = set(ingest_runs(airflow_env))
    watch()
    assert set(ingest_runs(airflow_env)) - before == expected
    assert len(expected) == 50
    assert source.new_uploads() == []  # every one has its feedback log


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("s3://no-such-bucket", "the bucket no-such-bucket does not exist. Create it"),
        ("file:///nowhere/transfers", "The drop box folder /nowhere/transfers does not exist"),
        ("s3://{bucket}", "The Airflow connection 'aws_default' is not defined"),
    ],
)
def test_a_drop_box_that_cannot_be_watched_fails_loudly_saying_what_to_fix(
    airflow_env, home, s3, slack, monkeypatch, setting, words
):
    _, bucket = s3
    monkeypatch.setenv("PRESERVATION_TRANSFER_SOURCE", setting.format(bucket=bucket))
    monkeypatch.setenv("PRESERVATION_WATCH_RETRIES", "0")
    if "aws_default" in words:
        monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")
    output = watch(expect_success=False)
    assert words in output
    assert "wait_for_uploads" in output and "failed" in output.lower()
    [alert] = slack.messages  # the failure alert, once
    assert alert["text"].startswith("🚨 *The drop box is not being watched in")
    assert words in alert["text"]
    watch(expect_success=False)  # the same outage again: no second alert
    assert len(slack.messages) == 1


def test_the_watcher_says_once_when_the_drop_box_is_watched_again(
    airflow_env, home, s3, slack, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_WATCH_RETRIES", "0")
    monkeypatch.setenv("PRESERVATION_WATCH_MINUTES", "0.05")
    real = f"s3://{s3[1]}"
    monkeypatch.setenv("PRESERVATION_TRANSFER_SOURCE", "s3://no-such-bucket")
    watch(expect_success=False)
    monkeypatch.setenv("PRESERVATION_TRANSFER_SOURCE", real)
    watch()
    watch()
    assert [m["text"][:1] for m in slack.messages] == ["🚨", "✅"]
    assert real in slack.messages[1]["text"]


@pytest.mark.parametrize(
    "identifier, space",
    [("PP/MDM/A/3/1a", "born-digital"), ("archivematica-dev/TEST/1", "testing")],
)
def test_an_uploaded_package_becomes_an_aip_in_its_s3_space_found_by_identifier(
    airflow_env, home, s3, monkeypatch, identifier, space
):
    from preservation.storage.s3_storage import S3Location

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
    # Nothing stored: the index has only the audit trail's "ingest started".
    assert not any(k.startswith("aips/") and not k.startswith("aips/index/") for k in keys)


def test_the_test_transfer_dag_puts_a_valid_test_package_in_the_drop_box(
    drop_box, airflow_env, tmp_path
):
    from preservation.core.settings import Limits
    from preservation.intake import preflight

    ensure_airflow_database()
    done = airflow_cli("dags", "test", "test_transfer", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [upload] = drop_box.listing().uploads
    assert upload.key == "born-digital/test_package.zip"
    local = tmp_path / "test_package.zip"
    drop_box.fetch(upload, local)
    report = preflight.check(local, "catalogued", Limits())
    assert report.success and report.identifier == "archivematica-dev/TEST/1"
    time.sleep(2.1)  # a folder's copy counts once it has settled
    watch()  # picked up like any upload, under the test identifier
    assert drop_box.new_uploads() == []


def test_a_transfer_whose_upload_cannot_be_read_fails_as_a_system_fault(airflow_env, home, s3):
    client, bucket = s3
    code, result, _ = ingest(f"s3://{bucket}/born-digital/missing.zip", "born_digital")
    assert code == 1 and result["failed_task"] == "receive_transfer"
    assert "StorageUnavailable: Cannot download" in result["reason"]
    assert "born-digital/missing.zip" in result["reason"]


def test_an_upload_replaced_after_it_was_checked_is_not_processed_in_its_place(
    drop_box, airflow_env, tmp_path
):
    key = "born-digital/1234.zip"
    checked = drop(drop_box, key, GOOD, tmp_path)
    time.sleep(0.01)
    drop(drop_box, key, package({"other.txt": "replaced"}), tmp_path)
    conf = {
        "transfer": checked.url,
        "transfer_source": drop_box.url,
        "processing_config": "born_digital",
        "etag": checked.etag,
        "transfer_id": checked.transfer_id,
    }
    ensure_airflow_database()
    done = airflow_cli("dags", "test", "transfer_ingest", "--conf", json.dumps(conf), timeout=600)
    output = done.stdout + done.stderr
    assert "was replaced after it was checked" in output, output[-3000:]
    assert f"this run is for ETag {checked.etag}" in output
    assert drop_box.upload(key) is not None  # the new upload stays, for its own run


def test_a_bucket_unreachable_while_the_watcher_waits_fails_loudly_and_loses_no_upload(
    airflow_env, home, s3, slack, moto_endpoint, monkeypatch, tmp_path
):
    from tests.conftest import TcpProxy

    client, bucket = s3
    # The watcher reaches S3 through a proxy that the test cuts; archivists' uploads
    # still land (they reach S3 directly).
    proxy = TcpProxy(int(moto_endpoint.rsplit(":", 1)[1]))
    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    connection["extra"]["endpoint_url"] = f"http://127.0.0.1:{proxy.port}"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("PRESERVATION_TRANSFER_SOURCE", f"s3://{bucket}")
    monkeypatch.setenv("PRESERVATION_WATCH_RETRIES", "0")
    monkeypatch.setenv("PRESERVATION_WATCH_MINUTES", "2")
    monkeypatch.setenv("PRESERVATION_WATCH_POLL_SECONDS", "0.5")
    log = tmp_path / "watcher.log"
    watcher = watch_in_background(log)
    try:
        deadline = time.monotonic() + 120
        while "Watching" not in log.read_text():
            assert watcher.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        proxy.down()
        client.put_object(Bucket=bucket, Key="born-digital/during.zip", Body=GOOD)
        assert watcher.wait(timeout=180) != 0  # the run fails: it cannot watch
    finally:
        watcher.kill()
        proxy.up()
    output = log.read_text()
    assert f"The drop box cannot be watched: Cannot list s3://{bucket}" in output
    assert "(failed 3 times in a row)" in output
    [alert] = slack.messages
    assert f"Cannot list s3://{bucket}" in alert["text"]
    assert "Uploads wait there unchecked until this is fixed" in alert["text"]

    before = set(ingest_runs(airflow_env))
    watch()  # S3 is back: the next run picks up what arrived meanwhile
    runs = ingest_runs(airflow_env)
    [run] = set(runs) - before
    assert run.startswith("during__born-digital__")  # named after its package
    assert runs[run]["transfer"].endswith("born-digital/during.zip")
    assert S3TransferSource(client, bucket).feedback_logs("born-digital/during.zip", "success")
    assert [m["text"][:1] for m in slack.messages] == ["🚨", "✅"]
    proxy.down()
