"""Reingestion: what makes a new version of a stored AIP a new version of it.

Each file of the new version gets a ``reingestion`` event naming the version it came
from (one per new version: a retry replaces it), as Archivematica records on reingest;
the new METS's header keeps the first version's CREATEDATE with a LASTMODDATE, and its
intellectual entity names the previous AIP (:mod:`preservation.metadata.mets`).
"""

from __future__ import annotations

from collections.abc import Iterable

from preservation import SOFTWARE_ID
from preservation.core import premis
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.core.state import FileRecord


def reingestion_events(package: Package, records: Iterable[FileRecord]) -> list[Event]:
    """A ``reingestion`` event per file, when the package is a reingest (else none)."""
    reingest = package.reingest
    if reingest is None:
        return []
    return [
        Event(
            record.uuid,
            premis.REINGESTION,
            key=package.ref.aip_uuid,
            detail=f'program="{SOFTWARE_ID}"; mode="{reingest.mode}"; '
            f'previous AIP="{reingest.previous_aip}"',
            outcome="Pass",
            outcome_note=f"{reingest.mode} reingest of version {reingest.version} of "
            f"{reingest.identifier} (AIP {reingest.previous_aip}) as AIP {package.ref.aip_uuid}",
        )
        for record in records
    ]
