"""The weekly transfer monitor, the fixity audit, born-digital notifications and failure
alerts, run by Airflow (``airflow dags test`` / ``preservation ingest``) against moto's S3
and SNS and a local HTTP server standing in for Slack, through Airflow connections."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from preservation.storage.s3_storage import S3Location
from tests.airflow_support import airflow_cli, ensure_airflow_database, ingest
from tests.conftest import EICAR
from tests.preservation.test_transfer_source import package

pytestmark = pytest.mark.airflow


def dags_test(dag_id: str):
    ensure_airflow_database()
    return airflow_cli("dags", "test", dag_id, timeout=600)


def stored_upload(client, bucket, monkeypatch, identifier="PP/MDM/A/3/1a"):
    """An upload ingested into the S3 AIP store, tagged as the watcher tags it."""
    monkeypatch.setenv("PRESERVATION_AIP_STORE", f"s3://{bucket}/aips")
    key = f"born-digital/{identifier.replace('/', '_')}.zip"
    body = package(
        {"a.txt": "a", "metadata/metadata.csv": f"filename,dc.identifier\nobjects/,{identifier}\n"}
    )
    client.put_object(Bucket=bucket, Key=key, Body=body)
    code, result, output = ingest(f"s3://{bucket}/{key}", "born_digital")
    assert code == 0, output
    transfer = S3Location(client, bucket, "aips").index.record(result["aip_uuid"]).transfer_uuid
    client.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "transfer-id", "Value": transfer}]}
    )
    client.put_object(Bucket=bucket, Key=f"{key}.success.20261116T101500Z.log", Body=b"ok")
    return key, result


def test_the_weekly_monitor_reports_to_slack_and_deletes_only_stored_sources(
    airflow_env, home, s3, slack, monkeypatch
):
    client, bucket = s3
    monkeypatch.setenv("PRESERVATION_ENVIRONMENT", "staging")
    monkeypatch.setenv("PRESERVATION_RETRY_DELAY", "1")
    stored_key, _ = stored_upload(client, bucket, monkeypatch)
    failed_key = "born-digital/failed.zip"
    client.put_object(Bucket=bucket, Key=failed_key, Body=b"zip")
    client.put_object_tagging(
        Bucket=bucket,
        Key=failed_key,
        Tagging={
            "TagSet": [{"Key": "transfer-id", "Value": "9" * 8 + "-9999-4999-8999-" + "9" * 12}]
        },
    )
    slack.fail_next = 1  # Slack is down at first: the post is retried, the report kept

    done = dags_test("transfer_monitor")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [message] = slack.messages
    texts = [b["text"]["text"] for b in message["blocks"]]
    assert texts[0] == "Here’s what happened in Archivematica (staging) in the last 14 days:"
    assert texts[1].startswith("⚠️ *These packages didn’t get stored successfully:*\n")
    assert f"- {failed_key} (`9999" in texts[1]
    assert texts[2] == f"These packages were stored successfully:\n- {stored_key}"
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert stored_key not in keys and f"{stored_key}.success.20261116T101500Z.log" not in keys
    assert failed_key in keys


def test_a_stored_born_digital_aip_is_announced_once_even_when_store_aip_is_retried(
    airflow_env, home, s3, sns_queue, monkeypatch
):
    client, bucket = s3
    _, result = stored_upload(client, bucket, monkeypatch)
    rerun = airflow_cli("tasks", "test", "transfer_ingest", "store_aip", result["run_id"])
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    [message] = sns_queue()
    assert message["identifier"] == "PP/MDM/A/3/1a" and message["space"] == "born-digital"
    assert message["version"] == 1 and message["origin"] == "Archivematica"


def test_test_packages_are_not_announced(airflow_env, home, s3, sns_queue, monkeypatch):
    client, bucket = s3
    stored_upload(client, bucket, monkeypatch, identifier="archivematica-dev/TEST/1")
    assert sns_queue() == []


def test_a_failed_transfer_sends_one_slack_alert_naming_stage_reason_and_log(
    airflow_env, home, s3, slack
):
    client, bucket = s3
    key = "born-digital/infected.zip"
    body = package(
        {
            "a.txt": "a",
            "virus.com": EICAR.decode(),
            "metadata/metadata.csv": "filename,dc.identifier\nobjects/,X/1\n",
        }
    )
    client.put_object(Bucket=bucket, Key=key, Body=body)
    code, result, _ = ingest(f"s3://{bucket}/{key}", "born_digital")
    assert code == 1 and result["failed_task"] == "scan_for_viruses"
    [alert] = slack.messages
    assert f"*Package:* s3://{bucket}/{key}" in alert["text"]
    assert "*Stage:* Scan for viruses" in alert["text"]
    assert "Eicar-Test-Signature" in alert["text"]
    run = quote(result["run_id"])
    assert f"/dags/transfer_ingest/runs/{run}/tasks/scan_for_viruses" in alert["text"]


def test_the_fixity_audit_reports_a_damaged_stored_aip_to_slack(
    airflow_env, home, s3, slack, monkeypatch
):
    client, bucket = s3
    _, result = stored_upload(client, bucket, monkeypatch)
    location = S3Location(client, bucket, "aips")
    record = location.index.record(result["aip_uuid"])
    body = bytearray(client.get_object(Bucket=bucket, Key=record.key)["Body"].read())
    body[100] ^= 0xFF
    client.put_object(Bucket=bucket, Key=record.key, Body=bytes(body))

    done = dags_test("fixity_audit")
    assert done.returncode != 0  # the audit found damage: the run fails, red in the UI
    [alert] = slack.messages
    assert "*PP/MDM/A/3/1a*" in alert["text"] and result["aip_uuid"] in alert["text"]
    assert f"changed: {record.key.rsplit('/', 1)[1]}" in alert["text"]
    [kept] = location.index.records.keys(f"fixity/{result['aip_uuid']}/")
    assert kept.endswith("-package.json") or kept.endswith("-deep.json")


def test_housekeeping_clears_old_runs_and_failed_working_copies_but_no_storage(
    airflow_env, home, monkeypatch, package_until
):
    import sqlite3
    import time

    from preservation.operations import housekeeping

    package = package_until({"a.txt": "a"}, "create_sip")
    package.close()
    housekeeping.mark_failed(package, "manual__old")
    marker = home.shared_directory / "failed" / package.ref.transfer_dirname
    marker.write_text(marker.read_text().replace('"at": ', '"at": 1000.0, "was": '))
    home.aip_store.mkdir(parents=True, exist_ok=True)  # its index records every start
    (home.aip_store / "kept.txt").write_text("storage")

    def housekeeping_runs() -> set[str]:
        with sqlite3.connect(airflow_env / "airflow.db") as db:
            query = "SELECT run_id FROM dag_run WHERE dag_id = 'housekeeping'"
            return {run for (run,) in db.execute(query)}

    done = dags_test("housekeeping")  # a first run: history to clear
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    first = housekeeping_runs()
    time.sleep(12)
    # Keep 6 seconds of history: the first run goes, the running one stays.
    monkeypatch.setenv("PRESERVATION_KEEP_HISTORY_DAYS", str(6 / 86400))
    done = dags_test("housekeeping")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert first and not (first & housekeeping_runs())  # the older run is gone
    assert not package.transfer_dir.exists() and not package.sip_dir.exists()
    assert (home.aip_store / "kept.txt").read_text() == "storage"
