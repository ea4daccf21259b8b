"""The DAG folder loads cleanly and transfer_ingest is wired as Archivematica's chain."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from preservation.pipeline import DECISIONS
from tests.conftest import STAGES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    import os

    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow-parse")))
    sys.path.insert(0, str(REPO / "plugins"))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_the_dag_folder_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "transfer_ingest" in dagbag.dags


def test_transfer_ingest_is_tagged_documented_retried_and_never_catches_up(dagbag):
    dag = dagbag.dags["transfer_ingest"]
    assert {"preservation", "ingest"} <= set(dag.tags)
    assert "processing_config" in dag.doc_md
    assert dag.catchup is False
    assert dag.schedule is None
    for task in dag.tasks:
        assert task.retries >= 0
        assert task.trigger_rule == "none_failed", task.task_id
        # A decision's wait is bounded by its configuration's response time-out instead.
        assert task.execution_timeout is not None or task.task_id in DECISIONS


def test_default_args_retry_system_faults(monkeypatch):
    # Retries come from PRESERVATION_TASK_RETRIES (tests set 0); production default is 2.
    source = (REPO / "dags" / "transfer_ingest.py").read_text()
    assert '"PRESERVATION_TASK_RETRIES", "2"' in source


def test_tasks_follow_archivematicas_micro_services_in_order(dagbag):
    dag = dagbag.dags["transfer_ingest"]
    order = [t.task_id for t in dag.topological_sort()]
    assert order == [
        *STAGES[: STAGES.index("extract_packages") + 1],
        "plan_file_chunks",
        "characterize_files",
        "validate_files",
        "approve_transfer",  # Archivematica's decision points, where it asks them
        "create_sip",
        "choose_normalization",
        "normalize_files",
        "transcribe_files",
        "generate_aip_mets",
        "add_readme",
        "prepare_aip",
        "compress_aip",
        "review_aip",
        "store_aip",
        "store_dip",
        "clean_up",
    ]


def test_per_file_stages_are_mapped_over_the_planned_chunks(dagbag):
    from preservation.pipeline import PER_FILE

    dag = dagbag.dags["transfer_ingest"]
    mapped = {t.task_id for t in dag.tasks if t.is_mapped}
    assert mapped == set(PER_FILE)
    for service in PER_FILE:
        assert "plan_file_chunks" in dag.get_task(service).get_flat_relative_ids(upstream=True)


@pytest.mark.parametrize("service", STAGES)
def test_each_task_shows_its_micro_service_name(dagbag, service):
    task = dagbag.dags["transfer_ingest"].get_task(service)
    module = importlib.import_module(f"preservation.services.{service}")
    assert task.task_display_name == module.NAME


def test_the_processing_configuration_param_offers_every_configuration(dagbag):
    from preservation.core import processing_config

    params = dagbag.dags["transfer_ingest"].params
    assert params.get_param("processing_config").schema["enum"] == processing_config.available()
    assert {"default", "automated", "born_digital", "b_dig_accessions"} <= set(
        processing_config.available()
    )


def test_the_dag_file_parses_without_importing_the_micro_services():
    # Parsing must stay fast: the micro-service modules load in the task, not at parse.
    code = (
        "import sys; sys.path.insert(0, 'plugins'); import runpy; "
        "runpy.run_path('dags/transfer_ingest.py'); "
        "print(sorted(m for m in sys.modules if m.startswith('preservation.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    loaded = eval(out.strip().splitlines()[-1])
    assert not {f"preservation.services.{s}" for s in STAGES} & set(loaded)


def test_the_preservation_library_never_imports_airflow():
    import re

    pattern = re.compile(r"^\s*(import|from)\s+airflow\b", re.MULTILINE)
    offenders = [
        p.name for p in (REPO / "preservation").rglob("*.py") if pattern.search(p.read_text())
    ]
    assert offenders == []


def test_transfer_watcher_runs_continuously_waits_deferred_and_never_duplicates(dagbag):
    dag = dagbag.dags["transfer_watcher"]
    assert type(dag.timetable).__name__ == "ContinuousTimetable"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert "feedback log" in dag.doc_md
    order = [t.task_id for t in dag.topological_sort()]
    assert order == [
        "wait_for_uploads",
        "verify_uploads",
        "start_transfer_ingest",
        "write_feedback_logs",
    ]
    wait = dag.get_task("wait_for_uploads")
    assert wait.poll_seconds <= 5  # the trigger looks within seconds
    assert not getattr(wait, "soft_fail", False)  # a broken drop box fails, never skips
    start = dag.get_task("start_transfer_ingest")
    assert start.is_mapped
    assert start.partial_kwargs["trigger_dag_id"] == "transfer_ingest"
    assert start.partial_kwargs["skip_when_already_exists"] is True
    assert dag.get_task("write_feedback_logs").trigger_rule == "none_failed"
    for task in dag.tasks:
        assert task.on_failure_callback and task.on_retry_callback  # alerts, once per outage


def test_the_weekly_monitor_runs_mondays_at_06_15_without_catching_up(dagbag):
    dag = dagbag.dags["transfer_monitor"]
    assert dag.schedule == "15 6 * * 1"
    assert dag.catchup is False and dag.max_active_runs == 1 and dag.doc_md
    assert [t.task_id for t in dag.topological_sort()] == [
        "survey_transfers",
        "post_report",
        "delete_stored_sources",
    ]
    assert all(t.retries >= 1 and t.retry_exponential_backoff for t in dag.tasks)


def test_the_fixity_audit_runs_daily_and_retries_its_slack_post(dagbag):
    from datetime import timedelta

    dag = dagbag.dags["fixity_audit"]
    assert dag.schedule == timedelta(days=1)
    assert dag.catchup is False and dag.max_active_runs == 1
    assert [t.task_id for t in dag.topological_sort()] == ["check_fixity", "report_failures"]
    assert dag.get_task("check_fixity").period_days == 90
    assert all(t.retries >= 1 for t in dag.tasks)


def test_housekeeping_runs_daily_and_never_catches_up(dagbag):
    dag = dagbag.dags["housekeeping"]
    assert dag.schedule == "@daily"
    assert dag.catchup is False
    assert "airflow db clean" in dag.get_task("clear_old_runs").bash_command


def test_clearing_old_runs_on_a_worker_without_the_database_url_says_what_to_set(dagbag):
    # On a worker Airflow blanks the metadata database's URL in task processes.
    command = dagbag.dags["housekeeping"].get_task("clear_old_runs").bash_command
    env = {
        "PATH": "/usr/bin:/bin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "airflow-db-not-allowed:///",
    }
    done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "Set PRESERVATION_METADATA_DB on the workers" in done.stderr


def test_stored_aips_are_an_asset_other_dags_can_be_scheduled_on(dagbag):
    store = dagbag.dags["transfer_ingest"].get_task("store_aip")
    assert [o.name for o in store.outlets] == ["stored_aips"]
    assert dagbag.dags["transfer_ingest"].get_task("scan_for_viruses").on_failure_callback


def test_aip_deletion_asks_then_waits_for_another_person_then_deletes(dagbag):
    from airflow.providers.standard.operators.hitl import HITLOperator

    dag = dagbag.dags["aip_deletion"]
    assert [t.task_display_name for t in _in_order(dag)] == [
        "Request AIP deletion",
        "Approve AIP deletion",
        "Delete AIP",
        "Tell Slack",
    ]
    approve = dag.get_task("approve_deletion")
    assert isinstance(approve, HITLOperator)
    assert approve.options == ["Approve", "Reject"] and approve.defaults == ["Reject"]
    assert approve.response_timeout.total_seconds() == 168 * 3600
    assert dag.schedule is None and "Archivist" in dag.access_control


def _in_order(dag):
    task, ordered = [t for t in dag.tasks if not t.upstream_task_ids][0], []
    while task:
        ordered.append(task)
        task = next(iter(task.downstream_list), None)
    return ordered
