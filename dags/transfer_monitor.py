"""
### transfer_monitor: the weekly report on the drop box

Mondays 06:15 (`PRESERVATION_MONITOR_SCHEDULE`, cron), over the last 14 days of the
drop box (the S3 transfer bucket, or the embedded default's folder): which uploads that
started a transfer are stored (the AIP index has their transfer) and which are not
(failed, or still processing). One Slack message in Wellcome's wording (the environment
named when it is not production), then the source zips and feedback logs of the stored
ones are deleted, and only those. A Slack outage
retries the post with the same report; nothing is deleted before the report is out.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import chain, dag

from preservation_airflow import dag_defaults
from preservation_airflow.operators.audits import (
    DeleteStoredSourcesOperator,
    PostTransferReportOperator,
    SurveyTransfersOperator,
)

SOURCE = dag_defaults.transfer_source()
CONN = dag_defaults.aws_conn_id()


@dag(
    dag_id="transfer_monitor",
    schedule=os.environ.get("PRESERVATION_MONITOR_SCHEDULE", "15 6 * * 1"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["preservation", "drop box", "slack", "weekly"],
    default_args=dag_defaults.retry_args("PRESERVATION_REPORT_RETRIES", "5", backoff=True),
)
def transfer_monitor():
    survey = SurveyTransfersOperator(
        task_id="survey_transfers",
        task_display_name="Survey the last 14 days",
        source_url=SOURCE,
        aws_conn_id=CONN,
    )
    report = PostTransferReportOperator(
        task_id="post_report",
        task_display_name="Post the report to Slack",
        survey_task_id=survey.task_id,
    )
    delete = DeleteStoredSourcesOperator(
        task_id="delete_stored_sources",
        task_display_name="Delete stored sources",
        source_url=SOURCE,
        survey_task_id=survey.task_id,
        aws_conn_id=CONN,
    )
    chain(survey, report, delete)


transfer_monitor()
