"""When a transfer counts as stuck (its time allowed grows with its size) and a decision
as waiting too long, and the one message that says so."""

from datetime import UTC, datetime, timedelta

from preservation.operations import stuck_transfers
from preservation.operations.stuck_transfers import Running, Waiting

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_bigger_transfer_is_allowed_longer():
    small = Running("small", NOW - timedelta(hours=3), "s3://b/small.zip", 10_000_000, "Normalize")
    big = Running("big", NOW - timedelta(hours=3), "s3://b/big.zip", 20 * 10**9, "Normalize")
    new = Running("new", NOW - timedelta(minutes=5), "s3://b/new.zip", None, "waiting to start")
    late = stuck_transfers.stuck([big, small, new], NOW, base_minutes=120, minutes_per_gb=30)
    assert [r.run_id for r in late] == ["small"]  # the 20 GB one has 12 hours


def test_a_question_is_late_once_its_reminder_time_has_passed():
    old = Waiting(
        "r1", "review_aip", "Store this AIP? (PP/1)", NOW - timedelta(hours=5), "http://x"
    )
    recent = Waiting("r2", "approve_transfer", "Approve?", NOW - timedelta(minutes=10))
    late = stuck_transfers.unanswered([recent, old], NOW, reminder_minutes=240)
    assert late == [old]
    text = stuck_transfers.message([], late, NOW, "Archivematica")["text"]
    assert "1 decision(s) waiting" in text and "<http://x|Store this AIP? (PP/1)>" in text
    assert "waiting 5.0 h" in text
