"""AIP storage on S3: spaces, UUID quad paths, SHA-256 integrity, no overwrite, an index.

``S3Location`` implements the ``Location`` protocol of ``preservation.storage.location`` on a boto3
client handed in by the caller (built from an Airflow connection on the Airflow side).

* Keys: ``<prefix><space>/<quad path>/<name>-<uuid>.<ext>`` (a folder AIP: one object per
  file under ``<name>-<uuid>/``), the pointer file beside the package.
* Every object is written with S3's SHA-256 checksum, which S3 checks on receipt, and
  with ``If-None-Match: *``: a key that exists is never overwritten. Large packages go up
  in parts (the last request carries the condition).
* The index (``preservation.storage.aip_index``) is kept as small objects under
  ``<prefix>index/``: found by UUID, identifier (versions) or transfer without listing
  the bucket.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from preservation.core.errors import ConfigurationInvalid, StorageConflict, StorageUnavailable
from preservation.storage.aip_index import Index, Stored
from preservation.storage.location import FixityReport, quad_path, verify_bag
from preservation.storage.s3_objects import is_missing, read_bytes, read_object
from preservation.storage.spaces import BORN_DIGITAL, SPACES, space_for
from preservation.tools.process import file_digest

__all__ = ["S3Location", "SPACES", "space_for", "part_size_setting"]

PART_SIZE = 64 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part but the last


def part_size_setting() -> int:
    """``PRESERVATION_S3_PART_SIZE`` (bytes; default 64 MiB): files larger than this go
    up in parts of this size."""
    value = os.environ.get("PRESERVATION_S3_PART_SIZE", "")
    size = int(value) if value.isdigit() else PART_SIZE
    if value and not value.isdigit() or size < MIN_PART_SIZE:
        raise ConfigurationInvalid(
            f"PRESERVATION_S3_PART_SIZE={value!r}: give a number of bytes of at least "
            f"{MIN_PART_SIZE} (S3's smallest part)"
        )
    return size


class S3Location:
    """One S3 bucket (and key prefix) holding the AIP spaces."""

    def __init__(
        self,
        client,
        bucket: str,
        prefix: str = "",
        space: str = BORN_DIGITAL,
        part_size: int | None = None,
    ):
        self.client, self.bucket, self.space = client, bucket, space
        self.part_size = part_size or part_size_setting()
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.description = f"s3://{bucket}/{self.prefix}{space}"
        self.index = Index(_Objects(self))

    # -- the Location protocol -------------------------------------------------------------
    def find(self, aip_uuid: str) -> str | None:
        record = self.index.record(aip_uuid)
        if record is None or self.index.tombstone(aip_uuid) is not None:
            return None  # never stored, or deleted since
        return self.url(record)

    def store(
        self, source: Path, aip_uuid: str, extra: list[Path], *, working_copy: bool = False
    ) -> str:
        folder = f"{self.prefix}{self.space}/{quad_path(aip_uuid)}"
        try:
            for item in [*extra, source]:  # the package last
                if item.is_dir():
                    for path in sorted(p for p in item.rglob("*") if p.is_file()):
                        rel = path.relative_to(item.parent).as_posix()
                        self._put_file(f"{folder}/{rel}", path)
                else:
                    self._put_file(f"{folder}/{item.name}", item)
        except StorageConflict:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"Cannot write to {self.description}: {exc}") from exc
        return f"s3://{self.bucket}/{folder}/{source.name}"

    def pointer(self, aip_uuid: str) -> bytes | None:
        record = self.index.record(aip_uuid)
        if record is None:
            return None
        key = record.key.rsplit("/", 1)[0] + f"/pointer.{aip_uuid}.xml"
        return self._get(key)

    def verify(self, stored: str, sha256: str | None) -> FixityReport:
        """Read the stored AIP back: a package file is hashed, a folder bag validated."""
        key = stored.removeprefix(f"s3://{self.bucket}/")
        name = key.rsplit("/", 1)[1]
        try:
            if sha256 is None:
                with tempfile.TemporaryDirectory(prefix="s3-verify-") as work:
                    return verify_bag(self.download(stored, Path(work)), processes=1)
            actual = self._sha256(key)
        except StorageUnavailable:
            raise
        except Exception as exc:
            if not (is_missing(exc) or isinstance(exc, FileNotFoundError)):
                raise StorageUnavailable(f"Cannot read {stored}: {exc}") from exc
            report = FixityReport(False, f"{stored} is missing")
            report.failures["files"]["missing"].append(stored)
            return report
        if actual != sha256:
            report = FixityReport(False, f"{name}: sha256 {actual}, expected {sha256}")
            report.failures["files"]["changed"].append(name)
            return report
        return FixityReport(True, f"{name}: sha256 {sha256} matches (read back from S3)")

    def register(
        self, aip_uuid: str, stored: str, identifier: str, transfer_uuid: str, sha256: str | None
    ) -> Stored:
        """Add the stored, verified AIP to the index (the next version of its identifier)."""
        key = stored.removeprefix(f"s3://{self.bucket}/")
        return self.index.register(aip_uuid, self.space, key, identifier, transfer_uuid, sha256)

    def url(self, record: Stored) -> str:
        """Where an indexed AIP is."""
        return f"s3://{self.bucket}/{record.key}"

    def download(self, stored: str, target: Path) -> Path:
        """Copy a stored AIP or DIP (a package file, or every object of a folder) into the
        folder ``target``, streamed to disk; returns the local copy."""
        key = stored.removeprefix(f"s3://{self.bucket}/")
        parent, name = key.rsplit("/", 1)
        try:
            for item in self._keys(key + "/") or [key]:
                local = target / item.removeprefix(parent + "/")
                local.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(self.bucket, item, str(local))
        except self.client.exceptions.ClientError as exc:
            if is_missing(exc):
                raise FileNotFoundError(f"{stored} is missing") from exc
            raise StorageUnavailable(f"Cannot read {stored}: {exc}") from exc
        except Exception as exc:  # botocore's other errors: S3 unreachable
            raise StorageUnavailable(f"Cannot read {stored}: {exc}") from exc
        return target / name

    def delete(self, aip_uuid: str) -> list[str]:
        """Remove every object (and every version of it, in a versioned bucket) under the
        AIP's quad folder."""
        folder = f"{self.prefix}{self.space}/{quad_path(aip_uuid)}/"
        record = self.index.record(aip_uuid)
        if record is not None:  # the space it was stored in, whatever this location's
            folder = record.key.rsplit("/", 1)[0] + "/"
        try:
            versions = []
            for page in self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=folder
            ):
                for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    versions.append({"Key": item["Key"], "VersionId": item["VersionId"]})
            for start in range(0, len(versions), 1000):
                answer = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": versions[start : start + 1000]}
                )
                if answer.get("Errors"):
                    raise StorageUnavailable(
                        f"S3 kept {len(answer['Errors'])} object(s) of {folder}: "
                        f"{answer['Errors'][0].get('Message', '')}"
                    )
        except StorageUnavailable:
            raise
        except Exception as exc:
            raise StorageUnavailable(f"Cannot delete from {self.description}: {exc}") from exc
        return sorted({f"s3://{self.bucket}/{v['Key']}" for v in versions})

    # -- S3 -------------------------------------------------------------------------------------
    def _keys(self, prefix: str) -> list[str]:
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys

    def _get(self, key: str) -> bytes | None:
        try:
            return read_bytes(self.client, self.bucket, key)
        except Exception as exc:
            if is_missing(exc):
                return None
            raise

    def _put_new(self, key: str, body: bytes) -> bool:
        """Write ``key`` unless it exists; False when it already did."""
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256", IfNoneMatch="*"
            )
            return True
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            raise

    def _put_file(self, key: str, path: Path) -> None:
        """Upload a file under a new key with its SHA-256; an identical object already
        there (a retry) is fine, a different one is a conflict."""
        size = path.stat().st_size
        try:
            if size <= self.part_size:
                with open(path, "rb") as handle:
                    self.client.put_object(
                        Bucket=self.bucket,
                        Key=key,
                        Body=handle,
                        ChecksumAlgorithm="SHA256",
                        IfNoneMatch="*",
                    )
            else:
                self._put_parts(key, path)
        except self.client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise
            if not self._same(key, path):
                raise StorageConflict(
                    f"s3://{self.bucket}/{key} already exists with different content; stored "
                    "AIPs are never overwritten"
                ) from exc

    def _put_parts(self, key: str, path: Path) -> None:
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256"
        )
        parts = []
        try:
            with open(path, "rb") as handle:
                for number, chunk in enumerate(iter(lambda: handle.read(self.part_size), b""), 1):
                    done = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload["UploadId"],
                        PartNumber=number,
                        Body=chunk,
                        ChecksumAlgorithm="SHA256",
                    )
                    parts.append(
                        {
                            "PartNumber": number,
                            "ETag": done["ETag"],
                            "ChecksumSHA256": done["ChecksumSHA256"],
                        }
                    )
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload["UploadId"],
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload["UploadId"]
            )
            raise
        finally:
            self._abort_leftovers(key, upload["UploadId"])

    def _abort_leftovers(self, key: str, ours: str) -> None:
        """Abort the other unfinished multipart uploads of ``key``: a start whose answer
        was lost (S3 began an upload the retry never heard of) or a killed try's. The
        key is written once, so no one else's upload of it can be live."""
        pending = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        for item in pending.get("Uploads", []):
            if item["Key"] == key and item["UploadId"] != ours:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=item["UploadId"]
                )

    def _same(self, key: str, path: Path) -> bool:
        return self._sha256(key) == file_digest(path)

    def _sha256(self, key: str) -> str:
        """The sha256 of a stored object, read back (streamed, never held whole)."""
        digest = hashlib.sha256()
        read_object(self.client, self.bucket, key, digest.update)
        return digest.hexdigest()


class _Objects:
    """The index's records as S3 objects under ``<prefix>index/``."""

    def __init__(self, location: S3Location):
        self.location = location
        self.base = f"{location.prefix}index/"

    def get(self, key: str) -> bytes | None:
        return self._reach(self.location._get, self.base + key)

    def put_new(self, key: str, body: bytes) -> bool:
        return self._reach(self.location._put_new, self.base + key, body)

    def keys(self, prefix: str) -> list[str]:
        found = self._reach(self.location._keys, self.base + prefix)
        return [k.removeprefix(self.base) for k in found]

    def _reach(self, call, *args):
        try:
            return call(*args)
        except Exception as exc:  # botocore's errors: S3 unreachable or refusing
            where = f"s3://{self.location.bucket}/{self.base}"
            raise StorageUnavailable(f"Cannot read or write the index {where}: {exc}") from exc
