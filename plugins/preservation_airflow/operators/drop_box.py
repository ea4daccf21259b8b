"""Airflow side of the drop box (an S3 bucket, or a local folder on the embedded default):
wait for new uploads (deferred to the triggerer), check them, write their feedback logs.
The drop box is opened in ``execute`` (an S3 client from an Airflow connection, never at
parse time); the rules are the library's (``preservation.intake.transfer_source``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

INGEST_DAG = "transfer_ingest"


class DropBoxUnavailable(RuntimeError):
    """The drop box cannot be watched or read; the message says what to fix. A system
    fault: the task fails this try and is retried."""


def _open(source_url: str, aws_conn_id: str):
    from preservation.core.errors import PreservationError
    from preservation_airflow.hooks.storage import transfer_source

    try:
        return transfer_source(source_url, aws_conn_id)
    except PreservationError as error:
        raise DropBoxUnavailable(f"The drop box {source_url} cannot be opened: {error}") from None


class WaitForUploadsOperator(BaseOperator):
    """Wait, deferred to the triggerer (no worker slot), until the drop box holds an upload
    without a feedback log; skipped after ``idle_seconds`` without one (the next watcher
    run watches on). A drop box that cannot be read fails the task, loudly."""

    template_fields: Sequence[str] = ("source_url",)
    ui_color = "#efe7f7"

    def __init__(
        self,
        *,
        source_url: str,
        aws_conn_id: str = "aws_default",
        poll_seconds: float = 2.0,
        idle_seconds: float = 3600.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_url = source_url
        self.aws_conn_id = aws_conn_id
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds

    def execute(self, context):
        from preservation.core.errors import PreservationError
        from preservation_airflow.notifications.alerts import watcher_recovered
        from preservation_airflow.triggers.uploads import NewUploadsTrigger

        source = _open(self.source_url, self.aws_conn_id)
        try:
            new = source.new_uploads()
        except PreservationError as error:
            raise DropBoxUnavailable(f"The drop box cannot be watched: {error}") from None
        watcher_recovered(self.source_url, self.log)
        if new:
            return self._found(len(new), [u.key for u in new])
        self.log.info(
            "Watching %s for new uploads (every %.0f s, for up to %.0f min)",
            self.source_url,
            self.poll_seconds,
            self.idle_seconds / 60,
        )
        self.defer(
            trigger=NewUploadsTrigger(
                self.source_url, self.aws_conn_id, self.poll_seconds, self.idle_seconds
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context, event: dict):
        from preservation_airflow.notifications.alerts import watcher_recovered

        if event["status"] == "error":
            raise DropBoxUnavailable(f"The drop box cannot be watched: {event['message']}")
        watcher_recovered(self.source_url, self.log)
        if event["status"] == "idle":
            raise AirflowSkipException(
                f"No new upload in {self.source_url} for {event['seconds'] / 60:.0f} min; "
                "the next watcher run watches on"
            )
        return self._found(event["count"], event["uploads"])

    def _found(self, count: int, keys: list[str]) -> dict:
        self.log.info("%d new upload(s): %s", count, ", ".join(keys))
        return {"new_uploads": count}


class VerifyUploadsOperator(BaseOperator):
    """Check every new upload of the drop box; write the feedback log of each rejected one
    at once; return the transfer_ingest runs to start for the accepted ones
    (``trigger_run_id`` and ``conf`` each).

    An accepted upload's log is written only once its run exists (``PublishFeedbackOperator``):
    an upload without a log is new, so a failure in between leaves it new and the next
    watcher run starts it, never twice (the run id is the upload's)."""

    template_fields: Sequence[str] = ("source_url",)

    def __init__(self, *, source_url: str, aws_conn_id: str = "aws_default", **kwargs):
        super().__init__(**kwargs)
        self.source_url = source_url
        self.aws_conn_id = aws_conn_id

    def execute(self, context):
        from preservation.core.errors import PreservationError
        from preservation.core.package import run_note
        from preservation.core.settings import load_settings
        from preservation.intake.transfer_source import publish, verify
        from preservation.tools.process import pool_map

        source = _open(self.source_url, self.aws_conn_id)
        settings = load_settings()
        try:
            new = source.new_uploads()
        except PreservationError as error:
            raise DropBoxUnavailable(f"The drop box cannot be read: {error}") from None

        with tempfile.TemporaryDirectory(prefix="transfer-watch-") as work:

            def check(upload):
                try:
                    return verify(
                        source, upload, Path(work), settings.limits, settings.tool_timeout
                    )
                except PreservationError as error:  # checked again on the retry
                    return error

            outcomes = list(pool_map(check, new, settings.workers))
        verdicts, faults = [], []
        for upload, outcome in zip(new, outcomes):
            if isinstance(outcome, PreservationError):
                faults.append(f"{upload.url}: {outcome}")
                continue
            verdicts.append(outcome)
            if outcome.accepted:
                self.log.info("%s: accepted (%s)", upload.url, outcome.identifier)
            else:
                # A rejected upload needs no run: the archivist reads why at once.
                key = publish(source, outcome)
                reasons = [
                    line
                    for line in outcome.text.splitlines()
                    if line.startswith(("WRONG:", "Unable to determine"))
                ]
                self.log.warning(
                    "%s: rejected (feedback log %s):\n%s", upload.url, key, "\n".join(reasons)
                )
        if faults:
            raise DropBoxUnavailable(
                f"{len(faults)} of {len(new)} upload(s) could not be checked (the others "
                "are checked again on the retry):\n" + "\n".join(faults)
            )
        accepted = [v for v in verdicts if v.accepted]
        context["ti"].xcom_push(key="verdicts", value=[v.as_dict() for v in accepted])
        # The packages page lists rejected uploads with their feedback log's words.
        context["ti"].xcom_push(
            key="rejected",
            value=[
                {
                    "url": v.upload.url,
                    "key": v.upload.key,
                    "uploaded": v.upload.last_modified.isoformat(),
                    "feedback_log": v.log_key,
                    "text": v.text[:20_000],
                }
                for v in verdicts
                if not v.accepted
            ],
        )
        return [
            {
                "trigger_run_id": v.upload.run_id,
                "note": run_note(
                    v.upload.url,
                    v.processing_config,
                    v.identifier,
                    "accession" if "accession-number" in v.tags else "catalogued",
                ),
                "conf": {
                    "transfer": v.upload.url,
                    "transfer_source": source.url,
                    "processing_config": v.processing_config,
                    "aws_conn_id": self.aws_conn_id,
                    "transfer_id": v.upload.transfer_id,
                    "etag": v.upload.etag,
                    "uploaded": v.upload.last_modified.isoformat(),
                },
            }
            for v in accepted
        ]


class PublishFeedbackOperator(BaseOperator):
    """Write each accepted upload's feedback log next to it and tag it (its run exists)."""

    template_fields: Sequence[str] = ("source_url",)

    def __init__(
        self, *, source_url: str, verify_task_id: str, aws_conn_id: str = "aws_default", **kwargs
    ):
        super().__init__(**kwargs)
        self.source_url = source_url
        self.verify_task_id = verify_task_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context):
        from preservation.intake.transfer_source import Verdict, publish

        data = context["ti"].xcom_pull(task_ids=self.verify_task_id, key="verdicts") or []
        if not data:
            return {"feedback_logs": 0}
        source = _open(self.source_url, self.aws_conn_id)
        for item in data:
            verdict = Verdict.from_dict(item)
            key = publish(source, verdict)
            self.log.info("%s: feedback log %s", verdict.upload.url, key)
        return {"feedback_logs": len(data)}


class UploadTestPackageOperator(BaseOperator):
    """Build the end-to-end test package and put it in the drop box as
    ``born-digital/test_package.zip``."""

    template_fields: Sequence[str] = ("source_url", "identifier")

    def __init__(
        self,
        *,
        source_url: str,
        identifier: str,
        aws_conn_id: str = "aws_default",
        key: str = "born-digital/test_package.zip",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_url, self.identifier = source_url, identifier
        self.aws_conn_id, self.key = aws_conn_id, key

    def execute(self, context):
        from preservation.intake.transfer_package import build_test_package

        source = _open(self.source_url, self.aws_conn_id)
        with tempfile.TemporaryDirectory(prefix="test-transfer-") as work:
            path = Path(work) / "test_package.zip"
            build_test_package(path, self.identifier)
            upload = source.put(self.key, path)
        self.log.info("Put %s (identifier %s)", upload.url, self.identifier)
        return {"key": self.key, "identifier": self.identifier}
