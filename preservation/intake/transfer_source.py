"""The drop box: where archivists put transfer packages and read each one's feedback log.

A transfer source is a location URL, as storage locations are: ``s3://bucket[/prefix]``
(production, :mod:`preservation.intake.transfer_bucket`) or ``file:///folder`` (the embedded
default, ``$PRESERVATION_HOME/transfers``, :mod:`preservation.intake.transfer_folder`). Both
behave the same way for the archivist:

* the first folder of an upload's key says what it is (transfer-packages.md):
  ``born-digital/`` catalogued material, ``born-digital-accessions/`` accessions; a zip
  anywhere else gets a failed feedback log saying so;
* each upload is checked once and answered with ``{key}.{success|failed}.{stamp}.log``
  next to it; an accepted one starts one transfer_ingest run;
* an upload is identified by its key and ETag (S3's, or a fingerprint of a folder's
  file): the same upload always gets the same log key, transfer id and run id, however
  often it is looked at; a new upload of the same key gets new ones;
* the upload stays until its AIP is verified in storage (then the source policy).

This module holds what both kinds share: the upload, the verdict, which uploads are new,
the checks and the feedback log. No Airflow here: the S3 client is handed in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from preservation.core.errors import ConfigurationInvalid
from preservation.core.premis import stable_uuid
from preservation.core.settings import Limits
from preservation.intake import preflight
from preservation.shared.notifications import blocks_message, system_label
from preservation.tools.process import pool_map

#: What happens to an upload once its AIP is verified in storage (operations.md: the
#: weekly transfer monitor deletes it, so "monitor" is the default).
SOURCE_POLICIES = ("monitor", "delete", "keep")

FEEDBACK = re.compile(
    r"^(?P<key>.+\.zip)\.(?P<verdict>success|failed)\.(?P<stamp>\d{8}T\d{6}Z)\.log$",
    re.IGNORECASE,
)
#: Added once to an accepted upload's feedback log when its transfer fails later.
FAILED_AFTER_ACCEPTANCE = "FAILED after acceptance"


def is_upload(key: str) -> bool:
    """Whether a key is a transfer package (a .zip), not a feedback log or anything else."""
    return key.lower().endswith(".zip") and not FEEDBACK.match(key)


@dataclass(frozen=True)
class Upload:
    """One .zip in a transfer source."""

    source: str  # the transfer source's URL: s3://bucket[/prefix] or file:///folder
    key: str  # its path under the source: born-digital/1234.zip
    etag: str  # S3's ETag, or the fingerprint of a folder's file
    last_modified: datetime  # when it arrived

    @property
    def stamp(self) -> str:
        """The upload's time, as the feedback log's key carries it."""
        return self.last_modified.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    @property
    def url(self) -> str:
        return f"{self.source.rstrip('/')}/{self.key}"

    @property
    def bucket(self) -> str:
        """The bucket of an S3 upload."""
        return urlparse(self.source).netloc

    @property
    def run_id(self) -> str:
        """transfer_ingest's run id for this upload, the package's name first: the same
        upload, the same run (``PP_MDM_1__born-digital__3f2a9c1e0b``)."""
        from preservation.core.package import run_id_for

        folder = self.key.rsplit("/", 1)[0] if "/" in self.key else "drop-box"
        unique = hashlib.sha256(f"{self.url}\n{bare_etag(self.etag)}".encode()).hexdigest()
        return run_id_for(self.key, re.sub(r"[^A-Za-z0-9_.~:+-]", "_", folder), unique[:10])

    @property
    def transfer_id(self) -> str:
        """The transfer's UUID, tagged on the upload and written in its feedback log."""
        parsed = urlparse(self.url)
        path = parsed.path.lstrip("/") if parsed.scheme == "s3" else unquote(parsed.path)
        return stable_uuid("upload", parsed.netloc, path, bare_etag(self.etag))


def bare_etag(etag: str) -> str:
    return etag.strip('"')


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

    def as_dict(self) -> dict:
        """A small, JSON-able form (XCom)."""
        upload = self.upload
        return {
            "source": upload.source,
            "key": upload.key,
            "etag": upload.etag,
            "last_modified": upload.last_modified.isoformat(),
            "accepted": self.accepted,
            "processing_config": self.processing_config,
            "identifier": self.identifier,
            "text": self.text,
            "tags": self.tags,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Verdict:
        upload = Upload(
            data["source"],
            data["key"],
            data["etag"],
            datetime.fromisoformat(data["last_modified"]),
        )
        return cls(
            upload,
            data["accepted"],
            data["processing_config"],
            data["identifier"],
            data["text"],
            data["tags"],
        )


@dataclass(frozen=True)
class Accepted:
    """An upload the watcher accepted: the transfer it started, and whether the source is
    to stay in the drop box after storage (``PRESERVATION_SOURCE_AFTER_STORAGE=keep``)."""

    transfer_id: str
    kept: bool = False


@dataclass(frozen=True)
class Listing:
    """One look at a transfer source: its uploads and its feedback logs."""

    uploads: list[Upload]
    #: (upload key, stamp) -> the keys of the feedback logs written for that upload time.
    logs: dict[tuple[str, str], list[str]]


class TransferSource:
    """A drop box. Subclasses say how to list, read and write it; the rules are here."""

    url: str
    #: How many feedback logs are looked at at once when deciding what is new.
    lookups = 8

    # -- what a kind of source provides -----------------------------------------------
    def listing(self, prefix: str = "") -> Listing:
        """Every upload (settled: completely arrived) and every feedback log whose key
        starts with ``prefix``."""
        raise NotImplementedError

    def log_is_about(self, upload: Upload, log_key: str) -> bool:
        """Whether the feedback log ``log_key`` (of the upload's key and second) was
        written for this upload rather than for an earlier one of the same second."""
        raise NotImplementedError

    def fetch(self, upload: Upload, target: Path) -> None:
        """Copy exactly this upload to ``target``: TransferInvalid if the key holds
        another upload by now, StorageUnavailable if it cannot be read."""
        raise NotImplementedError

    def write_text(self, key: str, text: str, upload: Upload | None = None) -> None:
        """Write a feedback log (about ``upload``) at ``key``, replacing any."""
        raise NotImplementedError

    def read_text(self, key: str) -> str:
        raise NotImplementedError

    def tag(self, upload: Upload, tags: dict[str, str]) -> None:
        """Record an accepted upload's tags (transfer id, configuration, identifier)."""
        raise NotImplementedError

    def delete(self, keys: Iterable[str]) -> None:
        """Remove uploads or logs (one already gone is fine: a retry)."""
        raise NotImplementedError

    def keep(self, key: str) -> str:
        """Mark an upload so the transfer monitor never deletes it; returns what was done."""
        raise NotImplementedError

    def put(self, key: str, path: Path) -> Upload:
        """Put a package into the drop box, as an archivist would (tests, the test DAG)."""
        raise NotImplementedError

    def accepted(self, upload: Upload, listing: Listing) -> Accepted | None:
        """What the watcher recorded when it accepted ``upload`` (its transfer id and
        whether it is to be kept); None when it was not accepted."""
        raise NotImplementedError

    # -- the rules ----------------------------------------------------------------------
    def new_uploads(self, known: set[tuple[str, str]] | None = None) -> list[Upload]:
        """The uploads that have no feedback log yet (under any prefix: one under an
        unknown prefix gets a failed log saying so).

        A log names its upload by key and time to the second (the specified format);
        ``log_is_about`` tells an upload replaced within that second from the one that
        was checked. ``known`` remembers (key, ETag) pairs found checked, so a watcher
        that looks every few seconds asks about each log once."""
        known = set() if known is None else known
        listing = self.listing()
        candidates = []
        for upload in listing.uploads:
            if (upload.key, upload.etag) in known:
                continue
            candidates.append((upload, listing.logs.get((upload.key, upload.stamp), [])))
        checked = list(pool_map(lambda c: self._checked(*c), candidates, self.lookups))
        fresh = []
        for (upload, _), was_checked in zip(candidates, checked):
            if was_checked:
                known.add((upload.key, upload.etag))
            else:
                fresh.append(upload)
        return sorted(fresh, key=lambda u: (u.last_modified, u.key))

    def _checked(self, upload: Upload, log_keys: list[str]) -> bool:
        return any(self.log_is_about(upload, log_key) for log_key in log_keys)

    def feedback_logs(self, key: str, verdict: str = "") -> list[str]:
        """The feedback logs of the upload ``key`` (of one verdict, when given)."""
        return sorted(
            log_key
            for (upload_key, _), log_keys in self.listing(key).logs.items()
            if upload_key == key
            for log_key in log_keys
            if not verdict or FEEDBACK.match(log_key)["verdict"].lower() == verdict
        )

    def upload(self, key: str) -> Upload | None:
        """The upload at ``key`` now (None when there is none)."""
        return next((u for u in self.listing(key).uploads if u.key == key), None)

    def note_failure(self, key: str, etag: str, stage: str, reason: str) -> str | None:
        """Add to the upload's feedback log that its transfer failed after acceptance
        (once); returns the log's key, None when the upload has no log of its own."""
        listing = self.listing(key)
        for log_key in sorted(self.feedback_logs(key, "success"), reverse=True):
            stamp = FEEDBACK.match(log_key)["stamp"]
            upload = next((u for u in listing.uploads if u.key == key and u.stamp == stamp), None)
            if upload is not None and bare_etag(upload.etag) != bare_etag(etag):
                continue  # the log of another upload of the same key
            text = self.read_text(log_key)
            if FAILED_AFTER_ACCEPTANCE not in text:
                text += (
                    f"\n{FAILED_AFTER_ACCEPTANCE}: the transfer stopped at {stage!r}.\n{reason}\n"
                    "The package stays in the drop box; nothing of it was stored.\n"
                )
                self.write_text(log_key, text, upload)
            return log_key
        return None

    def after_storage(self, key: str, policy: str) -> str:
        """Apply the source policy to the upload ``key`` (its AIP is verified in storage):
        "delete" removes it and its feedback logs, "keep" marks it so the monitor leaves
        it, "monitor" does nothing (the monitor deletes it). Returns what was done."""
        url = f"{self.url.rstrip('/')}/{key}"
        if policy == "delete":
            logs = self.feedback_logs(key)
            self.delete([key, *logs])
            return f"deleted {url} and {len(logs)} feedback log(s)"
        if policy == "keep":
            return self.keep(key)
        return f"left {url} for the transfer monitor"


def open_transfer_source(
    url: str, s3_client: Callable[[], object] | None = None, credentials: str = ""
) -> TransferSource:
    """The transfer source at ``url`` (``s3://bucket[/prefix]`` or ``file:///folder``).
    ``credentials`` names where S3 credentials come from, for messages that say what to
    fix (for example "the Airflow connection 'aws_default'")."""
    parsed = urlparse(url)
    if parsed.scheme == "file" or (not parsed.scheme and url.startswith("/")):
        from preservation.intake.transfer_folder import FolderTransferSource

        return FolderTransferSource(Path(unquote(parsed.path)))
    if parsed.scheme == "s3" and parsed.netloc:
        if s3_client is None:
            raise ConfigurationInvalid(f"{url}: no S3 client here to reach it")
        from preservation.intake.transfer_bucket import S3TransferSource

        return S3TransferSource(s3_client(), parsed.netloc, parsed.path, credentials)
    raise ConfigurationInvalid(
        f"PRESERVATION_TRANSFER_SOURCE={url!r} is not a drop box: use "
        "s3://bucket[/prefix] or file:///absolute/folder"
    )


def split_upload_url(url: str, source_url: str = "") -> tuple[str, str]:
    """(transfer source URL, key) of an upload's URL: under ``source_url`` when given,
    else an S3 URL's bucket is its source and a file's drop box is the folder above
    its kind folder (``…/transfers/born-digital/1234.zip`` -> ``…/transfers``)."""
    if source_url and url.startswith(source_url.rstrip("/") + "/"):
        return source_url.rstrip("/"), url[len(source_url.rstrip("/")) + 1 :]
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        return f"s3://{parsed.netloc}", parsed.path.lstrip("/")
    path = Path(unquote(parsed.path))
    for prefix in preflight.PREFIXES:
        if path.parent.name == prefix.rstrip("/"):
            return path.parent.parent.as_uri(), f"{prefix}{path.name}"
    return path.parent.as_uri(), path.name


def verify(
    source: TransferSource, upload: Upload, work: Path, limits: Limits, timeout: int
) -> Verdict:
    """Run the pre-flight checks on an upload (copied to ``work``); nothing is written to
    the drop box yet (see ``publish``)."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        kind, config = preflight.kind_for_key(upload.key)
    except ValueError as exc:
        return Verdict(upload, False, "", "", f"{exc}\n", {})
    local = work / f"{upload.transfer_id}.zip"  # the key's name may be too long for a file
    try:
        source.fetch(upload, local)
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


def publish(source: TransferSource, verdict: Verdict) -> str:
    """Write the feedback log next to the upload (the same key on a retry) and tag an
    accepted upload; returns the log's key."""
    source.write_text(verdict.log_key, verdict.text, verdict.upload)
    if verdict.tags:
        source.tag(verdict.upload, verdict.tags)
    return verdict.log_key


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
