"""Fixity audit: re-verify stored AIPs against their recorded checksums, every AIP at
least once per period, the work spread over the runs.

Each audited AIP gets Archivematica's check-fixity answer (``success``, ``message``,
``failures.files.missing/changed/untracked``, ``timestamp``), kept in the location's
index as ``fixity/<aip uuid>/<timestamp>.json`` together with a PREMIS ``fixity check``
record (type, date, outcome, detail), so the history of every AIP's checks stays.

* A bag stored as a folder is checked completely: every file against its manifest.
* A package (7z, tar) is checked against the sha256 its pointer file records; a "deep"
  check also unpacks it and validates the bag inside against its manifests, for a share
  of the packages each run (``deep_share``), oldest deep check first.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from preservation.core import premis
from preservation.core.settings import Limits
from preservation.shared.notifications import blocks_message
from preservation.storage.aip_index import FixityCheck, Stored
from preservation.storage.location import FixityReport, LocalLocation, Location, verify_bag
from preservation.tools.safe_extract import archive_kind, extract

NAME = "Fixity audit"


@dataclass(frozen=True)
class Audited:
    """One AIP's audit: its record, the report, and whether the bag inside was checked."""

    record: Stored
    report: FixityReport
    deep: bool


def last_checks(location: Location) -> dict[str, tuple[str, bool]]:
    """AIP UUID -> (time of its latest check, whether any check so far was deep)."""
    latest: dict[str, tuple[str, bool]] = {}
    for check in location.index.fixity_checks():
        when, deep = latest.get(check.aip_uuid, ("", False))
        latest[check.aip_uuid] = (max(when, check.stamp), deep or check.kind == "deep")
    return latest


def due(
    location: Location,
    period_days: int,
    interval_days: float,
    now: datetime | None = None,
    checked: dict[str, tuple[str, bool]] | None = None,
) -> list[Stored]:
    """The AIPs this run checks: every AIP not checked (or stored) within the period, and
    at least the share that keeps every AIP within the period when runs come every
    ``interval_days``, the longest unchecked first. ``checked``: ``last_checks``, when
    the caller has it already."""
    now = now or datetime.now(UTC)
    records = location.index.all()
    checked = last_checks(location) if checked is None else checked

    def last(record: Stored) -> datetime:
        stored = datetime.fromisoformat(record.stored_at)
        stamp = checked.get(record.aip_uuid, ("", False))[0]
        if not stamp:
            return stored
        return max(stored, datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC))

    order = sorted(records, key=last)
    share = math.ceil(len(records) * min(1.0, interval_days / period_days))
    overdue = sum(1 for r in order if last(r) <= now - timedelta(days=period_days))
    return order[: max(share, overdue)]


def audit(location: Location, record: Stored, deep: bool, limits: Limits, timeout: int) -> Audited:
    """Check one stored AIP (nothing is written). A deep check reads the package once:
    downloaded, hashed and unpacked from the same local copy."""
    stored = location.url(record)
    if not (deep and record.sha256):
        return Audited(record, location.verify(stored, record.sha256), record.sha256 is None)
    with tempfile.TemporaryDirectory(prefix="fixity-audit-") as work:
        try:
            package = location.download(stored, Path(work))
        except FileNotFoundError:
            return Audited(record, location.verify(stored, record.sha256), True)
        report = LocalLocation(Path(work)).verify(str(package), record.sha256)
        if report.success:
            target = Path(work) / "unpacked"
            extract(package, archive_kind(package), target, limits, timeout)
            package.unlink()
            [bag] = [p for p in target.iterdir() if p.is_dir()]
            inner = verify_bag(bag)
            report = FixityReport(
                inner.success, f"{report.message}; {inner.message}", inner.failures, inner.timestamp
            )
    return Audited(record, report, True)


def keep(location: Location, audited: Audited) -> dict:
    """Record the result in the index (history kept; a retry in the same second writes
    nothing twice) and return it."""
    report = audited.report
    result = {
        **report.as_dict(),
        "aip_uuid": audited.record.aip_uuid,
        "identifier": audited.record.identifier,
        "event": {
            "eventType": premis.FIXITY_CHECK,
            "eventDateTime": report.timestamp,
            "eventOutcome": "Pass" if report.success else "Fail",
            "eventOutcomeDetailNote": report.message,
            "deep": audited.deep,
        },
    }
    stamp = _stamp(datetime.fromisoformat(report.timestamp))
    kind = "deep" if audited.deep else "package"
    location.index.add_fixity_check(FixityCheck(audited.record.aip_uuid, stamp, kind), result)
    return result


def choose_deep(
    location: Location,
    records: list[Stored],
    deep_share: float,
    checked: dict[str, tuple[str, bool]] | None = None,
) -> set[str]:
    """Which of ``records`` get a deep check this run: the share of the packages, those
    never checked deeply first."""
    packages = [r for r in records if r.sha256]
    checked = last_checks(location) if checked is None else checked
    packages.sort(key=lambda r: (checked.get(r.aip_uuid, ("", False))[1], r.aip_uuid))
    return {r.aip_uuid for r in packages[: math.ceil(len(packages) * deep_share)]}


def slack_failures(results: list[dict], system: str) -> dict | None:
    """One Slack message naming each failed AIP, its identifier and the files; None when
    every AIP passed."""
    failed = [r for r in results if not r["success"]]
    if not failed:
        return None
    texts = [f"🚨 *{len(failed)} stored AIP(s) failed the fixity audit in {system}:*"]
    for result in failed:
        files = result["failures"]["files"]
        lines = [f"*{result['identifier']}* (AIP `{result['aip_uuid']}`): {result['message']}"]
        for kind in ("missing", "changed", "untracked"):
            if files[kind]:
                lines.append(f"{kind}: " + ", ".join(files[kind]))
        texts.append("\n".join(lines))
    return blocks_message(texts, joiner="\n")


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
