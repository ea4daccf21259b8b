"""
### transfer_watcher: the S3 transfer bucket's drop box

Archivists upload a `.zip` under `born-digital/` (catalogued material) or
`born-digital-accessions/` (accessions). Each run of this DAG waits (deferred, holding no
worker slot) until the bucket holds a `.zip`, checks every upload that has no feedback
log yet with the rules of the transfer package specification, starts one
`transfer_ingest` run per accepted package, then writes each upload's feedback log next
to it (`{key}.{success|failed}.{timestamp}.log`) and tags accepted uploads (transfer id,
processing configuration, identifier, time).

The run id of `transfer_ingest` is derived from the upload (key and ETag), so the same
upload never starts two runs, however often this DAG looks at it; a re-upload with new
content starts a new one.

Settings (environment): `PRESERVATION_TRANSFER_BUCKET`, `PRESERVATION_AWS_CONN_ID`
(an Airflow connection of type aws; default `aws_default`), `PRESERVATION_WATCH_MINUTES`.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import chain, dag

from preservation_airflow import dag_defaults
from preservation_airflow.transfer_bucket import (
    INGEST_DAG,
    PublishFeedbackOperator,
    VerifyUploadsOperator,
)

BUCKET = dag_defaults.transfer_bucket()
CONN = dag_defaults.aws_conn_id()
EVERY = timedelta(minutes=int(os.environ.get("PRESERVATION_WATCH_MINUTES", "5")))


@dag(
    dag_id="transfer_watcher",
    schedule=EVERY,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["preservation", "s3", "transfer bucket"],
    default_args=dag_defaults.retry_args("PRESERVATION_TASK_RETRIES", "2"),
)
def transfer_watcher():
    wait = S3KeySensor(
        task_id="wait_for_uploads",
        task_display_name="Wait for uploads",
        bucket_name=BUCKET,
        bucket_key="*.zip",
        wildcard_match=True,
        aws_conn_id=CONN,
        deferrable=True,
        poke_interval=30,
        # Nothing uploaded within one interval: this run ends skipped, the next one waits.
        timeout=EVERY.total_seconds(),
        soft_fail=True,
    )
    verify = VerifyUploadsOperator(
        task_id="verify_uploads",
        task_display_name="Verify transfer packages",
        bucket=BUCKET,
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
        verify_task_id="verify_uploads",
        aws_conn_id=CONN,
        # After the runs exist (or none was needed); never after a failed start.
        trigger_rule="none_failed",
    )
    chain(wait, verify, start, feedback)


transfer_watcher()
