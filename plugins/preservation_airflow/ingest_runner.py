"""Run transfer_ingest for one transfer, in this process, and write the outcome as JSON.

Started by ``preservation ingest`` with the embedded environment (see
``preservation.embedded``); uses ``dag.test``, which runs every task in-process through
Airflow's in-process Execution API on the metadata database, with no scheduler.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
from pathlib import Path

DAG_ID = "transfer_ingest"


def _worst(a: str | None, b: str | None) -> str | None:
    rank = {"failed": 3, "upstream_failed": 2, "skipped": 0, "success": 1}
    return max(a, b, key=lambda s: rank.get(s or "", 2.5))


def outcome(dag, run_id: str, transfer: str) -> dict:
    """Read the finished run's task states and XComs into the CLI's JSON object."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from preservation.package import PackageRef

    ref = PackageRef.for_run(transfer, f"{DAG_ID}/{run_id}")
    with create_session() as session:
        states: dict[str, str | None] = {}
        for ti in session.scalars(select(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run_id)):
            # A mapped stage has one instance per chunk: it is as bad as its worst one.
            states[ti.task_id] = _worst(states.get(ti.task_id, "skipped"), ti.state)
        xcoms = {
            (x.task_id, x.key): x.value
            for x in session.scalars(select(XComModel).filter_by(dag_id=DAG_ID, run_id=run_id))
        }
    stored = xcoms.get(("store_aip", "return_value")) or {}
    compliance = xcoms.get(("verify_transfer_compliance", "return_value")) or {}
    result = {
        "status": "stored" if states.get("store_aip") == "success" else "failed",
        "aip_uuid": ref.aip_uuid,
        "aip_path": stored.get("aip_path"),
        "external_identifier": compliance.get("external_identifier"),
        "dag_id": DAG_ID,
        "run_id": run_id,
    }
    if result["status"] != "stored":
        order = [t.task_id for t in dag.topological_sort()]
        failed = next((t for t in order if states.get(t) == "failed"), None) or next(
            (t for t in order if states.get(t) not in ("success", "skipped")), None
        )
        result["failed_task"] = failed
        result["reason"] = xcoms.get((failed, "failure_reason")) or (
            f"task {failed} ended {states.get(failed)}"
        )
    elif states.get("clean_up") != "success":
        result["warning"] = "the AIP is stored but the working copies were not cleaned up"
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transfer", required=True)
    parser.add_argument("--processing-config", default="default")
    parser.add_argument("--result", required=True)
    args = parser.parse_args()

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors or DAG_ID not in bag.dags:
        Path(args.result).write_text(
            json.dumps(
                {
                    "status": "failed",
                    "dag_id": DAG_ID,
                    "failed_task": None,
                    "reason": f"the DAG could not be loaded: {bag.import_errors}",
                }
            )
        )
        return
    dag = bag.get_dag(DAG_ID)
    run = dag.test(
        run_conf={
            "transfer": args.transfer,
            "processing_config": args.processing_config,
            "user": getpass.getuser(),
        }
    )
    Path(args.result).write_text(json.dumps(outcome(dag, run.run_id, args.transfer)))


if __name__ == "__main__":
    main()
