"""The weekly transfer monitor: which uploads of the last 14 days got stored, which did
not, one Slack report, and the sources storage confirms deleted.

Rules (operations.md, Wellcome Collection's monitor):

* an upload counts when it started a transfer (the watcher accepted it: on S3 it carries
  the ``transfer-id`` tag, in a folder its success feedback log is about it);
* it is stored when the AIP index has that transfer (written only once every copy of the
  AIP was read back intact); otherwise it did not get stored, or, while its
  transfer_ingest run is still going, it is not stored *yet*;
* only stored uploads have their source zip and feedback logs deleted, and never one
  marked kept (``PRESERVATION_SOURCE_AFTER_STORAGE=keep``: tagged ``retention=keep`` on
  S3, a ``.<name>.keep`` beside it in a folder).

Works on any drop box (the S3 bucket, or the embedded default's folder) and the AIP index
handed in by the caller; the run states come
from a callable (on the Airflow side, the metadata database through the Task SDK).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from preservation.intake.transfer_source import TransferSource, Upload
from preservation.shared.notifications import blocks_message, is_production, system_label
from preservation.storage.aip_index import Index

NAME = "Transfer monitor"
LOOKBACK_DAYS = 14


@dataclass(frozen=True)
class Line:
    """One upload in the report."""

    key: str
    transfer_id: str
    in_flight: bool = False


@dataclass
class MonitorReport:
    """What the monitor found, and what it may delete."""

    stored: list[Line] = field(default_factory=list)
    not_stored: list[Line] = field(default_factory=list)
    #: Keys to delete once the report is out: stored sources and their feedback logs.
    deletable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "stored": [line.__dict__ for line in self.stored],
            "not_stored": [line.__dict__ for line in self.not_stored],
            "deletable": self.deletable,
        }

    @classmethod
    def from_dict(cls, data: dict) -> MonitorReport:
        return cls(
            [Line(**line) for line in data["stored"]],
            [Line(**line) for line in data["not_stored"]],
            list(data["deletable"]),
        )


def survey(
    source: TransferSource,
    index: Index,
    in_flight: Callable[[Upload], bool],
    now: datetime | None = None,
    days: int = LOOKBACK_DAYS,
) -> MonitorReport:
    """Look at the drop box's uploads of the last ``days`` days; nothing is changed here."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    report = MonitorReport()
    listing = source.listing()
    logs: dict[str, list[str]] = {}
    for (key, _), log_keys in listing.logs.items():
        logs.setdefault(key, []).extend(log_keys)
    for upload in sorted(listing.uploads, key=lambda u: u.key):
        if upload.last_modified < since:
            continue
        accepted = source.accepted(upload, listing)
        if accepted is None:
            continue  # rejected before processing: its feedback log told the archivist
        if index.transfer_stored(accepted.transfer_id):
            report.stored.append(Line(upload.key, accepted.transfer_id))
            if not accepted.kept:
                report.deletable += [upload.key, *sorted(logs.get(upload.key, []))]
        else:
            report.not_stored.append(Line(upload.key, accepted.transfer_id, in_flight(upload)))
    return report


def delete_confirmed(source: TransferSource, report: MonitorReport) -> int:
    """Delete the stored uploads' sources and feedback logs (after the report is out);
    one already gone (a retry) is fine."""
    source.delete(report.deletable)
    return len(report.deletable)


def slack_message(report: MonitorReport, system: str, environment: str = "") -> dict:
    """The Slack message (``text`` and Block Kit ``blocks``) in Wellcome's wording; the
    environment is named when it is not production."""
    name = system_label(system, environment)
    if not report.stored and not report.not_stored:
        return blocks_message([f"Nothing happened in {name}."])
    texts = [f"Here’s what happened in {name} in the last {LOOKBACK_DAYS} days:"]
    if report.not_stored:
        icon = "🚨" if is_production(environment) else "⚠️"
        lines = [
            f"- {line.key} (`{line.transfer_id}`)"
            + (" — still processing" if line.in_flight else "")
            for line in report.not_stored
        ]
        texts.append(
            f"{icon} *These packages didn’t get stored successfully:*\n" + "\n".join(lines)
        )
    if report.stored:
        lines = [f"- {line.key}" for line in report.stored]
        texts.append("These packages were stored successfully:\n" + "\n".join(lines))
    return blocks_message(texts)
