"""The chaos sweep: a Celery worker SIGKILLed while each task of the pipeline runs, one
position at a time, on the production topology. Airflow runs tasks at least once, so
every position must end as if nothing happened: the run completes (the killed try is
failed when its heartbeats stop and retried on the other worker), the upload is still in
the bucket, one AIP version is indexed and verifies, one SNS message and one feedback log
went out, and no working copy is left after Clean up.

Which positions run: ``PRESERVATION_CHAOS=all`` (``make chaos``) runs every one;
``PRESERVATION_CHAOS=store_aip,clean_up`` names some; otherwise (CI) a sample of
:data:`SAMPLE` positions chosen from the commit, so that over successive commits every
position is hit. Each finished position adds a line to
``var/chaos/results.jsonl`` (position, seconds from the kill to the run's end, tries).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from preservation import pipeline
from preservation.core.settings import load_settings
from tests import media
from tests.media import zip_bytes
from tests.system.conftest import REPO

pytestmark = pytest.mark.system

#: Every task a kill can hit: the watcher's, then transfer_ingest's (mapped ones at
#: their first chunk).
POSITIONS = [
    ("transfer_watcher", "verify_uploads"),
    ("transfer_watcher", "start_transfer_ingest"),
    ("transfer_watcher", "write_feedback_logs"),
    ("transfer_ingest", "plan_file_chunks"),
    *(("transfer_ingest", stage) for stage in pipeline.TRANSFER_INGEST),
]
SAMPLE = 2
RESULTS = REPO / "var" / "chaos" / "results.jsonl"


def chosen() -> list[tuple[str, str]]:
    wanted = os.environ.get("PRESERVATION_CHAOS", "")
    if wanted == "all":
        return POSITIONS
    if wanted:
        names = set(wanted.split(","))
        return [p for p in POSITIONS if p[1] in names]
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    start = int(hashlib.sha256(commit.encode()).hexdigest(), 16) % len(POSITIONS)
    step = len(POSITIONS) // SAMPLE
    return [POSITIONS[(start + n * step) % len(POSITIONS)] for n in range(SAMPLE)]


def running_try(cluster, dag_id: str, task_id: str, run_id: str | None, since) -> dict | None:
    """The running try of that task (of the run, or of a watcher run started after
    ``since``): its run, map index and Celery task id."""
    rows = cluster.query(
        "SELECT run_id, map_index, external_executor_id FROM task_instance "
        "WHERE dag_id = %s AND task_id = %s AND state = 'running' AND map_index IN (-1, 0) "
        "AND external_executor_id IS NOT NULL "
        "AND (run_id = %s OR (%s IS NULL AND start_date > %s))",
        (dag_id, task_id, run_id, run_id, since),
    )
    return dict(zip(("run_id", "map_index", "celery_id"), rows[0])) if rows else None


@pytest.mark.parametrize("position", chosen(), ids=lambda p: f"{p[0]}.{p[1]}")
def test_a_worker_killed_at_this_position_loses_nothing_and_doubles_nothing(
    airflow_cluster, position
):
    cluster = airflow_cluster
    dag_id, task_id = position
    token = uuid.uuid4().hex[:8]
    name = f"CHAOS_{task_id}_{token}"
    identifier = f"PP/CHAOS/{token}"
    metadata = f"filename,dc.identifier,dc.title\nobjects/,{identifier},Chaos\n"
    # Real content of the odd kinds archivists send: a nested zip (extracted), a PDF, an
    # image, a sound, names beyond ASCII.
    files = {
        **{f"letters/letter {n}.txt": f"letter {n}" for n in range(3)},
        "letters/bundle.zip": zip_bytes({"inner/note.txt": "a note inside a zip"}),
        "reports/annual report.pdf": media.pdf(),
        "photos/harbour.png": media.image("PNG"),
        "sound/interview.wav": media.wav(),
        "notes/café – brève.txt": "des notes",
    }
    key = f"born-digital/{name}.zip"
    [(since,)] = cluster.query("SELECT now()")
    cluster.s3().put_object(
        Bucket=cluster.bucket, Key=key, Body=zip_bytes({**files, "metadata/metadata.csv": metadata})
    )
    upload = cluster.drop_box().upload(key)
    run_id = upload.run_id if dag_id == "transfer_ingest" else None

    hit = cluster.wait_for(
        f"{dag_id}.{task_id} to run",
        lambda: running_try(cluster, dag_id, task_id, run_id, since),
        timeout=420,
        interval=0.05,
    )
    victim = cluster.kill_worker_running(hit["celery_id"])
    killed_at = time.monotonic()
    try:
        states = cluster.wait_for_runs([upload.run_id], timeout=600)
        assert states == {upload.run_id: "success"}, cluster.failure_reasons([upload.run_id])

        # The kill did interrupt a try, which was retried. (A watcher task may finish
        # after the transfer_ingest run it started: wait for it too.)
        def retried():
            rows = cluster.query(
                "SELECT try_number, state FROM task_instance WHERE dag_id = %s "
                "AND run_id = %s AND task_id = %s AND map_index = %s",
                (dag_id, hit["run_id"], task_id, hit["map_index"]),
            )
            return rows and rows[0][1] in ("success", "skipped", "failed") and rows[0]

        tries, state = cluster.wait_for(f"{dag_id}.{task_id} to end", retried, timeout=600)
        recovered_in = time.monotonic() - killed_at
        # (a step with nothing to do for this package ends skipped, as it would have)
        assert tries >= 2 and state in ("success", "skipped")
        # The source stays, unchanged; one feedback log, saying success.
        head = cluster.s3().head_object(Bucket=cluster.bucket, Key=key)
        assert head["ETag"] == upload.etag
        drop_box = cluster.drop_box()
        assert [k.split(".")[-3] for k in drop_box.feedback_logs(key)] == ["success"]
        # One transfer_ingest run for the upload, one AIP version, and it verifies.
        assert list(cluster.ingest_runs_for(upload.url)) == [upload.run_id]
        index = cluster.aip_location().index
        [stored] = index.versions(identifier)
        assert index.transfer_stored(upload.transfer_id) == stored
        location = cluster.aip_location()
        assert location.verify(location.url(stored), stored.sha256).success
        # One born-digital notification.
        assert len([m for m in cluster.sns() if m.get("identifier") == identifier]) == 1
        # No working copy left behind.
        processing = load_settings(
            {"PRESERVATION_HOME": cluster.native.site.preservation_home}
        ).processing_directory
        left = [p.name for p in Path(processing).iterdir() if p.name.startswith(name)]
        assert left == []
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as results:
            line = {"position": f"{dag_id}.{task_id}", "recovered_s": round(recovered_in)}
            results.write(json.dumps({**line, "tries": tries}) + "\n")
    finally:
        cluster.restart_worker(victim)
