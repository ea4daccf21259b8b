"""What a person wants to know about a package at a glance, once its METS is written: its
formats, its PREMIS events, its validation failures and its normalization outcomes.

Small by design (it travels as the Generate AIP METS task's result, shown by the packages
page): counts, and at most :data:`SAMPLE` named failures of each kind, never a list of
every file.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from preservation.core import premis
from preservation.core.problems import MESSAGE_LIMIT, SAMPLE
from preservation.core.state import EventsBySubject, FileRecord

# SAMPLE and MESSAGE_LIMIT: as many named failures, as much of each message, as the
# task logs show (preservation.core.problems).
MOST_FORMATS = 100
#: Normalize's report, one row per original and purpose (in the transfer's logs).
NORMALIZATION_REPORT = "normalizationReport.csv"


def summarize(
    records: list[FileRecord], events: EventsBySubject, normalization_report: Path
) -> dict:
    """The summary of a package whose state holds ``records`` and ``events``."""
    originals = [r for r in records if r.file_group == "original"]
    formats = Counter((r.puid or "UNKNOWN", r.format_name or "Unknown") for r in originals)
    by_uuid = {r.uuid: r for r in records}
    counts = events.count_by_type()
    invalid = []
    for event in events.with_outcome(premis.VALIDATION, "fail"):
        record = by_uuid.get(event.subject)
        invalid.append(f"{record.path if record else event.subject}: {event.outcome_note}")
    outcomes: Counter = Counter()
    failed = []
    if normalization_report.is_file():
        with open(normalization_report, newline="", encoding="utf-8") as report:
            for row in csv.DictReader(report):
                outcomes[f"{row['purpose']}: {row['outcome']}"] += 1
                if row["outcome"] == "failed":
                    message = row["message"][:MESSAGE_LIMIT]
                    failed.append(f"{row['path']} ({row['purpose']}): {message}")
    return {
        "files": len(originals),
        "bytes": sum(r.size or 0 for r in originals),
        "formats": [
            [puid, name, count] for (puid, name), count in formats.most_common(MOST_FORMATS)
        ],
        "event_counts": dict(sorted(counts.items())),
        "validation_failures": len(invalid),
        "validation_failures_sample": sorted(invalid)[:SAMPLE],
        "normalization": dict(sorted(outcomes.items())),
        "normalization_failures_sample": sorted(failed)[:SAMPLE],
    }
