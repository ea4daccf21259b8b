"""Airflow side of notifications: Slack through slack-sdk (providers-slack's
SlackWebhookHook, the webhook URL in an Airflow connection), SNS through providers-amazon's
SnsHook, and the Asset event of stored AIPs. Hooks are built when called, never at parse.

Settings: ``PRESERVATION_SLACK_CONN_ID`` (default ``slack_default``, a connection of type
slackwebhook), ``PRESERVATION_SNS_TOPIC_ARN`` (empty: no SNS messages),
``PRESERVATION_SYSTEM_NAME`` (default ``Archivematica``) and ``PRESERVATION_ENVIRONMENT``
(``production`` unless set; other names appear in Slack reports).
"""

from __future__ import annotations

import os

from airflow.sdk import Asset

#: Updated each time an AIP is stored and verified (extra: uuid, identifier, space,
#: version); other DAGs can be scheduled on it (a DIP or IIIF publishing DAG).
STORED_AIPS = Asset(name="stored_aips", uri="preservation://stored-aips")


def system_name() -> str:
    return os.environ.get("PRESERVATION_SYSTEM_NAME", "Archivematica")


def environment() -> str:
    return os.environ.get("PRESERVATION_ENVIRONMENT", "production")


def post_to_slack(message: dict) -> None:
    """Post ``{"text", "blocks"}``; raises (so the task retries) when Slack is unreachable
    or refuses the message."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    conn_id = os.environ.get("PRESERVATION_SLACK_CONN_ID", "slack_default")
    SlackWebhookHook(slack_webhook_conn_id=conn_id).send(
        text=message["text"], blocks=message["blocks"]
    )


def after_store(package, context, location, log) -> None:
    """After Store AIP: the Asset event, and the born-digital SNS message (once)."""
    from preservation.notifications import notify_stored

    record = location.index.record(package.ref.aip_uuid)
    if record is None:
        return
    context["outlet_events"][STORED_AIPS].extra = {
        "aip_uuid": record.aip_uuid,
        "identifier": record.identifier,
        "space": record.space,
        "version": record.version,
        "key": record.key,
    }
    topic = os.environ.get("PRESERVATION_SNS_TOPIC_ARN", "")
    if not topic:
        return
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    from preservation_airflow.storage import conn_id_for

    hook = SnsHook(aws_conn_id=conn_id_for(context))

    def publish(body: str) -> str:
        return hook.publish_to_target(target_arn=topic, message=body)["MessageId"]

    log.info("%s", notify_stored(location.index, record, system_name(), publish))
