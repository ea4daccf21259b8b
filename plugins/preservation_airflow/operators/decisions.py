"""Airflow side of Archivematica's decision points (``preservation.shared.decisions``): one
human-in-the-loop task per decision point of transfer_ingest.

A preset answers at once. "ask" shows the question and what was found in Airflow's
Required Actions and parks the task (awaiting input: no worker slot) until an archivist
answers, or until the configuration's time-out, when the scheduler takes the preset
answer. Slack is told a question waits, with the link to answer it.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk.bases.notifier import BaseNotifier

from preservation_airflow.operators.micro_service import (
    package_for,
    skip_if_stored,
    skip_outside_reingest,
)
from preservation_airflow.operators.verdicts import VERDICT_POLICY, refuse


class QuestionWaitingNotifier(BaseNotifier):
    """One Slack message: a decision waits for an answer, with the link to answer it."""

    def notify(self, context) -> None:
        from preservation.shared.notifications import blocks_message
        from preservation_airflow.hooks import slack

        # The task as it runs (its question and findings set at execute time), not the
        # one the DAG file made.
        task = context["task"]
        try:
            where = f"<{task.generate_link_to_ui_from_context(context=context)}|Answer it>"
        except ValueError:  # no [api] base_url: name the page instead of linking it
            where = "Answer it in Airflow's Required Actions."
        message = blocks_message(
            [f"❓ *{task.subject}* ({slack.system_name()})", f"{task.body}\n\n{where}"]
        )
        slack.post_or_say_why(message, task.log, f"the question {task.task_id!r}")


class DecisionOperator(HITLOperator):
    """The decision point ``decision`` of this run's processing configuration."""

    ui_color = "#fdf1d6"

    def __init__(self, *, decision: str, **kwargs):
        from preservation.shared.decisions import POINTS

        kwargs.setdefault("retry_policy", VERDICT_POLICY)
        # The wait is bounded by the configuration's decision_timeout_minutes (set when
        # it asks), not by the DAG's execution_timeout (HITLOperator would take that).
        kwargs["execution_timeout"] = None
        point = POINTS[decision]
        super().__init__(
            subject=point.name,
            options=list(point.options),
            defaults=[point.options[0]],
            **kwargs,
        )
        self.decision = decision
        self.notifiers = [QuestionWaitingNotifier()]

    def execute(self, context):
        from preservation.shared.decisions import POINTS, findings

        point = POINTS[self.decision]
        package, _ = package_for(context)
        try:
            skip_outside_reingest(package, self.decision)
            skip_if_stored(package, context)
            preset = point.preset(package.config)
            if not package.config.asks(self.decision):
                return self._decided(context, package, preset, package.config.name, "preset")
            self.subject = f"{point.question} ({package.state.facts().external_identifier})"
            self.body = findings(package)
            self.defaults = [preset]
            minutes = (context["dag_run"].conf or {}).get("decision_timeout_minutes")
            minutes = int(minutes or package.config.decision_timeout_minutes)
            self.response_timeout = timedelta(minutes=minutes)
        finally:
            package.close()
        return super().execute(context)  # waits for an answer: resumes in execute_complete

    def execute_complete(self, context, event):
        answer = super().execute_complete(context, event)
        [choice] = answer["chosen_options"]
        user = (answer.get("responded_by_user") or {}).get("name")
        package, _ = package_for(context)
        try:
            if user:
                return self._decided(context, package, choice, user, "answered")
            return self._decided(context, package, choice, package.config.name, "timed out")
        finally:
            package.close()

    def _decided(self, context, package, choice: str, decided_by: str, how: str) -> dict:
        from preservation.shared.decisions import POINTS, Rejected, record
        from preservation_airflow.hooks.storage import aip_location

        point = POINTS[self.decision]
        try:
            record(package, aip_location(package, context), point, choice, decided_by, how)
        except Rejected as rejected:
            refuse(self, context, point.name, rejected)
        self.log.info("%s: %s (%s by %s)", point.name, choice, how, decided_by)
        return {"choice": choice, "decided_by": decided_by, "how": how}
