"""Derivatives: the files the pipeline makes from an original (preservation copies, OCR
text, access copies, thumbnails) and how they are recorded.

A derivative's UUID is derived from its original and purpose, so a retry makes and
records the same one. Those in the AIP (their ``event`` is the normalization or
transcription event on the original) get a ``creation`` event, PREMIS derivation links
both ways, and are checksummed, identified, validated and characterized as originals
are; access copies and thumbnails, outside the AIP's objects, are only linked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from preservation.core import premis
from preservation.core.package import Package
from preservation.core.premis import Event, stable_uuid
from preservation.core.problems import Problems
from preservation.core.state import FileRecord
from preservation.shared import characterization, file_registry, format_identification, validation

#: Where an archivist puts the preservation and access copies made by hand
#: (``preservation/``, ``access/`` under it, named like their originals).
MANUAL = "objects/manualNormalization/"


def derivative_uuid(package: Package, source_uuid: str, purpose: str) -> str:
    """The UUID of the ``purpose`` derivative of a file (the same on every attempt; a
    reingest's copy is a new object, with a UUID of its own, not its predecessor's)."""
    if package.reingest is not None:
        return stable_uuid("derivative", source_uuid, purpose, package.ref.aip_uuid)
    return stable_uuid("derivative", source_uuid, purpose)


@dataclass(frozen=True)
class Derivative:
    """One derivative that was made."""

    source: str  # the original's UUID
    uuid: str
    purpose: str  # preservation | access | thumbnail | transcription
    path: str  # in the SIP (relative to data/), or in the DIP for access copies
    event: Event | None = None  # the event on the original; None: outside the AIP
    file_group: str = ""  # a new file of the AIP to register ("" : none, or registered)


def record(package: Package, made: Sequence[Derivative]) -> Problems:
    """Register and describe what was made: new files, ``creation`` events, derivation
    links, then checksum, identification, validation and characterization. Returns the
    copies that failed validation, for the task log."""
    package.state.add_files(
        FileRecord(d.uuid, d.path, d.path, d.file_group) for d in made if d.file_group
    )
    package.state.record_events(
        Event(
            d.uuid,
            premis.CREATION,
            key=d.purpose,
            detail=d.event.detail,
            outcome="success",
            outcome_note=f"derived from {d.source}",
        )
        for d in made
        if d.event
    )
    package.state.record_derivatives(
        (d.source, d.uuid, d.purpose, d.event.identifier if d.event else "", d.path) for d in made
    )
    return describe(package, package.state.files_by_uuid(d.uuid for d in made if d.event))


def describe(package: Package, records: Sequence[FileRecord]) -> Problems:
    """Checksum (``message digest calculation``), identify, validate and characterize
    derivatives as originals are; the copies that failed validation (none when the
    configuration does not validate)."""
    file_registry.checksum(package, records, package.sip_data, received=False)
    uuids = [r.uuid for r in records]
    format_identification.identify(
        package, [r for r in package.state.files_by_uuid(uuids) if not r.identified]
    )
    fresh = package.state.files_by_uuid(uuids)
    invalid = Problems(validation.FAILED)
    if package.config.validate:
        invalid = validation.validate(package, fresh)[0].problems
    if package.config.characterize:
        characterization.characterize(package, fresh)
    return invalid
