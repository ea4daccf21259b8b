"""Deleting an AIP: one person asks, with a reason; another approves; the AIP leaves every
location and replica, a tombstone with the PREMIS deletion event stays in the index, the
UUID is never used again, and every step is in the audit trail once."""

from __future__ import annotations

import pytest

from preservation.core.errors import DeletionRefused, NotStored, StorageConflict
from preservation.operations import aip_catalog, aip_deletion, fixity_audit
from preservation.services import store_aip
from preservation.storage.location import LocalLocation
from preservation.storage.memory import MemoryLocation

METADATA = "filename,dc.identifier\nobjects/,PP/DEL/1\n"
REASON = "Deposited by mistake: belongs to another collection"


@pytest.fixture
def stored(package_until, tmp_path):
    """An AIP stored in a local folder and an in-memory replica."""
    package = package_until({"a.txt": "one"}, "compress_aip", metadata={"metadata.csv": METADATA})
    main, replica = LocalLocation(tmp_path / "main"), MemoryLocation()
    store_aip.run(package, main, [replica])
    return package, main, replica


def test_an_aip_is_deleted_everywhere_once_another_person_approves(stored, tmp_path):
    package, main, replica = stored
    aip = package.ref.aip_uuid
    asked = aip_deletion.request(main, "PP/DEL/1", REASON, "ann", "run-1")
    assert (asked.aip_uuid, asked.version) == (aip, 1)
    assert aip_deletion.decide(main, asked, "bob", aip_deletion.APPROVE) is True
    tombstone = aip_deletion.delete(main, [replica], asked, "bob")

    assert main.find(aip) is None and not replica.objects
    assert (tombstone.requested_by, tombstone.approved_by, tombstone.reason) == (
        "ann",
        "bob",
        REASON,
    )
    assert tombstone.event["eventType"] == "deletion"
    assert tombstone.event["eventOutcomeDetailNote"] == REASON
    assert {a["name"] for a in tombstone.event["linkingAgents"]} == {"ann", "bob"}
    assert replica.index.tombstone(aip) == tombstone

    [listed] = aip_catalog.list_aips(main, "PP/DEL/1")
    assert listed["status"].startswith("deleted ") and "by bob (asked by ann)" in listed["status"]
    with pytest.raises(NotStored, match="was deleted on .* by bob \\(asked by ann\\)"):
        aip_catalog.get(main, "PP/DEL/1", tmp_path / "out")
    assert fixity_audit.due(main, period_days=1, interval_days=1) == []
    with pytest.raises(StorageConflict, match="never used again"):
        store_aip.run(package, main)

    # The whole deletion run again (retried tasks): nothing more is written or recorded.
    aip_deletion.delete(main, [replica], asked, "bob")
    trail = [(e.action, e.user) for e in aip_catalog.audit_trail(main, "PP/DEL/1")]
    assert trail == [
        ("stored", "tester"),
        ("deletion requested", "ann"),
        ("deletion approved", "bob"),
        ("deleted", "bob"),
    ]


def test_the_person_who_asked_cannot_approve_and_the_refusal_is_recorded(stored):
    _, main, _ = stored
    asked = aip_deletion.request(main, "PP/DEL/1", REASON, "ann", "run-2")
    with pytest.raises(DeletionRefused, match="ann asked to delete .* another person must"):
        aip_deletion.decide(main, asked, "ann", aip_deletion.APPROVE)
    assert main.find(asked.aip_uuid) is not None
    trail = [(e.action, e.user) for e in main.index.audit_trail(asked.aip_uuid)]
    assert trail[-2:] == [("deletion requested", "ann"), ("deletion refused", "ann")]


def test_a_rejected_or_unanswered_request_deletes_nothing(stored):
    _, main, _ = stored
    first = aip_deletion.request(main, "PP/DEL/1", REASON, "ann", "run-3")
    assert aip_deletion.decide(main, first, "bob", aip_deletion.REJECT) is False
    second = aip_deletion.request(main, "PP/DEL/1", REASON, "ann", "run-4")
    assert aip_deletion.decide(main, second, "", aip_deletion.REJECT) is False  # timed out
    assert main.find(first.aip_uuid) is not None and main.index.tombstone(first.aip_uuid) is None
    refusals = [e for e in main.index.audit_trail(first.aip_uuid) if e.action == "deletion refused"]
    assert [(e.user, e.detail) for e in refusals] == [
        ("bob", "rejected"),
        ("timeout", "no answer in time: rejected by default"),
    ]


@pytest.mark.parametrize(
    "reference, reason, problem",
    [
        ("PP/DEL/1", "too short", "9 characters long; say why the AIP goes in 10 to 500"),
        ("PP/DEL/1", "x" * 501, "501 characters long"),
        ("PP/NOPE", REASON, "no stored AIP is 'PP/NOPE'"),
    ],
)
def test_a_request_without_a_stored_aip_or_a_reason_is_refused_by_name(
    stored, reference, reason, problem
):
    _, main, _ = stored
    with pytest.raises(DeletionRefused) as refused:
        aip_deletion.request(main, reference, reason, "ann", "run-5")
    assert problem in str(refused.value)
    assert not [e for e in main.index.audit_trail() if e.action == "deletion requested"]


def test_a_deleted_aip_cannot_be_asked_for_again(stored):
    _, main, replica = stored
    asked = aip_deletion.request(main, "PP/DEL/1", REASON, "ann", "run-6")
    aip_deletion.decide(main, asked, "bob", aip_deletion.APPROVE)
    aip_deletion.delete(main, [replica], asked, "bob")
    with pytest.raises(DeletionRefused, match="was deleted already.*asked by ann, approved by bob"):
        aip_deletion.request(main, asked.aip_uuid, REASON, "carol", "run-7")
