"""Airflow side of notifications: Slack through slack-sdk (providers-slack's
SlackWebhookHook, the webhook URL in an Airflow connection), SNS through providers-amazon's
SnsHook, and the Asset event of stored AIPs. Hooks are built when called, never at parse.

Settings: ``PRESERVATION_NOTIFICATIONS`` (``slack``, the default, or ``file:///path``: a
notifications log, one JSON line per message, which the embedded default uses with
``$PRESERVATION_HOME/notifications.log``), ``PRESERVATION_SLACK_CONN_ID`` (default
``slack_default``, a connection of type slackwebhook), ``PRESERVATION_SNS_TOPIC_ARN``
(empty: no SNS messages), ``PRESERVATION_SYSTEM_NAME`` (default ``Archivematica``) and
``PRESERVATION_ENVIRONMENT`` (``production`` unless set; other names appear in Slack
reports).
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


def channel() -> str:
    """Where messages go: ``PRESERVATION_NOTIFICATIONS`` (``slack`` unless set)."""
    return os.environ.get("PRESERVATION_NOTIFICATIONS", "slack")


def post(message: dict) -> str:
    """Post ``{"text", "blocks"}`` to Slack, or append it to the notifications log;
    returns where it went. Raises (so the task retries) when Slack is unreachable or
    refuses the message, or when the Slack connection is missing."""
    from preservation.shared.notifications import append_to_log, log_path

    path = log_path(channel())
    if path is not None:
        append_to_log(path, message)
        return str(path)
    if channel() != "slack":
        from preservation.core.errors import ConfigurationInvalid

        raise ConfigurationInvalid(
            f"PRESERVATION_NOTIFICATIONS={channel()!r}: use slack or file:///path/notifications.log"
        )
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    conn_id = os.environ.get("PRESERVATION_SLACK_CONN_ID", "slack_default")
    SlackWebhookHook(slack_webhook_conn_id=conn_id).send(
        text=message["text"], blocks=message["blocks"]
    )
    return "Slack"


def _stored_bytes(package) -> int | None:
    """The size of the package that was stored (its working copy, still there)."""
    from preservation.shared import aip_package

    stored = (
        package.sip_dir
        if package.config.compression == "uncompressed"
        else aip_package.package_path(package)
    )
    if stored.is_file():
        return stored.stat().st_size
    if stored.is_dir():
        return sum(p.stat().st_size for p in stored.rglob("*") if p.is_file())
    return None


def post_or_say_why(message: dict, log, what: str) -> bool:
    """Post to Slack from a failure callback, where raising would change nothing: True
    when posted; else one log line saying why (no traceback: the task's own failure is
    what its log is about)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = os.environ.get("PRESERVATION_SLACK_CONN_ID", "slack_default")
    try:
        log.info("Posted %s to %s", what, post(message))
        return True
    except AirflowNotFoundException:
        log.warning(
            "Not posted to Slack: %s (no Airflow connection %r; create one of type "
            "slackwebhook to receive alerts)",
            what,
            conn_id,
        )
    except Exception as error:  # Slack refused or is unreachable: say so, once
        log.warning("Could not post %s to Slack: %s: %s", what, type(error).__name__, error)
    return False


def after_store(package, context, location, log) -> None:
    """After Store AIP: the Asset event, and the born-digital SNS message (once)."""
    from preservation.shared.notifications import notify_stored

    record = location.index.record(package.ref.aip_uuid)
    if record is None:
        return
    label = f"{record.identifier} v{record.version} in {record.space} ({record.aip_uuid})"
    context["outlet_events"][STORED_AIPS].extra = {
        "aip": label,  # read first where the UI folds the rest
        "aip_uuid": record.aip_uuid,
        "identifier": record.identifier,
        "space": record.space,
        "version": record.version,
        "key": record.key,
    }
    # What the packages page shows of a stored AIP, without asking storage again.
    context["ti"].xcom_push(
        key="stored",
        value={
            **record.as_dict(),
            "location": location.description,
            "url": location.url(record),
            "bytes": _stored_bytes(package),
        },
    )
    topic = os.environ.get("PRESERVATION_SNS_TOPIC_ARN", "")
    if not topic:
        return
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    from preservation_airflow.hooks.storage import conn_id_for

    hook = SnsHook(aws_conn_id=conn_id_for(context))

    def publish(body: str) -> str:
        return hook.publish_to_target(target_arn=topic, message=body)["MessageId"]

    log.info("%s", notify_stored(location.index, record, system_name(), publish))
