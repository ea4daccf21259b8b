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
from preservation.notifications import blocks_message, system_label
from preservation.premis import stable_uuid
from preservation.settings import Limits

#: What happens to an upload once its AIP is verified in storage (operations.md: the
#: weekly transfer monitor deletes it, so "monitor" is the default).
SOURCE_POLICIES = ("monitor", "delete", "keep")
#: The tag that tells the transfer monitor to leave an upload in the bucket.
KEEP_TAG = {"Key": "retention", "Value": "keep"}

#: The feedback log's metadata naming the ETag of the upload it is about.
SOURCE_ETAG = "source-etag"

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
    unknown prefix gets a failed log saying so).

    A log names its upload by key and time to the second (the specified format); it also
    records the upload's ETag (metadata ``source-etag``), so an upload replaced within the
    same second as the one that was checked is still seen as new."""
    found, logged = [], {}
    try:
        for prefix in prefixes:
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    match = FEEDBACK.match(key)
                    if match:
                        logged.setdefault((match["key"], match["stamp"]), []).append(key)
                    elif key.lower().endswith(".zip"):
                        found.append(Upload(bucket, key, item["ETag"], item["LastModified"]))
        return [u for u in found if not _checked(client, u, logged.get((u.key, u.stamp), []))]
    except Exception as exc:  # botocore's errors: S3 unreachable or refusing
        raise StorageUnavailable(f"Cannot list s3://{bucket}: {exc}") from exc


def _checked(client, upload: Upload, log_keys: list[str]) -> bool:
    """Whether one of the logs with the upload's key and time is about this upload."""
    for log_key in log_keys:
        metadata = client.head_object(Bucket=upload.bucket, Key=log_key).get("Metadata", {})
        if metadata.get(SOURCE_ETAG, _etag(upload.etag)) == _etag(upload.etag):
            return True
    return False


def _etag(etag: str) -> str:
    return etag.strip('"')


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
            Metadata={SOURCE_ETAG: _etag(upload.etag)},
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


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def feedback_logs(client, bucket: str, key: str, verdict: str = "") -> list[str]:
    """The feedback logs of the upload ``key`` (of one verdict, when given)."""
    return [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=key + "."
        )
        for item in page.get("Contents", [])
        if (m := FEEDBACK.match(item["Key"]))
        and m["key"] == key
        and (not verdict or m["verdict"] == verdict)
    ]


def after_storage(client, url: str, policy: str) -> str:
    """Apply the source policy to the upload at ``url`` (its AIP is verified in storage):
    "delete" removes it and its feedback logs, "keep" tags it so the weekly monitor leaves
    it, "monitor" does nothing (the monitor deletes it). Returns what was done."""
    bucket, key = split_url(url)
    try:
        if policy == "delete":
            logs = feedback_logs(client, bucket, key)
            for target in [key, *logs]:  # deleting what is gone already is fine (a retry)
                client.delete_object(Bucket=bucket, Key=target)
            return f"deleted {url} and {len(logs)} feedback log(s)"
        if policy == "keep":
            try:
                tags = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
            except client.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                    raise
                return f"{url} is gone already"
            tags = [t for t in tags if t["Key"] != KEEP_TAG["Key"]] + [KEEP_TAG]
            client.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})
            return f"kept {url} (tagged retention=keep)"
    except Exception as exc:  # botocore's errors: S3 unreachable or refusing
        raise StorageUnavailable(f"Cannot apply the source policy to {url}: {exc}") from exc
    return f"left {url} for the transfer monitor"


def failure_alert(
    source: str, stage: str, reason: str, log_url: str, system: str, environment: str = ""
) -> dict:
    """The Slack message for a transfer that failed after acceptance."""
    return blocks_message(
        [
            f"🚨 *A transfer failed in {system_label(system, environment)}*\n"
            f"*Package:* {source}\n*Stage:* {stage}\n*Reason:* {reason[:2000]}\n"
            f"<{log_url}|Task log in Airflow>"
        ]
    )


def note_failure(client, url: str, etag: str, stage: str, reason: str) -> str | None:
    """Add to the upload's feedback log that its transfer failed after acceptance (once);
    returns the log's key, None when the upload has no log of its own."""
    bucket, key = split_url(url)
    for log_key in sorted(feedback_logs(client, bucket, key, "success"), reverse=True):
        head = client.head_object(Bucket=bucket, Key=log_key)
        if head.get("Metadata", {}).get(SOURCE_ETAG) not in (None, _etag(etag)):
            continue
        text = client.get_object(Bucket=bucket, Key=log_key)["Body"].read().decode("utf-8")
        marker = "FAILED after acceptance"
        if marker not in text:
            text += (
                f"\n{marker}: the transfer stopped at {stage!r}.\n{reason}\n"
                "The package stays in the bucket; nothing of it was stored.\n"
            )
            client.put_object(
                Bucket=bucket,
                Key=log_key,
                Body=text.encode("utf-8"),
                ContentType="text/plain; charset=utf-8",
                Metadata=head.get("Metadata", {}),
            )
        return log_key
    return None
