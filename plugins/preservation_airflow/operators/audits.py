"""Airflow side of the weekly transfer monitor and the fixity audit: S3 clients and the
AIP store from Airflow connections, Slack through ``notify``; the rules are the
library's (``preservation.operations.transfer_monitor``, ``preservation.operations.fixity_audit``).

Each DAG splits "look" from "tell" from "act": a retry of the Slack post (Slack down)
re-sends the report the first task kept in XCom, and nothing is deleted before the report
is out.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException


def aip_store(aws_conn_id: str):
    from preservation.core.settings import load_settings
    from preservation_airflow.hooks import storage

    return storage.aip_store(load_settings(), aws_conn_id)


class SurveyTransfersOperator(BaseOperator):
    """Which uploads of the drop box's last 14 days are stored, which are not (nothing
    changed)."""

    template_fields: Sequence[str] = ("source_url",)

    def __init__(self, *, source_url: str, aws_conn_id: str = "aws_default", days: int = 14, **kw):
        super().__init__(**kw)
        self.source_url, self.aws_conn_id, self.days = source_url, aws_conn_id, days

    def execute(self, context):
        from preservation.operations import transfer_monitor
        from preservation_airflow.hooks.storage import transfer_source
        from preservation_airflow.operators.drop_box import INGEST_DAG

        ti = context["ti"]

        def in_flight(upload) -> bool:
            try:
                return ti.get_dagrun_state(INGEST_DAG, upload.run_id) in ("queued", "running")
            except Exception:  # no such run (started before run ids came from uploads)
                return False

        report = transfer_monitor.survey(
            transfer_source(self.source_url, self.aws_conn_id),
            aip_store(self.aws_conn_id).index,
            in_flight,
            days=self.days,
        )
        self.log.info(
            "%s: %d stored, %d not stored, %d objects to delete",
            self.source_url,
            len(report.stored),
            len(report.not_stored),
            len(report.deletable),
        )
        return report.as_dict()


class PostTransferReportOperator(BaseOperator):
    """Post the survey as one Slack message (retried while Slack is unreachable)."""

    def __init__(self, *, survey_task_id: str, **kw):
        super().__init__(**kw)
        self.survey_task_id = survey_task_id

    def execute(self, context):
        from preservation.operations import transfer_monitor
        from preservation_airflow.hooks import slack as notify

        data = context["ti"].xcom_pull(task_ids=self.survey_task_id)
        report = transfer_monitor.MonitorReport.from_dict(data)
        message = transfer_monitor.slack_message(report, notify.system_name(), notify.environment())
        self.log.info("Posted to %s:\n%s", notify.post(message), message["text"])
        return {"stored": len(report.stored), "not_stored": len(report.not_stored)}


class DeleteStoredSourcesOperator(BaseOperator):
    """Delete the source zips (and feedback logs) of the uploads storage confirmed."""

    template_fields: Sequence[str] = ("source_url",)

    def __init__(
        self, *, source_url: str, survey_task_id: str, aws_conn_id: str = "aws_default", **kw
    ):
        super().__init__(**kw)
        self.source_url, self.survey_task_id = source_url, survey_task_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context):
        from preservation.operations import transfer_monitor
        from preservation_airflow.hooks.storage import transfer_source

        data = context["ti"].xcom_pull(task_ids=self.survey_task_id)
        report = transfer_monitor.MonitorReport.from_dict(data)
        deleted = transfer_monitor.delete_confirmed(
            transfer_source(self.source_url, self.aws_conn_id), report
        )
        self.log.info(
            "Deleted %d object(s) from %s: %s", deleted, self.source_url, report.deletable
        )
        return {"deleted": deleted}


class FixityAuditOperator(BaseOperator):
    """Re-verify this run's share of the stored AIPs; keep each result in the index;
    return the failures (the AIPs, their identifiers and files) for the Slack post."""

    def __init__(
        self,
        *,
        period_days: int,
        interval_days: float,
        deep_share: float,
        aws_conn_id: str = "aws_default",
        **kw,
    ):
        super().__init__(**kw)
        self.period_days, self.interval_days = period_days, interval_days
        self.deep_share, self.aws_conn_id = deep_share, aws_conn_id

    def execute(self, context):
        from preservation.core.settings import load_settings
        from preservation.operations import fixity_audit
        from preservation.tools.process import pool_map

        settings = load_settings()
        location = aip_store(self.aws_conn_id)
        checked = fixity_audit.last_checks(location)  # one listing of the results for both
        records = fixity_audit.due(location, self.period_days, self.interval_days, None, checked)
        deep = fixity_audit.choose_deep(location, records, self.deep_share, checked)

        def check(record):
            audited = fixity_audit.audit(
                location, record, record.aip_uuid in deep, settings.limits, settings.tool_timeout
            )
            return fixity_audit.keep(location, audited)

        results = list(pool_map(check, records, settings.workers))
        failed = [r for r in results if not r["success"]]
        for result in results:
            self.log.info("%s %s: %s", result["identifier"], result["aip_uuid"], result["message"])
        self.log.info(
            "%d AIP(s) checked (%d deep), %d failed", len(results), len(deep), len(failed)
        )
        return {"checked": len(results), "deep": len(deep), "failed": failed}


class PostFixityFailuresOperator(BaseOperator):
    """Post the audit's failures to Slack, then fail (the audit found damage: a verdict,
    shown red in the UI, not retried)."""

    def __init__(self, *, audit_task_id: str, **kw):
        super().__init__(**kw)
        self.audit_task_id = audit_task_id

    def execute(self, context):
        from preservation.operations import fixity_audit
        from preservation_airflow.hooks import slack as notify

        summary = context["ti"].xcom_pull(task_ids=self.audit_task_id) or {}
        message = fixity_audit.slack_failures(summary.get("failed", []), notify.system_name())
        if message is None:
            self.log.info("Every audited AIP is intact (%s checked)", summary.get("checked"))
            return {"failed": 0}
        self.log.info("Posted to %s", notify.post(message))
        raise AirflowFailException(message["text"])
