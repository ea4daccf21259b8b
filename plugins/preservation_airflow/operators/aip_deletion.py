"""Airflow side of AIP deletion (``preservation.operations.aip_deletion``): the request, a
second person's approval in Airflow's Required Actions (a human-in-the-loop task that
holds no worker slot while it waits), the deletion, and Slack told once.

Who asked is the user who triggered the run (never a name written in its conf); who
approved is the user who answered. The same person answering "Approve" is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from preservation_airflow.operators.verdicts import VERDICT_POLICY, refuse

REQUEST_TASK, APPROVE_TASK, DELETE_TASK = "request_deletion", "approve_deletion", "delete_aip"


def _stores(aws_conn_id: str):
    """The deployment's AIP store and its replicas."""
    from preservation.core.settings import load_settings
    from preservation_airflow.hooks.storage import aip_replicas, aip_store

    settings = load_settings()
    return aip_store(settings, aws_conn_id), aip_replicas(settings, aws_conn_id)


def _request(context):
    from preservation.operations.aip_deletion import DeletionRequest

    return DeletionRequest(**context["ti"].xcom_pull(task_ids=REQUEST_TASK))


class RequestDeletionOperator(BaseOperator):
    """Check the request (a stored AIP, a reason of 10 to 500 characters) and record it in
    the audit trail as asked by the user who started the run."""

    template_fields: Sequence[str] = ("aip", "version", "reason")

    def __init__(self, *, aip: str, reason: str, version: str = "", aws_conn_id: str, **kw):
        kw.setdefault("retry_policy", VERDICT_POLICY)
        super().__init__(**kw)
        self.aip, self.reason, self.version, self.aws_conn_id = aip, reason, version, aws_conn_id

    def execute(self, context):
        from preservation.core.errors import DeletionRefused
        from preservation.operations import aip_deletion

        dag_run = context["dag_run"]
        location, _ = _stores(self.aws_conn_id)
        try:
            asked = aip_deletion.request(
                location,
                self.aip.strip(),
                self.reason,
                getattr(dag_run, "triggering_user_name", None) or "",
                f"{dag_run.dag_id}/{dag_run.run_id}",
                int(self.version) if str(self.version).strip() else None,
            )
        except DeletionRefused as refused:
            refuse(self, context, aip_deletion.NAME, refused, "the request")
        self.log.info(
            "%s asks to delete AIP %s (%s, version %s): %s",
            asked.requested_by,
            asked.aip_uuid,
            asked.identifier,
            asked.version,
            asked.reason,
        )
        return asked.as_dict()


class ApproveDeletionOperator(HITLOperator):
    """Ask another person to approve or reject the request; no answer within
    ``response_timeout`` rejects it."""

    def __init__(self, *, aws_conn_id: str, response_timeout: timedelta, **kw):
        from preservation.operations.aip_deletion import APPROVE, REJECT

        kw.setdefault("retry_policy", VERDICT_POLICY)
        pull = f"ti.xcom_pull(task_ids='{REQUEST_TASK}')"
        super().__init__(
            subject=f"Delete AIP {{{{ {pull}['identifier'] }}}} "
            f"(version {{{{ {pull}['version'] }}}})?",
            body=(
                f"**{{{{ {pull}['requested_by'] }}}}** asks to delete AIP "
                f"`{{{{ {pull}['aip_uuid'] }}}}` from every location and replica.\n\n"
                f"Reason: {{{{ {pull}['reason'] }}}}\n\n"
                "Another person must approve; the one who asked cannot. Without an answer "
                "the request is rejected."
            ),
            options=[APPROVE, REJECT],
            defaults=[REJECT],
            response_timeout=response_timeout,
            **kw,
        )
        self.aws_conn_id = aws_conn_id

    def execute_complete(self, context, event):
        from preservation.core.errors import DeletionRefused
        from preservation.operations import aip_deletion

        answer = super().execute_complete(context, event)
        who = (answer.get("responded_by_user") or {}).get("name", "")
        [choice] = answer["chosen_options"]
        location, _ = _stores(self.aws_conn_id)
        try:
            approved = aip_deletion.decide(location, _request(context), who, choice)
        except DeletionRefused as refused:
            refuse(self, context, aip_deletion.NAME, refused, "the request")
        self.log.info("%s: %s", who or "nobody answered in time", choice)
        return {"approved": approved, "by": who, "choice": choice}


class DeleteAipOperator(BaseOperator):
    """Delete the approved AIP from every location and replica; keep its tombstone."""

    def __init__(self, *, aws_conn_id: str, **kw):
        super().__init__(**kw)
        self.aws_conn_id = aws_conn_id

    def execute(self, context):
        from preservation.operations import aip_deletion

        decision = context["ti"].xcom_pull(task_ids=APPROVE_TASK) or {}
        if not decision.get("approved"):
            raise AirflowSkipException(
                f"Not deleted: the request was rejected ({decision.get('by') or 'no answer'})"
            )
        location, replicas = _stores(self.aws_conn_id)
        tombstone = aip_deletion.delete(location, replicas, _request(context), decision["by"])
        self.log.info("Deleted from %s", ", ".join(tombstone.locations))
        return tombstone.as_dict()


class PostDeletionOperator(BaseOperator):
    """Tell Slack the AIP is deleted (retried while Slack is unreachable, apart from the
    deletion, which a retry of this task never repeats)."""

    def execute(self, context):
        from preservation.shared.notifications import blocks_message
        from preservation_airflow.hooks import slack

        tombstone = context["ti"].xcom_pull(task_ids=DELETE_TASK)
        record = tombstone["record"]
        message = blocks_message(
            [
                f"🗑️ *AIP {record['identifier']}* (version {record['version']}, "
                f"`{record['aip_uuid']}`) was deleted from {', '.join(tombstone['locations'])} "
                f"in {slack.system_name()}.",
                f"Asked by *{tombstone['requested_by']}*, approved by "
                f"*{tombstone['approved_by']}*: {tombstone['reason']}",
            ]
        )
        self.log.info("Posted to %s:\n%s", slack.post(message), message["text"])
