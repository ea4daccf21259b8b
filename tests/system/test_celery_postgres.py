"""transfer_ingest on the production topology: PostgreSQL metadata database, Celery
executor on Redis, api-server, scheduler, dag-processor and a Celery worker as native
processes, runs triggered with ``airflow dags trigger`` as an operator would."""

from __future__ import annotations

import uuid

import bagit
import pytest

from preservation.pipeline import DECISIONS, PER_FILE
from tests.conftest import EICAR, STAGES

pytestmark = pytest.mark.system


def stored_aips(cluster) -> list:
    """The AIPs of this test's transfers (the session's other tests store theirs too)."""
    return cluster.aip_location().index.versions("PP/MDM/A/3/1a")


def test_transfer_ingest_runs_on_celery_workers_with_postgres(
    airflow_cluster, make_transfer, tmp_path
):
    cluster = airflow_cluster
    clean = make_transfer(
        {"Café menu.txt": "soup", "letters 1920/letter one.txt": "Dear Sir"},
        as_zip=True,
        name="PP_MDM",
    )
    infected = make_transfer({"clean.txt": "fine", "docs/invoice.com": EICAR}, as_zip=True)
    token = uuid.uuid4().hex[:8]
    clean_run, infected_run = f"systest_clean_{token}", f"systest_eicar_{token}"
    cluster.trigger(
        {
            clean_run: {"transfer": str(clean), "processing_config": "automated"},
            infected_run: {"transfer": str(infected), "processing_config": "automated"},
        }
    )
    runs = [clean_run, infected_run]
    states = cluster.wait_for_runs(runs, timeout=300)
    expected = {clean_run: "success", infected_run: "failed"}
    assert states == expected, cluster.failure_reasons(runs)

    # Every task of the clean run succeeded or was skipped (a step with nothing to do).
    tasks = cluster.task_instances(clean_run)
    assert sorted(tasks) == sorted([*STAGES, *DECISIONS, "plan_file_chunks"])
    assert {
        t: ti["state"] for t, ti in tasks.items() if ti["state"] not in ("success", "skipped")
    } == {}
    assert tasks["store_aip"]["state"] == "success"

    # The AIP: an uncompressed bag in UUID quad directories in the S3 AIP store.
    [record] = stored_aips(cluster)
    aip_uuid = record.aip_uuid
    quads = record.key.split("/")[2:10]
    assert record.key.startswith("aips/born-digital/")
    assert quads == [uuid.UUID(aip_uuid).hex[i : i + 4] for i in range(0, 32, 4)]
    location = cluster.aip_location()
    bag_dir = location.download(location.url(record), tmp_path)
    assert bag_dir.name == f"PP_MDM-{aip_uuid}"
    bag = bagit.Bag(str(bag_dir))
    bag.validate()
    assert bag.info["Internal-Sender-Identifier"] == aip_uuid
    assert (bag_dir / "data" / f"METS.{aip_uuid}.xml").is_file()

    # The verdict on the infected transfer: failed at once, no retry despite retries=2.
    infected_tasks = cluster.task_instances(infected_run)
    assert infected_tasks["scan_for_viruses"]["state"] == "failed"
    assert infected_tasks["scan_for_viruses"]["try_number"] == 1
    assert infected_tasks["store_aip"]["state"] == "upstream_failed"
    reason = cluster.failure_reasons(runs)[(infected_run, "scan_for_viruses")]
    assert "objects/docs/invoice.com: Eicar-Test-Signature" in reason
    assert stored_aips(cluster) == [record]  # nothing stored for it

    # Every task that ran went through Celery: sent to this session's queue (the per-file
    # stages to its heavy queue) under a Celery task id, which a worker logged when it
    # picked the workload up and wrote to the result backend (PostgreSQL's
    # celery_taskmeta) when it finished.
    picked_up = cluster.celery_workloads()
    ran = [
        (run, task, ti)
        for run, tis in ((clean_run, tasks), (infected_run, infected_tasks))
        for task, ti in tis.items()
        if ti["state"] in ("success", "skipped", "failed")
    ]
    assert len(ran) == len(STAGES) + len(DECISIONS) + 1 + STAGES.index("scan_for_viruses") + 1
    # The worker writes the result a moment after Airflow records the task's state.
    results = cluster.wait_for(
        "every Celery result to be written",
        lambda: (
            (found := cluster.celery_results())
            and all(found.get(ti["external_executor_id"]) == "SUCCESS" for _, _, ti in ran)
            and found
        ),
        timeout=60,
    )
    for run, task, ti in ran:
        celery_id = ti["external_executor_id"]
        queue = cluster.heavy_queue if task.split("[")[0] in PER_FILE else cluster.queue
        assert ti["queue"] == queue, (run, task, ti)
        assert celery_id and results.get(celery_id) == "SUCCESS", (run, task, ti, results)
        workload = picked_up.get(celery_id, "")
        assert f"task_id='{task}'" in workload and f"run_id='{run}'" in workload, (run, task)
