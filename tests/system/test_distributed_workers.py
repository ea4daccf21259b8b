"""Scaling out: transfers uploaded to the S3 bucket are shared by two Celery workers of
the native topology (``preservation cluster up``), and a worker that dies in the middle
of a transfer costs a retry, not the transfer: the run completes on the other worker,
the source stays, and there is one AIP and one notification."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from tests.media import zip_bytes

pytestmark = pytest.mark.system


def upload(cluster, name: str, identifier: str, files: dict[str, str | bytes]):
    """Upload a born-digital transfer package (the watcher picks it up by itself); returns
    its Upload (run id, transfer id)."""
    metadata = f"filename,dc.identifier,dc.title\nobjects/,{identifier},{name}\n"
    key = f"born-digital/{name}.zip"
    body = zip_bytes({**files, "metadata/metadata.csv": metadata})
    cluster.s3().put_object(Bucket=cluster.bucket, Key=key, Body=body)
    return cluster.drop_box().upload(key)


def runs_of(workloads: dict[str, str], run_id: str) -> list[str]:
    return [w for w in workloads.values() if f"run_id='{run_id}'" in w]


def notifications_for(messages: list[dict], identifier: str) -> list[dict]:
    return [m for m in messages if m.get("identifier") == identifier]


def test_uploads_are_shared_by_both_workers_and_all_stored_and_indexed(airflow_cluster):
    cluster = airflow_cluster
    token = uuid.uuid4().hex[:8]
    identifiers = [f"PP/DIST/{token}/{n}" for n in range(3)]
    sent = [
        upload(
            cluster,
            f"PP_DIST_{token}_{n}",
            identifier,
            {f"letters/letter {i}.txt": f"letter {i} of box {n}" for i in range(10)},
        )
        for n, identifier in enumerate(identifiers)
    ]

    runs = [u.run_id for u in sent]
    states = cluster.wait_for_runs(runs, timeout=420)
    assert states == dict.fromkeys(runs, "success"), cluster.failure_reasons(runs)

    # Every AIP stored and indexed: by identifier and by the upload's transfer id.
    index = cluster.aip_location().index
    for item, identifier in zip(sent, identifiers):
        [stored] = index.versions(identifier)
        assert index.transfer_stored(item.transfer_id) == stored
        assert stored.space == "born-digital"
    # One born-digital notification per AIP.
    messages = cluster.sns()
    assert [len(notifications_for(messages, i)) for i in identifiers] == [1, 1, 1]

    # The work was shared: each worker ran tasks of these transfers.
    for worker in cluster.native.worker_names():
        done = cluster.celery_workloads(worker)
        assert any(runs_of(done, run) for run in runs), f"{worker} ran none"


def test_a_worker_killed_mid_transfer_costs_a_retry_on_the_other_worker(airflow_cluster):
    cluster = airflow_cluster
    native = cluster.native
    token = uuid.uuid4().hex[:8]
    identifier = f"PP/DIST/{token}/killed"
    # 40 MB of incompressible content: storing it takes long enough to be interrupted.
    item = upload(
        cluster,
        f"PP_DIST_{token}_killed",
        identifier,
        {"recording.bin": os.urandom(40 * 2**20), "notes.txt": "interview notes"},
    )

    def store_aip_running():
        tis = cluster.task_instances(item.run_id)
        store = tis.get("store_aip", {})
        return store.get("state") == "running" and store["external_executor_id"]

    celery_id = cluster.wait_for("Store AIP to start", store_aip_running, 420, interval=0.1)
    victim = cluster.kill_worker_running(celery_id)
    [survivor] = [w for w in native.worker_names() if w != victim]
    killed_at = time.monotonic()
    try:
        states = cluster.wait_for_runs([item.run_id], timeout=420)
        recovered_in = time.monotonic() - killed_at
        assert states == {item.run_id: "success"}, cluster.failure_reasons([item.run_id])

        # Store AIP's first try died with the worker (the scheduler failed it when its
        # heartbeats stopped); the second ran on the other worker.
        store = cluster.task_instances(item.run_id)["store_aip"]
        assert store["try_number"] == 2
        [(first_try,)] = cluster.query(
            "SELECT state FROM task_instance_history WHERE dag_id = 'transfer_ingest' "
            "AND run_id = %s AND task_id = 'store_aip' AND try_number = 1",
            (item.run_id,),
        )
        assert first_try == "failed"
        assert store["external_executor_id"] in cluster.celery_workloads(survivor)
        # The worker logs show tasks of this one transfer on both workers.
        on_victim = runs_of(cluster.celery_workloads(victim), item.run_id)
        on_survivor = runs_of(cluster.celery_workloads(survivor), item.run_id)
        assert any("task_id='store_aip'" in w for w in on_victim)
        for task in ("store_aip", "clean_up"):
            assert any(f"task_id='{task}'" in w for w in on_survivor), task

        # No lost source: the upload is still in the transfer bucket, unchanged.
        head = cluster.s3().head_object(Bucket=cluster.bucket, Key=item.key)
        assert head["ETag"] == item.etag
        # No duplicate AIP: one version of the identifier, one AIP under the space.
        index = cluster.aip_location().index
        [stored] = index.versions(identifier)
        assert index.transfer_stored(item.transfer_id) == stored
        keys = [
            o["Key"]
            for page in cluster.s3()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=cluster.aip_bucket, Prefix="aips/born-digital/")
            for o in page.get("Contents", [])
            if f"PP_DIST_{token}_killed-" in o["Key"]
        ]
        assert keys and {k.split(f"PP_DIST_{token}_killed-")[1][:36] for k in keys} == {
            stored.aip_uuid
        }
        location = cluster.aip_location()
        assert location.verify(location.url(stored), stored.sha256).success
        # No duplicate notification.
        assert len(notifications_for(cluster.sns(), identifier)) == 1
        print(f"run recovered {recovered_in:.0f} s after the worker was killed")
    finally:
        cluster.restart_worker(victim)


def test_the_daily_housekeeping_clears_old_runs_from_a_celery_worker(airflow_cluster):
    # Airflow blanks the metadata database's URL in task processes; the deployment gives
    # `airflow db clean` its own (PRESERVATION_METADATA_DB).
    cluster = airflow_cluster

    def housekeeping_finished():
        rows = cluster.query("SELECT state FROM dag_run WHERE dag_id = 'housekeeping'")
        return rows and all(state in ("success", "failed") for (state,) in rows) and rows

    assert cluster.wait_for("the housekeeping run", housekeeping_finished, 300) == [("success",)]
    [(try_number,)] = cluster.query(
        "SELECT try_number FROM task_instance WHERE dag_id = 'housekeeping' "
        "AND task_id = 'clear_old_runs'"
    )
    assert try_number == 1
