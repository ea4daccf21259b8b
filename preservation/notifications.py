"""Born-digital notifications: tell downstream services (IIIF manifest builders) that an
AIP was stored in the ``born-digital`` space, exactly once per stored AIP version.

The message (operations.md) is ``{"identifier", "space", "version", "origin",
"timeSent"}``. Whether it went out is kept in the AIP index
(``notifications/<aip uuid>.json``, written after the publish succeeded), so a retried or
cleared Store AIP never sends it twice. The one gap: a crash between the publish and that
record sends it again on retry (at least once, never lost).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from preservation.aip_index import Index, Stored
from preservation.premis import now

NOTIFIED_SPACE = "born-digital"


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
