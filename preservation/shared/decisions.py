"""Archivematica's decision points: approve the transfer, choose normalization, review the
AIP before it is stored.

Each is a preset of the processing configuration (answered at once, unattended) or
"ask": a person answers, and an unanswered question takes the preset answer after
``decision_timeout_minutes``. What a person is shown is what was found (files, size,
formats, validation and normalization failures). Whoever answered (a user, the
configuration, or the time-out) is recorded as a PREMIS event about the package naming
them; an asked decision is also an entry of the AIP index's audit trail. A rejection is
a verdict on the package: the run ends with its reason and the upload stays where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from preservation.core import processing_config
from preservation.core.errors import PackageRejected

if TYPE_CHECKING:  # the DAG file reads POINTS when it is parsed: that stays light
    from preservation.core.package import Package
    from preservation.storage.location import Location

APPROVE, REJECT, STORE = "Approve", "Reject", "Store"


class Rejected(PackageRejected):
    """A person (or the configuration) decided the package goes no further."""

    advice = "Nothing was stored; the upload is kept. Send it again once it is ready."


@dataclass(frozen=True)
class DecisionPoint:
    key: str  # its processing configuration setting
    name: str  # as Archivematica's dashboard names it
    options: tuple[str, ...]
    event_type: str  # PREMIS event type of the decision
    question: str

    def preset(self, config: processing_config.ProcessingConfig) -> str:
        """The answer the configuration gives (and an unanswered question takes)."""
        if self.key == "choose_normalization":
            return config.normalize
        return self.options[0]


POINTS = {
    "approve_transfer": DecisionPoint(
        "approve_transfer",
        "Approve transfer",
        (APPROVE, REJECT),
        "appraisal",
        "Approve this transfer for ingest?",
    ),
    "choose_normalization": DecisionPoint(
        "choose_normalization",
        "Choose normalization",
        processing_config.NORMALIZATIONS,
        "policy assignment",
        "Which copies should Normalize make?",
    ),
    "review_aip": DecisionPoint(
        "review_aip", "Review AIP", (STORE, REJECT), "appraisal", "Store this AIP?"
    ),
}


def findings(package: Package) -> str:
    """What was found, in Markdown: what the person deciding is shown."""
    from preservation.metadata.package_summary import NORMALIZATION_REPORT, summarize

    state = package.state
    summary = summarize(
        state.files(), state.events_by_subject(), package.logs_dir() / NORMALIZATION_REPORT
    )
    facts = state.facts()
    lines = [
        f"**{facts.external_identifier or package.ref.name}** "
        f"(transfer `{package.ref.transfer_uuid}`, AIP `{package.ref.aip_uuid}`), started by "
        f"{package.started_by}, processing configuration `{package.config.name}`",
        "",
        f"- {summary['files']} file(s), {summary['bytes']:,} bytes",
    ]
    formats = ", ".join(f"{name} ({puid}) × {n}" for puid, name, n in summary["formats"][:10])
    lines.append(f"- formats: {formats or 'none identified'}")
    lines.append(f"- validation failures: {summary['validation_failures']}")
    lines += [f"  - {line}" for line in summary["validation_failures_sample"][:5]]
    failed = sum(n for k, n in summary["normalization"].items() if k.endswith(": failed"))
    if summary["normalization"]:
        lines.append(f"- normalization failures: {failed}")
        lines += [f"  - {line}" for line in summary["normalization_failures_sample"][:5]]
    return "\n".join(lines)


def record(
    package: Package,
    location: Location,
    point: DecisionPoint,
    choice: str,
    decided_by: str,
    how: str,
) -> None:
    """Record who decided what (``how``: "answered", "preset", "timed out"); raises
    :class:`Rejected` for a rejection, once recorded."""
    from preservation.core.premis import Event, stable_uuid
    from preservation.storage.aip_index import AuditEntry

    if choice not in point.options:
        raise ValueError(f"{choice!r} is not an answer to {point.name}: {point.options}")
    note = f"{point.name}: {choice} ({how} by {decided_by})"
    package.state.record_events(
        [
            Event(
                package.ref.aip_uuid,
                point.event_type,
                key=point.key,
                detail=f'decision="{point.name}"; agent="{decided_by}"; how="{how}"',
                outcome=choice,
                outcome_note=note,
            )
        ]
    )
    if point.key == "choose_normalization":
        package.state.record_facts(normalization=choice)
    if how != "preset":  # a person was asked: the audit trail says who answered, or nobody
        location.index.audit(
            AuditEntry(
                stable_uuid("decision", package.ref.aip_uuid, point.key),
                "decision",
                decided_by,
                package.ref.aip_uuid,
                identifier=package.state.facts().external_identifier,
                detail=note,
            )
        )
    if choice == REJECT:
        raise Rejected(f"{point.name}: rejected ({how} by {decided_by})")
