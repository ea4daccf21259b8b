"""Archivematica's decision points: what the person deciding is shown, and what their
answer leaves behind (a PREMIS event naming them, an audit trail entry, the choice
itself), a rejection ending the run with who rejected it."""

from __future__ import annotations

import pytest

from preservation.core import processing_config
from preservation.services import normalize_files
from preservation.shared import decisions
from preservation.storage.location import LocalLocation
from tests import media

METADATA = "filename,dc.identifier\nobjects/,PP/ASK/1\n"


@pytest.fixture
def checked(package_until):
    """A transfer through Validation: where Approve transfer asks."""
    files = {"scan.png": media.image("PNG", (40, 30)), "notes.txt": "notes"}
    return package_until(files, "validate_files", metadata={"metadata.csv": METADATA})


def test_the_question_shows_what_was_found(checked):
    shown = decisions.findings(checked)
    assert "**PP/ASK/1**" in shown and checked.ref.aip_uuid in shown
    assert "- 2 file(s)," in shown
    assert "Portable Network Graphics" in shown and "fmt/11" in shown
    assert "- validation failures: 0" in shown


def test_an_answer_is_a_premis_event_naming_who_and_an_audit_entry(checked, home):
    location = LocalLocation(home.aip_store)
    point = decisions.POINTS["approve_transfer"]
    decisions.record(checked, location, point, decisions.APPROVE, "ann", "answered")
    [event] = [e for e in checked.state.events(checked.ref.aip_uuid) if e.event_type == "appraisal"]
    assert event.outcome == "Approve" and 'agent="ann"' in event.detail
    [entry] = [
        e for e in location.index.audit_trail(checked.ref.aip_uuid) if e.action == "decision"
    ]
    assert (entry.user, entry.identifier) == ("ann", "PP/ASK/1")
    assert entry.detail == "Approve transfer: Approve (answered by ann)"
    # Recorded again (the task retried): still one event, one entry.
    decisions.record(checked, location, point, decisions.APPROVE, "ann", "answered")
    assert len(location.index.audit_trail(checked.ref.aip_uuid)) == 2  # ingest started too


def test_a_rejection_ends_the_run_naming_who_rejected(checked, home):
    point = decisions.POINTS["review_aip"]
    with pytest.raises(decisions.Rejected, match="Review AIP: rejected \\(answered by bob\\)"):
        decisions.record(
            checked, LocalLocation(home.aip_store), point, decisions.REJECT, "bob", "answered"
        )


def test_the_normalization_a_person_chooses_is_the_one_normalize_makes(
    package_until, run_until, home
):
    files = {"scan.png": media.image("PNG", (40, 30))}
    package = package_until(
        files, "create_sip", metadata={"metadata.csv": METADATA}, config="default"
    )
    assert package.config.normalize == "preservation_and_access"
    point = decisions.POINTS["choose_normalization"]
    decisions.record(package, LocalLocation(home.aip_store), point, "access", "ann", "answered")
    normalize_files.run(package)
    made = {row["purpose"] for row in package.state.derivatives()}
    assert made == {"access", "thumbnail"}


def test_an_unanswered_question_takes_the_configurations_answer():
    reviewed = processing_config.load("reviewed")
    assert all(reviewed.asks(d) for d in processing_config.DECISIONS)
    assert decisions.POINTS["choose_normalization"].preset(reviewed) == reviewed.normalize
    assert decisions.POINTS["approve_transfer"].preset(reviewed) == decisions.APPROVE
    assert decisions.POINTS["review_aip"].preset(reviewed) == decisions.STORE
    assert not any(processing_config.load("default").asks(d) for d in processing_config.DECISIONS)


def test_a_preset_answer_is_a_premis_event_but_not_an_audit_entry(checked, home):
    location = LocalLocation(home.aip_store)
    point = decisions.POINTS["review_aip"]
    decisions.record(checked, location, point, decisions.STORE, "automated", "preset")
    [event] = [e for e in checked.state.events(checked.ref.aip_uuid) if e.event_type == "appraisal"]
    assert 'how="preset"' in event.detail
    assert [e.action for e in location.index.audit_trail(checked.ref.aip_uuid)] == [
        "ingest started"
    ]
