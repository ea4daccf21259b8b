"""AIP storage on S3: spaces, UUID quad paths, SHA-256 integrity, no overwrite, an index.

``S3Location`` implements the ``Location`` protocol of ``preservation.storage`` on a boto3
client handed in by the caller (built from an Airflow connection on the Airflow side).

* Keys: ``<prefix><space>/<quad path>/<name>-<uuid>.<ext>`` (a folder AIP: one object per
  file under ``<name>-<uuid>/``), the pointer file beside the package.
* Every object is written with S3's SHA-256 checksum, which S3 checks on receipt, and
  with ``If-None-Match: *``: a key that exists is never overwritten. Large packages go up
  in parts (the last request carries the condition).
* The index answers "which AIPs hold identifier X, newest version first" and "is the AIP
  of transfer T stored" from a few small objects, without listing the bucket:
  ``index/aips/<aip uuid>.json`` (written last: its presence means stored and verified),
  ``index/identifiers/<identifier>/<version>.json`` and ``index/transfers/<uuid>.json``.
  Storing an identifier again adds the next version.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from preservation.errors import StorageConflict, StorageUnavailable
from preservation.premis import now
from preservation.storage import FixityReport, quad_path, verify_bag
from preservation.tools import file_digest

PART_SIZE = 64 * 1024 * 1024
SPACES = ("born-digital", "born-digital-accessions", "testing")


def space_for(identifier: str, package_kind: str, test_prefix: str) -> str:
    """The storage space of an AIP: ``testing`` for test identifiers, else by kind."""
    if test_prefix and identifier.startswith(test_prefix):
        return "testing"
    return "born-digital-accessions" if package_kind == "accession" else "born-digital"


@dataclass(frozen=True)
class Stored:
    """One stored AIP version, as the index records it."""

    aip_uuid: str
    space: str
    key: str
    identifier: str
    version: int
    transfer_uuid: str
    sha256: str | None
    stored_at: str


class S3Location:
    """One S3 bucket (and key prefix) holding the AIP spaces."""

    def __init__(self, client, bucket: str, prefix: str = "", space: str = "born-digital"):
        self.client, self.bucket, self.space = client, bucket, space
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.description = f"s3://{bucket}/{self.prefix}{space}"

    # -- the Location protocol -------------------------------------------------------------
    def find(self, aip_uuid: str) -> str | None:
        record = self.record(aip_uuid)
        return f"s3://{self.bucket}/{record.key}" if record else None

    def store(self, source: Path, aip_uuid: str, extra: list[Path]) -> str:
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
        record = self.record(aip_uuid)
        if record is None:
            return None
        key = record.key.rsplit("/", 1)[0] + f"/pointer.{aip_uuid}.xml"
        return self._get(key)

    def verify(self, stored: str, sha256: str | None) -> FixityReport:
        """Read the stored AIP back: a package file is hashed, a folder bag validated."""
        key = stored.removeprefix(f"s3://{self.bucket}/")
        with tempfile.TemporaryDirectory(prefix="s3-verify-") as work:
            try:
                objects = self._keys(key + "/") if sha256 is None else [key]
                if sha256 is None and objects:
                    for item in objects:
                        target = Path(work) / item.removeprefix(key.rsplit("/", 1)[0] + "/")
                        target.parent.mkdir(parents=True, exist_ok=True)
                        self.client.download_file(self.bucket, item, str(target))
                    return verify_bag(Path(work) / key.rsplit("/", 1)[1], processes=1)
                actual = self._sha256(key)
            except self.client.exceptions.NoSuchKey:
                report = FixityReport(False, f"{stored} is missing")
                report.failures["files"]["missing"].append(stored)
                return report
            except Exception as exc:
                raise StorageUnavailable(f"Cannot read {stored}: {exc}") from exc
        name = key.rsplit("/", 1)[1]
        if actual != sha256:
            report = FixityReport(False, f"{name}: sha256 {actual}, expected {sha256}")
            report.failures["files"]["changed"].append(name)
            return report
        return FixityReport(True, f"{name}: sha256 {sha256} matches (read back from S3)")

    # -- the index ----------------------------------------------------------------------------
    def record(self, aip_uuid: str) -> Stored | None:
        """The index record of a stored AIP (None: not stored, or not finished)."""
        data = self._get(f"{self.prefix}index/aips/{aip_uuid}.json")
        return Stored(**json.loads(data)) if data else None

    def register(
        self, aip_uuid: str, stored: str, identifier: str, transfer_uuid: str, sha256: str | None
    ) -> Stored:
        """Add the stored AIP to the index as the next version of its identifier; a retry
        finds its own earlier record and adds nothing."""
        existing = self.record(aip_uuid)
        if existing:
            return existing
        key = stored.removeprefix(f"s3://{self.bucket}/")
        folder = f"{self.prefix}index/identifiers/{quote(identifier, safe='')}/"
        while True:
            versions = self.versions(identifier)
            mine = next((v for v in versions if v.aip_uuid == aip_uuid), None)
            version = mine.version if mine else (versions[0].version + 1 if versions else 1)
            record = Stored(
                aip_uuid, self.space, key, identifier, version, transfer_uuid, sha256, now()
            )
            body = json.dumps(record.__dict__).encode()
            if mine or self._put_new(f"{folder}{version:06d}.json", body):
                break  # a concurrent store took this version number: take the next one
        self._put_new(f"{self.prefix}index/transfers/{transfer_uuid}.json", body)
        self._put_new(f"{self.prefix}index/aips/{aip_uuid}.json", body)
        return record

    def versions(self, identifier: str) -> list[Stored]:
        """Every stored version of ``identifier``, newest first."""
        folder = f"{self.prefix}index/identifiers/{quote(identifier, safe='')}/"
        records = [Stored(**json.loads(self._get(k))) for k in self._keys(folder)]
        return sorted(records, key=lambda r: r.version, reverse=True)

    def transfer_stored(self, transfer_uuid: str) -> Stored | None:
        """The AIP stored from transfer ``transfer_uuid``, if any."""
        data = self._get(f"{self.prefix}index/transfers/{transfer_uuid}.json")
        return Stored(**json.loads(data)) if data else None

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
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

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
            if size <= PART_SIZE:
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
                for number, chunk in enumerate(iter(lambda: handle.read(PART_SIZE), b""), 1):
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

    def _same(self, key: str, path: Path) -> bool:
        return self._sha256(key) == file_digest(path)

    def _sha256(self, key: str) -> str:
        """The sha256 of a stored object, read back (streamed, never held whole)."""
        return hashlib.file_digest(
            self.client.get_object(Bucket=self.bucket, Key=key)["Body"], "sha256"
        ).hexdigest()
