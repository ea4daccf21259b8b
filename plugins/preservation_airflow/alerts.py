"""When a transfer_ingest stage fails for good: one Slack message naming the package, the
stage, the reason and the task log's address in the Airflow UI; and the upload's feedback
log in the transfer bucket says the transfer failed after it was accepted.

Runs as the tasks' ``on_failure_callback``: once per final failure (not on a retry), in
the worker. Slack or S3 being down is logged, never raised: the run has failed already.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def transfer_failed(context) -> None:
    from preservation import transfer_bucket
    from preservation_airflow import notify

    ti, dag_run = context["ti"], context["dag_run"]
    conf = dag_run.conf or {}
    source = conf.get("transfer", "?")
    stage = getattr(context.get("task"), "task_display_name", None) or ti.task_id
    reason = ti.xcom_pull(task_ids=ti.task_id, key="failure_reason", map_indexes=ti.map_index)
    reason = reason or str(context.get("exception") or "unknown")
    alert = transfer_bucket.failure_alert(
        source, stage, reason, ti.log_url, notify.system_name(), notify.environment()
    )
    try:
        notify.post_to_slack(alert)
    except Exception:
        log.exception("Could not post the failure alert to Slack")
    try:
        from preservation.housekeeping import mark_failed
        from preservation_airflow.operators import package_for

        package, _ = package_for(context)
        mark_failed(package, dag_run.run_id)  # kept PRESERVATION_KEEP_FAILED_DAYS for a look
    except Exception:
        log.exception("Could not mark the failed run's working copies")
    if source.startswith("s3://") and conf.get("etag"):
        from preservation_airflow.transfer_bucket import conn_id_for, s3_client

        try:
            updated = transfer_bucket.note_failure(
                s3_client(conn_id_for(context)), source, conf["etag"], stage, reason
            )
            log.info("Feedback log updated: %s", updated)
        except Exception:
            log.exception("Could not update the feedback log of %s", source)
