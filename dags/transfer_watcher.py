"""
### transfer_watcher: the drop box answers within seconds

Archivists put a `.zip` under `born-digital/` (catalogued material) or
`born-digital-accessions/` (accessions) of the drop box: the S3 transfer bucket
(`PRESERVATION_TRANSFER_SOURCE=s3://bucket`) or, on the embedded default, the folder
`$PRESERVATION_HOME/transfers/`. This DAG runs continuously, one run after another:

1. **Wait for new uploads**: deferred to the triggerer (no worker slot), which looks at
   the drop box every `PRESERVATION_WATCH_POLL_SECONDS` (2) and wakes the run as soon as
   an upload has no feedback log. After `PRESERVATION_WATCH_MINUTES` (60) with nothing
   new the run ends skipped and the next one watches on.
2. **Verify transfer packages**: the checks of the transfer package specification; a
   rejected upload gets its failed feedback log at once.
3. **Start transfer_ingest**: one run per accepted upload. Its run id comes from the
   upload (key and ETag): the same upload never starts two runs, however often it is
   seen; a new upload of the same key starts a new one.
4. **Write feedback logs**: `{key}.success.{timestamp}.log` next to each accepted upload,
   which is tagged (transfer id, processing configuration, identifier, time).

A drop box that cannot be read (no such bucket or folder, credentials refused, no
connection, S3 unreachable) fails the task with what to fix, alerts Slack once per
outage, and is retried with backoff until it is fixed.

Settings: `PRESERVATION_TRANSFER_SOURCE`, `PRESERVATION_AWS_CONN_ID` (an Airflow connection
of type aws; default `aws_default`), `PRESERVATION_WATCH_POLL_SECONDS`,
`PRESERVATION_WATCH_MINUTES`, `PRESERVATION_WATCH_RETRIES`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import chain, dag

from preservation_airflow import dag_defaults
from preservation_airflow.notifications.alerts import WatcherFailedNotifier
from preservation_airflow.operators.drop_box import (
    INGEST_DAG,
    PublishFeedbackOperator,
    VerifyUploadsOperator,
    WaitForUploadsOperator,
)

SOURCE = dag_defaults.transfer_source()
CONN = dag_defaults.aws_conn_id()


@dag(
    dag_id="transfer_watcher",
    # One run after another: each waits (deferred) for new uploads, then handles them.
    schedule="@continuous",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["preservation", "drop box"],
    default_args={
        # A drop box that cannot be read is retried with backoff (up to 10 minutes apart)
        # rather than failing one run after another.
        **dag_defaults.retry_args("PRESERVATION_WATCH_RETRIES", "5", backoff=True),
        "max_retry_delay": timedelta(minutes=10),
        "on_retry_callback": WatcherFailedNotifier(),
        "on_failure_callback": WatcherFailedNotifier(),
    },
)
def transfer_watcher():
    wait = WaitForUploadsOperator(
        task_id="wait_for_uploads",
        task_display_name="Wait for new uploads",
        source_url=SOURCE,
        aws_conn_id=CONN,
        poll_seconds=dag_defaults.seconds("PRESERVATION_WATCH_POLL_SECONDS", "2"),
        idle_seconds=60 * dag_defaults.seconds("PRESERVATION_WATCH_MINUTES", "60"),
    )
    verify = VerifyUploadsOperator(
        task_id="verify_uploads",
        task_display_name="Verify transfer packages",
        source_url=SOURCE,
        aws_conn_id=CONN,
    )
    start = TriggerDagRunOperator.partial(
        task_id="start_transfer_ingest",
        task_display_name="Start transfer_ingest",
        trigger_dag_id=INGEST_DAG,
        skip_when_already_exists=True,
    ).expand_kwargs(verify.output)
    feedback = PublishFeedbackOperator(
        task_id="write_feedback_logs",
        task_display_name="Write feedback logs",
        source_url=SOURCE,
        verify_task_id="verify_uploads",
        aws_conn_id=CONN,
        # After the runs exist (or none was needed); never after a failed start.
        trigger_rule="none_failed",
    )
    chain(wait, verify, start, feedback)


transfer_watcher()
