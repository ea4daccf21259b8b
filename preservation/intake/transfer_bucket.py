"""The S3 transfer bucket: production's drop box (``s3://bucket[/prefix]``).

Works on a boto3 S3 client handed in by the caller (the Airflow side builds it from an
Airflow connection with providers-amazon's S3Hook; this library never imports Airflow).
A feedback log records the ETag of the upload it is about (metadata ``source-etag``), so
an upload replaced within the second of the one that was checked is still seen as new;
an accepted upload is tagged (transfer id, processing configuration, identifier, time)
for the weekly transfer monitor. Only the upload that was checked is ever processed: it
is read with ``If-Match`` its ETag.

S3 refusing (no such bucket, credentials refused) is a ``ConfigurationInvalid`` that
says what to fix; S3 unreachable is a ``StorageUnavailable``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from preservation.core.errors import (
    ConfigurationInvalid,
    PreservationError,
    StorageUnavailable,
    TransferInvalid,
)
from preservation.intake.transfer_source import (
    FEEDBACK,
    Accepted,
    Listing,
    TransferSource,
    Upload,
    bare_etag,
    is_upload,
)
from preservation.storage.s3_objects import error_code, is_missing, read_bytes, read_object

#: The feedback log's metadata naming the ETag of the upload it is about.
SOURCE_ETAG = "source-etag"
#: The tag that tells the transfer monitor to leave an upload in the bucket.
KEEP_TAG = {"Key": "retention", "Value": "keep"}
#: S3's answers that mean the credentials (or their permissions) are wrong.
REFUSED = {
    "AccessDenied",
    "AllAccessDisabled",
    "AuthorizationHeaderMalformed",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
}


class S3TransferSource(TransferSource):
    """The drop box in an S3 bucket (keys under ``prefix``)."""

    def __init__(self, client, bucket: str, prefix: str = "", credentials: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.credentials = credentials or "the S3 credentials"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fault(self, exc: BaseException, what: str) -> PreservationError:
        """What an S3 error means for the person who must fix it."""
        code = error_code(exc)
        if code == "NoSuchBucket":
            return ConfigurationInvalid(
                f"{what}: the bucket {self.bucket} does not exist. Create it, or point "
                "PRESERVATION_TRANSFER_SOURCE at the drop box's bucket."
            )
        missing = type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError")
        if code in REFUSED or missing:
            return ConfigurationInvalid(
                f"{what}: S3 refused {self.credentials} ({code or type(exc).__name__}). "
                f"Fix its access key and secret (or role) and its permission to list, read "
                f"and write {self.url}."
            )
        return StorageUnavailable(f"{what}: {exc}")

    # -- listing --------------------------------------------------------------------------
    def listing(self, prefix: str = "") -> Listing:
        uploads, logs = [], {}
        base = len(self._key(""))
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][base:]
                    match = FEEDBACK.match(key)
                    if match:
                        logs.setdefault((match["key"], match["stamp"]), []).append(key)
                    elif is_upload(key):
                        uploads.append(Upload(self.url, key, item["ETag"], item["LastModified"]))
        except Exception as exc:  # botocore's errors: S3 unreachable or refusing
            raise self._fault(exc, f"Cannot list {self.url}") from exc
        return Listing(uploads, logs)

    def log_is_about(self, upload: Upload, log_key: str) -> bool:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(log_key))
        except Exception as exc:
            if is_missing(exc):
                return False  # deleted since the listing
            raise self._fault(exc, f"Cannot read {self.url}/{log_key}") from exc
        recorded = head.get("Metadata", {}).get(SOURCE_ETAG)
        # A log written before logs recorded their upload's ETag is about it.
        return recorded is None or recorded == bare_etag(upload.etag)

    # -- reading and writing -----------------------------------------------------------
    def fetch(self, upload: Upload, target: Path) -> None:
        try:
            # Conditional GETs, streamed to disk: S3 answers 412 if the key holds another
            # upload by now (download_file cannot send If-Match).
            with open(target, "wb") as handle:
                read_object(
                    self.client, self.bucket, self._key(upload.key), handle.write, upload.etag
                )
        except Exception as exc:
            target.unlink(missing_ok=True)
            if error_code(exc) in ("412", "PreconditionFailed"):
                raise TransferInvalid(
                    f"{upload.url} was replaced after it was checked (this run is for ETag "
                    f"{upload.etag}); the new upload gets its own feedback log and run"
                ) from exc
            raise self._fault(exc, f"Cannot read {upload.url}") from exc

    def write_text(self, key: str, text: str, upload: Upload | None = None) -> None:
        metadata = {SOURCE_ETAG: bare_etag(upload.etag)} if upload else {}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=text.encode("utf-8"),
                ContentType="text/plain; charset=utf-8",
                Metadata=metadata,
            )
        except Exception as exc:
            raise self._fault(exc, f"Cannot write {self.url}/{key}") from exc

    def read_text(self, key: str) -> str:
        try:
            return read_bytes(self.client, self.bucket, self._key(key)).decode("utf-8")
        except Exception as exc:
            raise self._fault(exc, f"Cannot read {self.url}/{key}") from exc

    def tag(self, upload: Upload, tags: dict[str, str]) -> None:
        tag_set = [{"Key": k, "Value": _tag(v)} for k, v in tags.items()]
        try:
            self.client.put_object_tagging(
                Bucket=self.bucket, Key=self._key(upload.key), Tagging={"TagSet": tag_set}
            )
        except Exception as exc:
            raise self._fault(exc, f"Cannot tag {upload.url}") from exc

    def delete(self, keys: Iterable[str]) -> None:
        try:
            for key in keys:  # deleting what is gone already is fine for S3 (a retry)
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._fault(exc, f"Cannot delete from {self.url}") from exc

    def keep(self, key: str) -> str:
        url = f"{self.url}/{key}"
        try:
            try:
                tags = self.client.get_object_tagging(Bucket=self.bucket, Key=self._key(key))
            except Exception as exc:
                if is_missing(exc):
                    return f"{url} is gone already"
                raise
            kept = [t for t in tags["TagSet"] if t["Key"] != KEEP_TAG["Key"]] + [KEEP_TAG]
            self.client.put_object_tagging(
                Bucket=self.bucket, Key=self._key(key), Tagging={"TagSet": kept}
            )
        except Exception as exc:
            raise self._fault(exc, f"Cannot tag {url}") from exc
        return f"kept {url} (tagged retention=keep)"

    def accepted(self, upload: Upload, listing: Listing) -> Accepted | None:
        # The tags are the record: the watcher tags an upload when it accepts it.
        try:
            tag_set = self.client.get_object_tagging(Bucket=self.bucket, Key=self._key(upload.key))[
                "TagSet"
            ]
        except Exception as exc:
            if is_missing(exc):
                return None  # gone since the listing
            raise self._fault(exc, f"Cannot read the tags of {upload.url}") from exc
        tags = {t["Key"]: t["Value"] for t in tag_set}
        if not tags.get("transfer-id"):
            return None  # rejected before processing: its feedback log told the archivist
        return Accepted(tags["transfer-id"], tags.get(KEEP_TAG["Key"]) == KEEP_TAG["Value"])

    def put(self, key: str, path: Path) -> Upload:
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key))
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._fault(exc, f"Cannot upload to {self.url}/{key}") from exc
        return Upload(self.url, key, head["ETag"], head["LastModified"])


def _tag(value: str) -> str:
    # S3 tag values allow letters, digits, spaces and + - = . _ : / @ only.
    return re.sub(r"[^\w +\-=.:/@]", "_", value)[:256]
