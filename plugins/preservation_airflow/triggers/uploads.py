"""Triggers: what the triggerer watches for the preservation DAGs, holding no worker slot.

A trigger runs in the triggerer, a process of its own with its own imports: everything it
needs is imported in ``run`` and tested there (tests/dags/test_new_uploads_trigger.py runs
it as the triggerer does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class NewUploadsTrigger(BaseTrigger):
    """Fires as soon as the drop box holds an upload that has no feedback log yet.

    Every ``poll_seconds`` it lists the drop box (one LIST request per 1,000 keys on S3;
    feedback logs already matched to their upload are remembered, so each is looked at
    once). The blocking S3 client runs in a thread, never on the triggerer's event loop.

    Events: ``{"status": "new", "count", "uploads": [the first keys]}``;
    ``{"status": "idle"}`` after ``idle_seconds`` without one (the watcher's run ends
    and the next one watches on);
    ``{"status": "error", "message"}`` when the drop box cannot be read: at once when
    the configuration is wrong (no such bucket or folder, credentials refused, no
    connection), after ``attempts`` failed looks in a row when it is unreachable.
    """

    def __init__(
        self,
        source_url: str,
        aws_conn_id: str,
        poll_seconds: float = 2.0,
        idle_seconds: float = 3600.0,
        attempts: int = 3,
    ):
        super().__init__()
        self.source_url = source_url
        self.aws_conn_id = aws_conn_id
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self.attempts = attempts

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "preservation_airflow.triggers.uploads.NewUploadsTrigger",
            {
                "source_url": self.source_url,
                "aws_conn_id": self.aws_conn_id,
                "poll_seconds": self.poll_seconds,
                "idle_seconds": self.idle_seconds,
                "attempts": self.attempts,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        from preservation.core.errors import ConfigurationInvalid, PreservationError
        from preservation_airflow.hooks.storage import transfer_source

        known: set[tuple[str, str]] = set()
        source = None
        failures = 0
        deadline = time.monotonic() + self.idle_seconds
        while True:
            try:
                if source is None:
                    # Reads the Airflow connection: a blocking call, so in a thread too.
                    source = await sync_to_async(transfer_source)(self.source_url, self.aws_conn_id)
                new = await sync_to_async(source.new_uploads)(known)
                failures = 0
            except ConfigurationInvalid as error:
                yield TriggerEvent({"status": "error", "message": str(error)})
                return
            except PreservationError as fault:
                failures += 1
                self.log.warning("Look %d at %s failed: %s", failures, self.source_url, fault)
                if failures >= self.attempts:
                    yield TriggerEvent(
                        {
                            "status": "error",
                            "message": f"{fault} (failed {failures} times in a row)",
                        }
                    )
                    return
                await asyncio.sleep(min(30.0, self.poll_seconds * 2**failures))
                continue
            if new:
                self.log.info("%d new upload(s) in %s", len(new), self.source_url)
                keys = [u.key for u in new[:50]]  # enough to name them in the log
                yield TriggerEvent({"status": "new", "count": len(new), "uploads": keys})
                return
            if time.monotonic() >= deadline:
                yield TriggerEvent({"status": "idle", "seconds": self.idle_seconds})
                return
            await asyncio.sleep(self.poll_seconds)
