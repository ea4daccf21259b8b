"""The archivist's path on the production topology, with nothing triggered by hand: uploads
land in the S3 transfer bucket over a minute, the continuously running transfer_watcher
(its wait deferred to the triggerer) answers each with a feedback log within seconds and
starts one transfer_ingest run per accepted package on the Celery workers, and every AIP
lands in its space, found by identifier. A triggerer restarted while it watches loses
nothing either."""

from __future__ import annotations

import time
import uuid

import pytest

from preservation.intake.transfer_source import FEEDBACK
from tests.media import zip_bytes
from tests.system.conftest import FINISHED

pytestmark = pytest.mark.system

#: Far below the 5-minute schedule the watcher once had, far above what it takes (a few
#: seconds): a watcher that only looked on a schedule fails this.
ANSWERED_WITHIN = 60


def good_package(identifier: str, name: str) -> bytes:
    metadata = f"filename,dc.identifier,dc.title\nobjects/,{identifier},{name}\n"
    return zip_bytes({f"{name}.txt": f"the letter {name}", "metadata/metadata.csv": metadata})


def feedback_logs(cluster) -> dict[str, dict]:
    """upload key -> its feedback log's key, verdict and time of writing."""
    found = {}
    for page in cluster.s3().get_paginator("list_objects_v2").paginate(Bucket=cluster.bucket):
        for item in page.get("Contents", []):
            match = FEEDBACK.match(item["Key"])
            if match:
                found[match["key"]] = {
                    "key": item["Key"],
                    "verdict": match["verdict"],
                    "written": item["LastModified"],
                }
    return found


def watcher_waiting(cluster) -> bool:
    """Whether the watcher waits for uploads, deferred to the triggerer (not busy)."""
    rows = cluster.query(
        "SELECT 1 FROM task_instance WHERE dag_id = 'transfer_watcher' "
        "AND task_id = 'wait_for_uploads' AND state = 'deferred'"
    )
    return bool(rows)


def test_uploads_over_a_minute_are_answered_within_seconds_and_stored_once(airflow_cluster):
    cluster = airflow_cluster
    client, bucket = cluster.s3(), cluster.bucket
    token = uuid.uuid4().hex[:8]
    good, bad = {}, {}
    for number in range(12):
        if number != 7:
            # Each upload lands while the watcher waits, so the trigger must notice it
            # (a watcher busy with the last upload would look again by itself anyway).
            cluster.wait_for("the watcher to wait", lambda: watcher_waiting(cluster), 120)
            time.sleep(1)
        key = f"born-digital/DROP_{token}_{number:02d}.zip"
        if number in (4, 9):
            body = b"not a zip" if number == 4 else zip_bytes({"letter.txt": "no metadata"})
            bad[key] = body
        else:
            good[key] = f"PP/DROP/{token}/{number}"
            body = good_package(good[key], f"letter{number}")
        client.put_object(Bucket=bucket, Key=key, Body=body)  # 6 and 7 in the same second
    uploads = {u.key: u for u in cluster.drop_box().listing().uploads if token in u.key}
    assert set(uploads) == set(good) | set(bad)

    # Every upload is answered, with nothing triggered by hand.
    logs = cluster.wait_for(
        "every upload's feedback log",
        lambda: (found := feedback_logs(cluster)) and set(uploads) <= set(found) and found,
        timeout=180,
    )
    late = {
        key: (logs[key]["written"] - upload.last_modified).total_seconds()
        for key, upload in uploads.items()
    }
    print("upload -> feedback log, s:", sorted(late.values()))
    assert {k: s for k, s in late.items() if s > ANSWERED_WITHIN} == {}
    assert {k: logs[k]["verdict"] for k in good} == dict.fromkeys(good, "success")
    assert {k: logs[k]["verdict"] for k in bad} == dict.fromkeys(bad, "failed")

    # A rejected upload: the reason in its log, and no run.
    for key in bad:
        text = client.get_object(Bucket=bucket, Key=logs[key]["key"])["Body"].read().decode()
        assert "WRONG:" in text and "rejected" in text
        assert cluster.ingest_runs_for(uploads[key].url) == {}
    broken = client.get_object(Bucket=bucket, Key=logs[min(bad)]["key"])["Body"].read()
    assert b"Unable to read transfer package: File is not a zip file" in broken

    # An accepted upload: exactly one run, its own, which stores the AIP in its space.
    def all_finished():
        states = {k: cluster.ingest_runs_for(uploads[k].url) for k in good}
        done = all(s and all(v in FINISHED for v in s.values()) for s in states.values())
        return states if done else None

    states = cluster.wait_for("the transfer_ingest runs", all_finished, timeout=600)
    expected = {k: {uploads[k].run_id: "success"} for k in good}
    assert states == expected, cluster.failure_reasons([u.run_id for u in uploads.values()])
    location = cluster.aip_location()
    for key, identifier in good.items():
        [stored] = location.index.versions(identifier)
        assert stored.space == "born-digital"
        assert location.index.transfer_stored(uploads[key].transfer_id) == stored
    # The sources stay in the bucket for the weekly monitor.
    assert {u.key for u in cluster.drop_box().listing().uploads} >= set(uploads)
    # Seen again and again by the watcher since: still one run each.
    assert {k: cluster.ingest_runs_for(uploads[k].url) for k in good} == expected


def test_a_triggerer_restarted_while_the_watcher_waits_loses_no_upload(airflow_cluster):
    cluster = airflow_cluster
    native = cluster.native
    cluster.wait_for("the watcher to wait", lambda: watcher_waiting(cluster), timeout=120)
    native.kill("airflow-triggerer")  # SIGKILL, its trigger with it
    del native.processes["airflow-triggerer"]
    native.start("airflow-triggerer")
    token = uuid.uuid4().hex[:8]
    key, identifier = f"born-digital/RESTART_{token}.zip", f"PP/RESTART/{token}"
    cluster.s3().put_object(
        Bucket=cluster.bucket, Key=key, Body=good_package(identifier, "restart")
    )
    upload = cluster.drop_box().upload(key)
    states = cluster.wait_for(
        "the run of the upload made while the triggerer restarted",
        lambda: (
            (r := cluster.ingest_runs_for(upload.url))
            and all(s in FINISHED for s in r.values())
            and r
        ),
        timeout=420,
    )
    assert states == {upload.run_id: "success"}, cluster.failure_reasons(list(states))
    assert feedback_logs(cluster)[key]["verdict"] == "success"
    [stored] = cluster.aip_location().index.versions(identifier)
    assert stored.space == "born-digital"
