"""Notifications: Slack messages (Block Kit), the notifications log that stands in for
Slack on the embedded default, and born-digital SNS messages.

Born-digital notifications tell downstream services (IIIF manifest builders) that an
AIP was stored in the ``born-digital`` space, exactly once per stored AIP version.

The message (operations.md) is ``{"identifier", "space", "version", "origin",
"timeSent"}``. Whether it went out is kept in the AIP index
(``notifications/<aip uuid>.json``, written after the publish succeeded), so a retried or
cleared Store AIP never sends it twice. The one gap: a crash between the publish and that
record sends it again on retry (at least once, never lost).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from preservation.core.premis import now
from preservation.storage.aip_index import Index, Stored
from preservation.storage.spaces import BORN_DIGITAL

NOTIFIED_SPACE = BORN_DIGITAL


def is_production(environment: str) -> bool:
    return environment in ("", "prod", "production")


def system_label(system: str, environment: str = "") -> str:
    """The system as messages name it: the environment added when not production."""
    return system if is_production(environment) else f"{system} ({environment})"


def blocks_message(texts: list[str], joiner: str = "\n\n") -> dict:
    """A Slack message: one mrkdwn section per text, and the texts joined as its
    notification ``text``."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": t}} for t in texts]
    return {"text": joiner.join(texts), "blocks": blocks}


def log_path(channel: str) -> Path | None:
    """The notifications log of a channel setting (``file:///path``), None for Slack."""
    parsed = urlparse(channel)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def append_to_log(path: Path, message: dict) -> None:
    """Keep a Slack message as one JSON line of the notifications log (time, text,
    blocks), where Slack is not set up: the embedded default. One ``write`` in append
    mode, so messages of tasks running at once never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"time": now(), **message}, ensure_ascii=False) + "\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(descriptor, line.encode("utf-8"))
    finally:
        os.close(descriptor)


def message(record: Stored, origin: str) -> dict:
    """The SNS message of a stored AIP version."""
    return {
        "identifier": record.identifier,
        "space": record.space,
        "version": record.version,
        "origin": origin,
        "timeSent": now(),
    }


def notify_stored(index: Index, record: Stored, origin: str, publish: Callable[[str], str]) -> str:
    """Publish the message for ``record`` unless it is not born-digital or went out
    already; returns what happened (for the task log)."""
    if record.space != NOTIFIED_SPACE:
        return f"no notification: {record.identifier} is in the {record.space!r} space"
    marker = f"notifications/{record.aip_uuid}.json"
    if index.records.get(marker):
        return f"notification for {record.identifier} v{record.version} was sent already"
    body = message(record, origin)
    message_id = publish(json.dumps(body))
    index.records.put_new(marker, json.dumps({**body, "message_id": message_id}).encode())
    return f"notified {record.identifier} v{record.version} (message {message_id})"
