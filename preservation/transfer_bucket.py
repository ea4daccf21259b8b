"""The S3 transfer bucket (the drop box): uploads, their feedback logs and tags.

Works on a boto3 S3 client handed in by the caller (the Airflow side builds it from an
Airflow connection with providers-amazon's S3Hook; this library never imports Airflow).
An upload is identified by bucket, key and ETag: the same upload always gets the same
feedback-log key and the same transfer_ingest run id, however often it is looked at; a
re-upload with new content gets new ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from preservation import preflight
from preservation.errors import StorageUnavailable
from preservation.premis import stable_uuid
from preservation.settings import Limits

FEEDBACK = re.compile(
    r"^(?P<key>.+\.zip)\.(?P<verdict>success|failed)\.(?P<stamp>\d{8}T\d{6}Z)\.log$"
)


@dataclass(frozen=True)
class Upload:
    """One .zip in the transfer bucket, as S3 lists it."""

    bucket: str
    key: str
    etag: str
    last_modified: datetime

    @property
    def stamp(self) -> str:
        """The upload's time, as the feedback log's key carries it."""
        return self.last_modified.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def run_id(self) -> str:
        """transfer_ingest's run id for this upload: the same upload, the same run."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.key)[:150]
        return f"s3__{slug}__{self.etag.strip(chr(34))[:32]}"

    @property
    def transfer_id(self) -> str:
        return stable_uuid("upload", self.bucket, self.key, self.etag)


@dataclass(frozen=True)
class Verdict:
    """What the pre-flight checks said about an upload: the feedback log to write next to
    it and, when accepted, the tags to put on it."""

    upload: Upload
    accepted: bool
    processing_config: str
    identifier: str
    text: str
    tags: dict

    @property
    def log_key(self) -> str:
        return preflight.feedback_key(self.upload.key, self.accepted, self.upload.stamp)


def uploads(client, bucket: str, prefixes: tuple[str, ...] = ("",)) -> list[Upload]:
    """The .zip uploads that have no feedback log yet (under any prefix: one under an
    unknown prefix gets a failed log saying so)."""
    found, logged = [], set()
    try:
        for prefix in prefixes:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    match = FEEDBACK.match(key)
                    if match:
                        logged.add((match["key"], match["stamp"]))
                    elif key.lower().endswith(".zip"):
                        found.append(Upload(bucket, key, item["ETag"], item["LastModified"]))
    except Exception as exc:  # botocore's errors: S3 unreachable or refusing
        raise StorageUnavailable(f"Cannot list s3://{bucket}: {exc}") from exc
    return [u for u in found if (u.key, u.stamp) not in logged]


def verify(client, upload: Upload, work: Path, limits: Limits, timeout: int) -> Verdict:
    """Run the pre-flight checks on an upload (downloaded to ``work``); nothing is written
    to the bucket yet (see ``publish``)."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        kind, config = preflight.kind_for_key(upload.key)
    except ValueError as exc:
        return Verdict(upload, False, "", "", f"{exc}\n", {})
    local = work / Path(upload.key).name
    try:
        client.download_file(upload.bucket, upload.key, str(local))
    except Exception as exc:  # botocore's errors: S3 unreachable or refusing
        raise StorageUnavailable(f"Cannot read {upload.url}: {exc}") from exc
    try:
        report = preflight.check(local, kind, limits, timeout, name=upload.key)
    finally:
        local.unlink(missing_ok=True)
    text = report.render(started, upload.transfer_id if report.success else "")
    tags = {}
    if report.success:
        tags = {
            "transfer-id": upload.transfer_id,
            "processing-config": config,
            ("accession-number" if kind == "accession" else "catalogue-identifier"): (
                report.identifier
            ),
            "event-time": started,
        }
    return Verdict(upload, report.success, config, report.identifier, text, tags)


def publish(client, verdict: Verdict) -> str:
    """Write the feedback log next to the upload (the same key on a retry) and tag an
    accepted upload; returns the log's key."""
    upload = verdict.upload
    try:
        client.put_object(
            Bucket=upload.bucket,
            Key=verdict.log_key,
            Body=verdict.text.encode("utf-8"),
            ContentType="text/plain; charset=utf-8",
        )
        if verdict.tags:
            client.put_object_tagging(
                Bucket=upload.bucket,
                Key=upload.key,
                Tagging={"TagSet": [{"Key": k, "Value": _tag(v)} for k, v in verdict.tags.items()]},
            )
    except Exception as exc:
        raise StorageUnavailable(f"Cannot write the feedback log of {upload.url}: {exc}") from exc
    return verdict.log_key


def _tag(value: str) -> str:
    # S3 tag values allow letters, digits, spaces and + - = . _ : / @ only.
    return re.sub(r"[^\w +\-=.:/@]", "_", value)[:256]
