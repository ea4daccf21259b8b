"""
### fixity_audit: stored AIPs re-verified against their recorded checksums

Every AIP is checked at least once per `PRESERVATION_FIXITY_PERIOD_DAYS` (90), the work
spread over the daily runs (`PRESERVATION_FIXITY_INTERVAL_DAYS`, 1): each run checks the
AIPs unchecked the longest. A bag is checked file by file; a package against its sha256,
and for `PRESERVATION_FIXITY_DEEP_SHARE` (0.1) of the packages per run also unpacked and
its bag validated. Each result (Archivematica's check-fixity shape, with a PREMIS
`fixity check` record) is kept in the AIP index; any failure is posted to Slack naming
the AIP, its identifier and the files, and the run fails.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import chain, dag

from preservation_airflow import dag_defaults
from preservation_airflow.operators.audits import FixityAuditOperator, PostFixityFailuresOperator

INTERVAL_DAYS = float(os.environ.get("PRESERVATION_FIXITY_INTERVAL_DAYS", "1"))


@dag(
    dag_id="fixity_audit",
    schedule=timedelta(days=INTERVAL_DAYS),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["preservation", "fixity", "slack"],
    default_args=dag_defaults.retry_args("PRESERVATION_REPORT_RETRIES", "5", backoff=True),
)
def fixity_audit():
    audit = FixityAuditOperator(
        task_id="check_fixity",
        task_display_name="Check fixity of stored AIPs",
        period_days=int(os.environ.get("PRESERVATION_FIXITY_PERIOD_DAYS", "90")),
        interval_days=INTERVAL_DAYS,
        deep_share=float(os.environ.get("PRESERVATION_FIXITY_DEEP_SHARE", "0.1")),
        aws_conn_id=dag_defaults.aws_conn_id(),
    )
    report = PostFixityFailuresOperator(
        task_id="report_failures",
        task_display_name="Report fixity failures",
        audit_task_id=audit.task_id,
    )
    chain(audit, report)


fixity_audit()
