"""Run transfer_ingest for one transfer (or aip_reingest for one stored AIP), in this
process, and write the outcome as JSON.

Started by ``preservation ingest`` with the embedded environment (see
``preservation.deploy.embedded``); uses ``dag.test``, which runs every task in-process through
Airflow's in-process Execution API on the metadata database, with no scheduler.
"""

from __future__ import annotations

import argparse
import atexit
import getpass
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

DAG_ID = "transfer_ingest"
REINGEST_DAG_ID = "aip_reingest"


def _worst(a: str | None, b: str | None) -> str | None:
    rank = {"failed": 3, "upstream_failed": 2, "skipped": 0, "success": 1}
    return max(a, b, key=lambda s: rank.get(s or "", 2.5))


def outcome(dag, run_id: str, transfer: str) -> dict:
    """Read the finished run's task states and XComs into the CLI's JSON object."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from preservation.core.package import PackageRef

    dag_id = dag.dag_id
    ref = PackageRef.for_run(transfer, f"{dag_id}/{run_id}")
    with create_session() as session:
        states: dict[str, str | None] = {}
        for ti in session.scalars(select(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id)):
            # A mapped stage has one instance per chunk: it is as bad as its worst one.
            states[ti.task_id] = _worst(states.get(ti.task_id, "skipped"), ti.state)
        xcoms = {
            (x.task_id, x.key): x.value
            for x in session.scalars(select(XComModel).filter_by(dag_id=dag_id, run_id=run_id))
        }
    stored = xcoms.get(("store_aip", "return_value")) or {}
    compliance = xcoms.get(("verify_transfer_compliance", "return_value")) or {}
    reingested = xcoms.get(("reingest_aip", "return_value")) or {}
    result = {
        "status": "stored" if states.get("store_aip") == "success" else "failed",
        "aip_uuid": ref.aip_uuid,
        "aip_path": stored.get("aip_path"),
        "external_identifier": compliance.get("external_identifier")
        or reingested.get("identifier"),
        "dag_id": dag_id,
        "run_id": run_id,
    }
    if reingested:
        result["reingest_of"] = reingested.get("previous_aip")
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
    parser.add_argument("--transfer", default="")
    parser.add_argument("--reingest", default="", help="aip_reingest's conf, as JSON")
    parser.add_argument("--processing-config", default="default")
    parser.add_argument("--result", required=True)
    args = parser.parse_args()

    from airflow.dag_processing.dagbag import DagBag

    dag_id = REINGEST_DAG_ID if args.reingest else DAG_ID
    # The one DAG file (named as its DAG), not the whole folder: 1.7 s less before the
    # first task.
    bag = DagBag(dag_folder=str(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], f"{dag_id}.py")))
    if bag.import_errors or dag_id not in bag.dags:
        Path(args.result).write_text(
            json.dumps(
                {
                    "status": "failed",
                    "dag_id": dag_id,
                    "failed_task": None,
                    "reason": f"the DAG could not be loaded: {bag.import_errors}",
                }
            )
        )
        return
    dag = bag.get_dag(dag_id)
    _one_execution_api_version()
    conf = {"processing_config": args.processing_config, "user": getpass.getuser()}
    if args.reingest:
        conf |= json.loads(args.reingest)
        named = str(conf["aip"]).replace("/", "_")
        with _readable_run(named, args.processing_config, f"reingest-{conf.get('mode')}"):
            run = dag.test(run_conf=conf)
        Path(args.result).write_text(json.dumps(outcome(dag, run.run_id, "")))
        return
    with _readable_run(args.transfer, args.processing_config):
        run = dag.test(run_conf=conf | {"transfer": args.transfer})
    Path(args.result).write_text(json.dumps(outcome(dag, run.run_id, args.transfer)))


def _one_execution_api_version() -> None:
    """Build the in-process Execution API for the one version its only client speaks.

    ``dag.test`` answers the task runner's calls with Airflow's Execution API in this
    process, and Airflow builds that API's routes for every version it ever published
    (Cadwyn, at the first call): that took 6 of the 21 s of a one-file ingest on this
    machine, before the first task started. The task runner here is this Airflow's own,
    which speaks the newest version only."""
    from airflow.api_fastapi.execution_api import versions
    from airflow.api_fastapi.execution_api.routes import execution_api_router
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from cadwyn import HeadVersion, Version, VersionBundle
    from cadwyn.route_generation import _DELETED_ROUTE_TAG

    newest = versions.bundle.versions[0].value
    if newest != API_VERSION:
        raise RuntimeError(
            f"The task SDK speaks Execution API {API_VERSION}, the API's newest is {newest}: "
            "install matching apache-airflow and apache-airflow-task-sdk releases"
        )
    # Only that version: the routes that exist in older versions only are left out too
    # (Cadwyn refuses a route no version it knows restores).
    execution_api_router.routes[:] = [
        r for r in execution_api_router.routes if _DELETED_ROUTE_TAG not in getattr(r, "tags", ())
    ]
    versions.bundle = VersionBundle(HeadVersion(), Version(newest))


@contextmanager
def _readable_run(transfer: str, config: str, origin: str = "ingest") -> Iterator[None]:
    """Name the run after its package and give it its note, as the watcher's runs are.

    ``dag.test`` (Airflow's in-process runner) names its runs ``manual__<time>`` and takes
    neither a run id nor a note; it asks ``DagRun.generate_run_id`` for the name and
    ``get_or_create_dagrun`` for the run, so those two are given ours while it starts."""
    from airflow.models import dagrun

    from preservation.core.package import run_id_for, run_note

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    run_id = run_id_for(transfer, origin, stamp)
    reingest = origin.startswith("reingest")
    note = run_note(transfer, config, "" if reingest else _identifier(transfer))
    make_run = dagrun.get_or_create_dagrun
    name_run = dagrun.DagRun.generate_run_id

    def with_note(*args, **kwargs):
        run = make_run(*args, **kwargs)
        run.note = note
        return run

    dagrun.get_or_create_dagrun = with_note
    dagrun.DagRun.generate_run_id = staticmethod(lambda **_: run_id)
    try:
        yield
    finally:
        dagrun.get_or_create_dagrun = make_run
        dagrun.DagRun.generate_run_id = name_run


def _identifier(transfer: str) -> str:
    """The package's identifier for its note, read from its metadata.csv as pre-flight
    reads it ("" when it cannot be read: Verify transfer compliance will say why)."""
    from preservation.core.settings import load_settings
    from preservation.intake import preflight

    path = Path(transfer.removeprefix("file://"))
    settings = load_settings()
    if path.is_file():
        return preflight.check(path, "any", settings.limits, settings.tool_timeout).identifier
    csv = path / "metadata" / "metadata.csv"
    if path.is_dir() and csv.is_file():
        from preservation.metadata.transfer_metadata import read_metadata_csv

        info = read_metadata_csv(csv, "any", [])
        return info.identifier if info else ""
    return ""


def _leave() -> None:
    """End the process now that the result and the log are written.

    Python's teardown of the interpreter (every module and object Airflow, FastAPI and
    SQLAlchemy made) took 1.4 s after every run here, longer than the atexit handlers
    and the last task's clean-up together. The handlers still run (logging's flush and
    Airflow's among them); the teardown is skipped, unless a thread that Python would
    wait for is still working, and then the process ends as usual."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others):
        return
    atexit._run_exitfuncs()  # CPython's own runner of the registered handlers
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
    _leave()
