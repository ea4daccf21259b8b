"""Airflow side of the S3 transfer bucket: the S3 client comes from an Airflow connection
(providers-amazon's S3Hook, built in ``execute``, never at parse time); the checks and the
feedback logs are the library's (``preservation.transfer_bucket``)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from airflow.sdk import BaseOperator

INGEST_DAG = "transfer_ingest"


def conn_id_for(context) -> str:
    """The run's Airflow connection to S3: its conf's ``aws_conn_id`` (set by the watcher),
    else ``PRESERVATION_AWS_CONN_ID``, else ``aws_default``."""
    from preservation_airflow.dag_defaults import aws_conn_id

    conf = context["dag_run"].conf or {}
    return conf.get("aws_conn_id") or aws_conn_id()


def s3_client(aws_conn_id: str):
    """A boto3 S3 client for the Airflow connection ``aws_conn_id``."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def _verdict_to_xcom(verdict) -> dict:
    upload = verdict.upload
    return {
        "bucket": upload.bucket,
        "key": upload.key,
        "etag": upload.etag,
        "last_modified": upload.last_modified.isoformat(),
        "accepted": verdict.accepted,
        "processing_config": verdict.processing_config,
        "identifier": verdict.identifier,
        "text": verdict.text,
        "tags": verdict.tags,
    }


def _verdict_from_xcom(data: dict):
    from preservation.transfer_bucket import Upload, Verdict

    upload = Upload(
        data["bucket"], data["key"], data["etag"], datetime.fromisoformat(data["last_modified"])
    )
    return Verdict(
        upload,
        data["accepted"],
        data["processing_config"],
        data["identifier"],
        data["text"],
        data["tags"],
    )


class VerifyUploadsOperator(BaseOperator):
    """Check every new upload in the transfer bucket; return the transfer_ingest runs to
    start (``trigger_run_id`` and ``conf`` for each accepted package).

    Nothing is written to the bucket here: the feedback logs are written once the runs
    exist (``PublishFeedbackOperator``), so a failure in between leaves the uploads new
    and the next watcher run starts them, never twice (the run id is the upload's)."""

    template_fields: Sequence[str] = ("bucket",)

    def __init__(self, *, bucket: str, aws_conn_id: str = "aws_default", **kwargs):
        super().__init__(**kwargs)
        self.bucket = bucket
        self.aws_conn_id = aws_conn_id

    def execute(self, context):
        from preservation import transfer_bucket
        from preservation.settings import load_settings

        client = s3_client(self.aws_conn_id)
        settings = load_settings()
        verdicts = []
        with tempfile.TemporaryDirectory(prefix="transfer-watch-") as work:
            for upload in transfer_bucket.uploads(client, self.bucket):
                verdict = transfer_bucket.verify(
                    client, upload, Path(work), settings.limits, settings.tool_timeout
                )
                self.log.info("%s: %s", upload.url, "accepted" if verdict.accepted else "rejected")
                verdicts.append(verdict)
        context["ti"].xcom_push(key="verdicts", value=[_verdict_to_xcom(v) for v in verdicts])
        return [
            {
                "trigger_run_id": v.upload.run_id,
                "conf": {
                    "transfer": v.upload.url,
                    "processing_config": v.processing_config,
                    "aws_conn_id": self.aws_conn_id,
                    "transfer_id": v.upload.transfer_id,
                    "etag": v.upload.etag,
                },
            }
            for v in verdicts
            if v.accepted
        ]


class PublishFeedbackOperator(BaseOperator):
    """Write each verified upload's feedback log next to it and tag accepted uploads."""

    def __init__(self, *, verify_task_id: str, aws_conn_id: str = "aws_default", **kwargs):
        super().__init__(**kwargs)
        self.verify_task_id = verify_task_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context):
        from preservation import transfer_bucket

        data = context["ti"].xcom_pull(task_ids=self.verify_task_id, key="verdicts") or []
        if not data:
            return {"feedback_logs": 0}
        client = s3_client(self.aws_conn_id)
        for item in data:
            key = transfer_bucket.publish(client, _verdict_from_xcom(item))
            self.log.info("feedback log s3://%s/%s", item["bucket"], key)
        return {"feedback_logs": len(data), "accepted": sum(1 for i in data if i["accepted"])}


class UploadTestPackageOperator(BaseOperator):
    """Build the end-to-end test package and upload it as ``born-digital/test_package.zip``."""

    template_fields: Sequence[str] = ("bucket", "identifier")

    def __init__(
        self,
        *,
        bucket: str,
        identifier: str,
        aws_conn_id: str = "aws_default",
        key: str = "born-digital/test_package.zip",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.bucket, self.identifier, self.aws_conn_id, self.key = (
            bucket,
            identifier,
            aws_conn_id,
            key,
        )

    def execute(self, context):
        from preservation.errors import StorageUnavailable
        from preservation.transfer_package import build_test_package

        with tempfile.TemporaryDirectory(prefix="test-transfer-") as work:
            path = Path(work) / "test_package.zip"
            build_test_package(path, self.identifier)
            try:
                s3_client(self.aws_conn_id).upload_file(str(path), self.bucket, self.key)
            except Exception as exc:
                raise StorageUnavailable(
                    f"Cannot upload to s3://{self.bucket}/{self.key}: {exc}"
                ) from exc
        self.log.info("Uploaded s3://%s/%s (identifier %s)", self.bucket, self.key, self.identifier)
        return {"key": self.key, "identifier": self.identifier}
