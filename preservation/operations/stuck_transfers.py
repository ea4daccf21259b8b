"""Stuck transfers: a run still going long after a transfer of its size should have been
stored, or a decision nobody answered past its reminder time, told to Slack once.

How long a run may take grows with its transfer: ``base_minutes`` plus
``minutes_per_gb`` for each GB received (the size Receive transfer found; before it,
the base alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from preservation.shared.notifications import blocks_message


@dataclass(frozen=True)
class Running:
    """A transfer_ingest run not finished yet."""

    run_id: str
    started: datetime
    transfer: str
    size: int | None  # bytes received, once Receive transfer has run
    stage: str  # the task it is at (display name)
    link: str = ""


@dataclass(frozen=True)
class Waiting:
    """A decision waiting for an answer."""

    run_id: str
    task: str
    question: str
    since: datetime
    link: str = ""


def allowed(size: int | None, base_minutes: float, minutes_per_gb: float) -> timedelta:
    """How long a run of a transfer of ``size`` bytes may take."""
    return timedelta(minutes=base_minutes + minutes_per_gb * (size or 0) / 1e9)


def stuck(
    runs: list[Running], now: datetime, base_minutes: float, minutes_per_gb: float
) -> list[Running]:
    """The runs going for longer than their transfer's size allows, oldest first."""
    late = [r for r in runs if now - r.started > allowed(r.size, base_minutes, minutes_per_gb)]
    return sorted(late, key=lambda r: r.started)


def unanswered(questions: list[Waiting], now: datetime, reminder_minutes: float) -> list[Waiting]:
    """The questions waiting longer than the reminder time, oldest first."""
    late = [q for q in questions if now - q.since > timedelta(minutes=reminder_minutes)]
    return sorted(late, key=lambda q: q.since)


def message(runs: list[Running], questions: list[Waiting], now: datetime, system: str) -> dict:
    """One Slack message for everything newly late."""
    sections = [
        (
            f"⏳ *{len(runs)} transfer(s) running far longer than expected in {system}:*",
            [
                (r.link, r.transfer, f"{_hours(now, r.started)}, at *{r.stage}*", r.run_id)
                for r in runs
            ],
        ),
        (
            f"❓ *{len(questions)} decision(s) waiting for an answer in {system}:*",
            [(q.link, q.question, f"waiting {_hours(now, q.since)}", q.run_id) for q in questions],
        ),
    ]
    texts = [
        "\n".join(
            [title]
            + [
                f"{f'<{link}|{name}>' if link else name}: {state} (run `{run_id}`)"
                for link, name, state, run_id in items
            ]
        )
        for title, items in sections
        if items
    ]
    return blocks_message(texts)


def _hours(now: datetime, since: datetime) -> str:
    return f"{(now - since).total_seconds() / 3600:.1f} h"
