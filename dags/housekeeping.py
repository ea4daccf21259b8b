"""
### housekeeping: old working copies and old run history go; storage is never touched

Daily (`PRESERVATION_HOUSEKEEPING_SCHEDULE`, `@daily`):

* **Remove failed runs' working copies**: a stored transfer's working copies go at Clean
  up; a failed one's are kept `PRESERVATION_KEEP_FAILED_DAYS` (14) days for a look, then
  removed here.
* **Clear old runs from the dashboard**: Airflow's own `airflow db clean` removes run
  history (runs, task instances, XComs, logs' index) older than
  `PRESERVATION_KEEP_HISTORY_DAYS` (90) days. On Celery workers this needs
  `PRESERVATION_METADATA_DB` (the metadata database's URL): Airflow keeps task code away
  from its database otherwise.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import chain, dag

from preservation_airflow import dag_defaults
from preservation_airflow.operators.housekeeping import SweepProcessingOperator

KEEP_HISTORY_DAYS = float(os.environ.get("PRESERVATION_KEEP_HISTORY_DAYS", "90"))


@dag(
    dag_id="housekeeping",
    schedule=os.environ.get("PRESERVATION_HOUSEKEEPING_SCHEDULE", "@daily"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["preservation", "housekeeping"],
    default_args=dag_defaults.retry_args("PRESERVATION_TASK_RETRIES", "2"),
)
def housekeeping():
    sweep = SweepProcessingOperator(
        task_id="remove_failed_working_copies",
        task_display_name="Remove failed runs' working copies",
        keep_failed_days=float(os.environ.get("PRESERVATION_KEEP_FAILED_DAYS", "14")),
    )
    history = BashOperator(
        task_id="clear_old_runs",
        task_display_name="Clear old runs from the dashboard",
        params={"keep_days": KEEP_HISTORY_DAYS},
        # Airflow keeps tasks away from its metadata database (their
        # AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is "airflow-db-not-allowed:///" on a worker),
        # so `airflow db clean` is given the URL explicitly: PRESERVATION_METADATA_DB.
        bash_command=(
            'db="${PRESERVATION_METADATA_DB:-}"; '
            'case "${db:-${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}}" in airflow-db-not-allowed*) '
            'echo "Cannot clear old runs: Airflow keeps tasks away from its metadata '
            "database. Set PRESERVATION_METADATA_DB on the workers to the database URL "
            '(as AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)." >&2; exit 1;; esac; '
            'if [ -n "$db" ]; then export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$db"; fi; '
            "airflow db clean --yes --skip-archive "
            "--tables dag_run,task_instance,xcom,log,job,asset_event "
            "--clean-before-timestamp "
            '"{{ (data_interval_end - macros.timedelta(days=params.keep_days)).isoformat() }}"'
        ),
    )
    chain(sweep, history)


housekeeping()
