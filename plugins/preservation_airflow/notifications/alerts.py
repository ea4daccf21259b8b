"""Failure alerts, Airflow notifiers run as task callbacks in the worker.

* A transfer_ingest stage failed for good: one Slack message naming the package, the
  stage, the reason and the task log's address in the Airflow UI; the upload's feedback
  log in the drop box says the transfer failed after it was accepted.
* A transfer_watcher task failed (the drop box cannot be watched): one Slack message per
  outage with what to fix, and one when the drop box is watched again.

Slack or S3 being down is logged, never raised: the task has failed already, and the
watcher must not stop watching because Slack is away.
"""

from __future__ import annotations

import logging

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


class TransferFailedNotifier(BaseNotifier):
    """A transfer_ingest stage failed for good: Slack, the upload's feedback log, and the
    working copy marked to be kept for a look (:func:`transfer_failed`)."""

    def notify(self, context) -> None:
        transfer_failed(context)


class WatcherFailedNotifier(BaseNotifier):
    """A transfer_watcher task failed, a try or for good: one Slack message per outage
    (:func:`watcher_failed`)."""

    def notify(self, context) -> None:
        watcher_failed(context)


def transfer_failed(context) -> None:
    from preservation.intake import transfer_source
    from preservation_airflow.hooks import slack as notify

    ti, dag_run = context["ti"], context["dag_run"]
    conf = dag_run.conf or {}
    source = conf.get("transfer") or (
        f"the reingest of AIP {conf['aip']}" if conf.get("aip") else "?"
    )
    stage = getattr(context.get("task"), "task_display_name", None) or ti.task_id
    reason = ti.xcom_pull(task_ids=ti.task_id, key="failure_reason", map_indexes=ti.map_index)
    reason = reason or str(context.get("exception") or "unknown")
    alert = transfer_source.failure_alert(
        source, stage, reason, ti.log_url, notify.system_name(), notify.environment()
    )
    notify.post_or_say_why(alert, log, "the failure alert")
    try:
        from preservation.operations.housekeeping import mark_failed
        from preservation_airflow.operators.micro_service import package_for

        package, _ = package_for(context)
        mark_failed(package, dag_run.run_id)  # kept PRESERVATION_KEEP_FAILED_DAYS for a look
    except Exception:
        log.exception("Could not mark the failed run's working copies")
    try:
        from preservation_airflow.hooks.storage import drop_box_upload

        found = drop_box_upload(context)
        if found is not None:
            drop_box, upload = found
            updated = drop_box.note_failure(upload.key, upload.etag, stage, reason)
            log.info("Feedback log updated: %s", updated)
    except Exception:
        log.exception("Could not update the feedback log of %s", source)


#: The Airflow Variable holding the reason last alerted for the watcher: one alert per
#: outage, not one per retry, and one "watching again" when it ends.
WATCHER_ALERT = "preservation_transfer_watcher_alert"


def watcher_failed(context) -> None:
    """A transfer_watcher task failed (a try or for good): one Slack message per outage,
    naming the drop box, the reason (what to fix) and the task log."""
    from airflow.sdk import Variable

    from preservation.shared.notifications import blocks_message, system_label
    from preservation_airflow.dag_defaults import transfer_source
    from preservation_airflow.hooks import slack as notify

    ti = context["ti"]
    reason = str(context.get("exception") or "unknown")
    if Variable.get(WATCHER_ALERT, default=None) == reason:
        log.info("The outage was reported already: %s", reason)
        return
    message = blocks_message(
        [
            f"🚨 *The drop box is not being watched in "
            f"{system_label(notify.system_name(), notify.environment())}*\n"
            f"*Drop box:* {transfer_source()}\n*Reason:* {reason[:2000]}\n"
            "Uploads wait there unchecked until this is fixed; the watcher retries by itself.\n"
            f"<{ti.log_url}|Task log in Airflow>"
        ]
    )
    if notify.post_or_say_why(message, log, "the watcher alert"):
        Variable.set(WATCHER_ALERT, reason)


def watcher_recovered(source_url: str, task_log) -> None:
    """After a successful look at the drop box: end an outage that was reported."""
    from airflow.sdk import Variable

    from preservation.shared.notifications import blocks_message, system_label
    from preservation_airflow.hooks import slack as notify

    if Variable.get(WATCHER_ALERT, default=None) is None:
        return
    label = system_label(notify.system_name(), notify.environment())
    message = blocks_message([f"✅ The drop box {source_url} is watched again in {label}."])
    if not notify.post_or_say_why(message, task_log, "the end of the outage"):
        return  # said next time
    Variable.delete(WATCHER_ALERT)
    task_log.info("The drop box is watched again; the outage's end was posted to Slack")
