"""PREMIS vocabulary and the event record every micro-service returns.

Event types are spelled as in the PREMIS eventType controlled vocabulary
(id.loc.gov/vocabulary/preservation/eventType), as Archivematica spells them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

INGESTION = "ingestion"
REGISTRATION = "registration"
MESSAGE_DIGEST_CALCULATION = "message digest calculation"
FIXITY_CHECK = "fixity check"
VIRUS_CHECK = "virus check"
FILENAME_CHANGE = "filename change"
FORMAT_IDENTIFICATION = "format identification"
UNPACKING = "unpacking"
COMPRESSION = "compression"
VALIDATION = "validation"
NORMALIZATION = "normalization"
CREATION = "creation"
TRANSCRIPTION = "transcription"
DELETION = "deletion"
REINGESTION = "reingestion"
METADATA_MODIFICATION = "metadata modification"

#: Namespace for the deterministic identifiers of this system (events, runs). A retried
#: task computes the same identifier for the same event, so it replaces, never duplicates.
NAMESPACE = uuid.UUID("6f1c2a52-0a8e-4f39-9d55-3f0f7c9a2b11")


def stable_uuid(*parts: str) -> str:
    """A UUID that is the same every time for the same parts (UUID version 5)."""
    return str(uuid.uuid5(NAMESPACE, "|".join(parts)))


def now() -> str:
    """The current time as an ISO 8601 timestamp with time zone, as PREMIS wants it."""
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class Event:
    """One PREMIS event about one object (``subject`` is a file or package UUID).

    ``key`` distinguishes several events of one type about the same subject (for example
    one fixity check per checksum file); the event identifier derives from subject, type
    and key, which makes recording an event idempotent.
    """

    subject: str
    event_type: str
    detail: str = ""
    outcome: str = ""
    outcome_note: str = ""
    key: str = ""
    datetime: str = field(default_factory=now)

    @property
    def identifier(self) -> str:
        return stable_uuid(self.subject, self.event_type, self.key)


@dataclass(frozen=True)
class Agent:
    """A PREMIS agent; every event links the same three (software, organization, user)."""

    identifier_type: str
    identifier_value: str
    name: str
    agent_type: str
