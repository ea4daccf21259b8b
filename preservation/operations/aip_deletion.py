"""AIP deletion, as the Storage Service does it: one person asks (naming the AIP and why),
another approves, and only then is the AIP removed from every location and replica.

The index keeps a tombstone (the AIP's record, who asked, who approved, when, why, and
the PREMIS ``deletion`` event), so ``preservation aip list`` shows the AIP as deleted and
its UUID is never used again. Every step is an entry of the audit trail. Each step can run
again (a retried task) without a second entry, tombstone or deletion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from preservation.core import premis
from preservation.core.errors import DeletionRefused
from preservation.core.premis import now, stable_uuid
from preservation.storage.aip_index import AuditEntry, Tombstone
from preservation.storage.location import Location

NAME = "AIP deletion"
REASON_LENGTH = (10, 500)
APPROVE, REJECT = "Approve", "Reject"


@dataclass(frozen=True)
class DeletionRequest:
    """One request to delete one AIP version; ``request_id`` names the request (its run)."""

    request_id: str
    aip_uuid: str
    identifier: str
    version: int
    reason: str
    requested_by: str

    def as_dict(self) -> dict:
        return asdict(self)


def request(
    location: Location,
    reference: str,
    reason: str,
    requested_by: str,
    request_id: str,
    version: int | None = None,
) -> DeletionRequest:
    """Check and record a request to delete the AIP ``reference`` (a UUID, or an
    identifier: its newest version, or ``version``). Every problem is named at once."""
    reason = (reason or "").strip()
    problems = []
    low, high = REASON_LENGTH
    if not low <= len(reason) <= high:
        problems.append(
            f"the reason is {len(reason)} characters long; say why the AIP goes in "
            f"{low} to {high} characters"
        )
    if not requested_by:
        problems.append("nobody is named as asking: a deletion is asked for by a logged-in user")
    record = location.index.resolve(reference, version)
    if record is None:
        problems.append(_not_stored(location, reference, version))
    if problems:
        raise DeletionRefused(f"Cannot ask to delete {reference!r}", problems)
    asked = DeletionRequest(
        request_id, record.aip_uuid, record.identifier, record.version, reason, requested_by
    )
    _audit(location, asked, "deletion requested", requested_by)
    return asked


def decide(location: Location, asked: DeletionRequest, decided_by: str, choice: str) -> bool:
    """Record the decision on the request; True when the AIP is to be deleted. Approving
    one's own request is refused (recorded as such)."""
    if choice == APPROVE and decided_by == asked.requested_by:
        _audit(
            location,
            asked,
            "deletion refused",
            decided_by,
            detail="approved by the person who asked; another person must approve",
        )
        raise DeletionRefused(
            f"{decided_by} asked to delete AIP {asked.aip_uuid} and cannot approve it too: "
            "another person must approve a deletion"
        )
    if choice != APPROVE:
        detail = "rejected" if decided_by else "no answer in time: rejected by default"
        _audit(location, asked, "deletion refused", decided_by or "timeout", detail=detail)
        return False
    _audit(location, asked, "deletion approved", decided_by)
    return True


def delete(
    location: Location, replicas: list[Location], asked: DeletionRequest, approved_by: str
) -> Tombstone:
    """Remove the AIP from ``location`` and every replica, then keep its tombstone (with
    the PREMIS ``deletion`` event) in each of their indexes."""
    stores = [location, *replicas]
    # Gone from every store before any tombstone; on a retry after a partial deletion,
    # what is left goes and nothing else is written again.
    removed = [path for loc in stores for path in loc.delete(asked.aip_uuid)]
    buried = location.index.tombstone(asked.aip_uuid)
    if buried is None:
        when = now()
        places = [loc.description for loc in stores]
        event = {
            "eventIdentifierType": "UUID",
            "eventIdentifierValue": stable_uuid(premis.DELETION, asked.request_id),
            "eventType": premis.DELETION,
            "eventDateTime": when,
            "eventDetail": f"AIP deleted from {', '.join(places)}",
            "eventOutcome": "success",
            "eventOutcomeDetailNote": asked.reason,
            "removed": removed,
            "linkingAgents": [
                {"role": "requester", "type": "Archivematica user", "name": asked.requested_by},
                {"role": "approver", "type": "Archivematica user", "name": approved_by},
            ],
        }
        record = location.index.resolve(asked.aip_uuid, include_deleted=True)
        buried = Tombstone(
            record, when, asked.requested_by, approved_by, asked.reason, places, event
        )
    for loc in stores:
        loc.index.bury(buried)
    _audit(location, asked, "deleted", approved_by, detail=", ".join(buried.locations))
    return buried


def _audit(
    location: Location, asked: DeletionRequest, action: str, user: str, detail: str = ""
) -> None:
    location.index.audit(
        AuditEntry(
            stable_uuid(action, asked.request_id),
            action,
            user,
            asked.aip_uuid,
            identifier=asked.identifier,
            reason=asked.reason,
            detail=detail or f"version {asked.version}",
        )
    )


def _not_stored(location: Location, reference: str, version: int | None) -> str:
    tombstone = location.index.gone(reference, version)
    if tombstone:
        return (
            f"AIP {tombstone.record.aip_uuid} was deleted already, on {tombstone.deleted_at} "
            f"(asked by {tombstone.requested_by}, approved by {tombstone.approved_by})"
        )
    wanted = f"version {version} of {reference!r}" if version else repr(reference)
    return (
        f"no stored AIP is {wanted} in {location.description}; `preservation aip list` "
        "shows what is stored"
    )
