"""
### stuck_transfers: runs that take far too long, questions nobody answers

Every `PRESERVATION_WATCHDOG_MINUTES` (15): a transfer_ingest run still going after
`PRESERVATION_STUCK_AFTER_MINUTES` (120) plus `PRESERVATION_STUCK_MINUTES_PER_GB` (30) for
each GB of its transfer, and a decision unanswered for
`PRESERVATION_DECISION_REMINDER_MINUTES` (240), are posted to Slack in one message, each
once (the AIP index remembers what was told).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag

from preservation_airflow import dag_defaults
from preservation_airflow.operators.watchdog import WatchStuckTransfersOperator


@dag(
    dag_id="stuck_transfers",
    schedule=timedelta(minutes=float(os.environ.get("PRESERVATION_WATCHDOG_MINUTES", "15"))),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["preservation", "slack", "monitoring"],
    default_args=dag_defaults.retry_args("PRESERVATION_REPORT_RETRIES", "5", backoff=True),
)
def stuck_transfers():
    WatchStuckTransfersOperator(
        task_id="watch_stuck_transfers",
        task_display_name="Tell Slack of stuck transfers and unanswered decisions",
        base_minutes=float(os.environ.get("PRESERVATION_STUCK_AFTER_MINUTES", "120")),
        minutes_per_gb=float(os.environ.get("PRESERVATION_STUCK_MINUTES_PER_GB", "30")),
        reminder_minutes=float(os.environ.get("PRESERVATION_DECISION_REMINDER_MINUTES", "240")),
    )


stuck_transfers()
