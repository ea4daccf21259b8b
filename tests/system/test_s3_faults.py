"""S3 failing on every call path of the production topology, through the fault proxy the
session's cluster reaches S3 by (tests/s3_faults.py): the watcher's listing, the
download, the AIP's multipart upload (start, parts, completion), the read-back, the
index writes, the feedback log and tag writes, and the weekly monitor's deletes. Each
kind of fault (500, SlowDown, a connection reset part-way through a body, an answer that
never comes) hits each path, on a package with real content; the run ends as if nothing
happened. A fault that outlasts the client's retries fails the task with a message
naming the object, and Airflow's retry of the task completes it."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from preservation.deploy.topology import s3_client_config
from tests import media
from tests.s3_faults import KINDS, Rule
from tests.system.conftest import FINISHED, upload_package

pytestmark = pytest.mark.system


def wait_for_dag_run(cluster, dag_id: str, run_id: str, timeout: float = 300) -> str:
    def finished():
        rows = cluster.query(
            "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id)
        )
        return rows and rows[0][0] in FINISHED and rows[0][0]

    return cluster.wait_for(f"{dag_id} {run_id} to finish", finished, timeout)


def test_every_kind_of_s3_fault_on_every_call_path_loses_nothing_and_doubles_nothing(
    airflow_cluster, session_slack
):
    cluster = airflow_cluster
    token = uuid.uuid4().hex[:8]
    name, identifier = f"FAULTS_{token}", f"PP/FAULTS/{token}"
    transfers, aips = re.escape(cluster.bucket), re.escape(cluster.aip_bucket)
    upload_path = rf"^/{transfers}/born-digital/{name}\.zip$"
    aip = rf"^/{aips}/aips/born-digital/[^?]*/{name}-[^/]*$"  # the AIP package
    # A package of real content, its AIP over the cluster's 5 MiB part size.
    files = {
        "recordings/session.bin": os.urandom(11 * 1024 * 1024),
        "reports/annual report.pdf": media.pdf(),
        "photos/harbour.png": media.image("png"),
        "letters/letter.txt": b"Dear archivist,\n",
    }
    rules = cluster.faults.inject(
        Rule("watcher's listing", "GET", rf"^/{transfers}$", query=("list-type",)),
        Rule("download", "GET", upload_path, without=("tagging",)),
        Rule("tag writes", "PUT", upload_path, query=("tagging",)),
        Rule("feedback log", "PUT", rf"^/{transfers}/born-digital/{name}\.zip\..*\.log$"),
        Rule("multipart start", "POST", aip, query=("uploads",)),
        Rule("multipart parts", "PUT", aip, query=("partNumber",)),
        Rule("multipart completion", "POST", aip, query=("uploadId",)),
        Rule("read-back", "GET", aip),
        Rule("index writes", "PUT", rf"^/{aips}/aips/index/"),
    )
    try:
        key = upload_package(cluster, name, identifier, files)
        upload = cluster.run_started_for(key)
        states = cluster.wait_for_runs([upload.run_id], timeout=900)
    finally:
        cluster.faults.clear()
    assert states == {upload.run_id: "success"}, cluster.failure_reasons([upload.run_id])

    # Every path met every kind of fault, and the client's retries absorbed them all:
    # no task of the run had to be tried again.
    assert {r.name: r.hits for r in rules} == {r.name: list(KINDS) for r in rules}
    retried = {
        task: ti["try_number"]
        for task, ti in cluster.task_instances(upload.run_id).items()
        if ti["try_number"] > 1
    }
    assert retried == {}
    # Nothing lost: the source, unchanged, and one feedback log saying success.
    head = cluster.s3().head_object(Bucket=cluster.bucket, Key=key)
    assert head["ETag"] == upload.etag
    assert [k.split(".")[-3] for k in cluster.drop_box().feedback_logs(key)] == ["success"]
    # Nothing doubled: one run, one AIP version that verifies, one notification, no
    # unfinished multipart upload left in the AIP bucket.
    assert list(cluster.ingest_runs_for(upload.url)) == [upload.run_id]
    location = cluster.aip_location()
    [stored] = location.index.versions(identifier)
    assert location.verify(location.url(stored), stored.sha256).success
    assert len([m for m in cluster.sns() if m.get("identifier") == identifier]) == 1
    pending = cluster.s3().list_multipart_uploads(Bucket=cluster.aip_bucket)
    assert [u["Key"] for u in pending.get("Uploads", []) if name in u["Key"]] == []

    # The weekly monitor deletes the stored upload's source through failing deletes.
    [deletes] = cluster.faults.inject(
        Rule("monitor's deletes", "DELETE", rf"^/{transfers}/born-digital/{name}\.zip")
    )
    reports = len(session_slack.messages)
    run_id = f"monitor_{token}"
    try:
        done = cluster.airflow("dags", "trigger", "transfer_monitor", "--run-id", run_id)
        assert done.returncode == 0, done.stdout + done.stderr
        assert wait_for_dag_run(cluster, "transfer_monitor", run_id) == "success"
    finally:
        cluster.faults.clear()
    assert deletes.hits == list(KINDS)
    left = cluster.s3().list_objects_v2(Bucket=cluster.bucket, Prefix=f"born-digital/{name}")
    assert left.get("KeyCount") == 0
    assert len(session_slack.messages) == reports + 1


def test_an_s3_outage_past_the_retries_fails_the_task_naming_the_object_and_its_retry_completes(
    airflow_cluster,
):
    cluster = airflow_cluster
    token = uuid.uuid4().hex[:8]
    name, identifier = f"OUTAGE_{token}", f"PP/OUTAGE/{token}"
    # The watcher reads the upload once to check it; then every try of the next read
    # (Receive transfer's first try) fails.
    every_try = 1 + s3_client_config()["retries"]["max_attempts"]
    path = rf"^/{re.escape(cluster.bucket)}/born-digital/{name}\.zip$"
    [outage] = cluster.faults.inject(
        Rule(
            "download", "GET", path, without=("tagging",), faults=("500",), times=every_try, after=1
        )
    )
    try:
        key = upload_package(cluster, name, identifier, {"letter.txt": b"a letter"})
        upload = cluster.run_started_for(key)
        states = cluster.wait_for_runs([upload.run_id], timeout=600)
    finally:
        cluster.faults.clear()
    assert states == {upload.run_id: "success"}, cluster.failure_reasons([upload.run_id])
    assert outage.hits == ["500"] * every_try

    receive = cluster.task_instances(upload.run_id)["receive_transfer"]
    assert receive["try_number"] == 2
    first_try = (
        cluster.airflow_home
        / "logs"
        / "dag_id=transfer_ingest"
        / f"run_id={upload.run_id}"
        / "task_id=receive_transfer"
        / "attempt=1.log"
    ).read_text()
    assert f"Cannot read s3://{cluster.bucket}/{key}" in first_try
    assert "reached max retries" in first_try
    [stored] = cluster.aip_location().index.versions(identifier)
    assert stored.version == 1
