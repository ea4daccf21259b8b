"""Registering files and checksumming them (UUIDs, sha256 and size; PREMIS ``ingestion``,
``message digest calculation``, ``registration``): for Assign file UUIDs and checksums
and for every stage that adds files (Create SIP, Extract packages, derivatives).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from preservation.core import premis
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.core.state import FileRecord
from preservation.tools.process import digests

DIGEST_DETAIL = 'program="python"; module="hashlib.sha256()"'


def register(
    package: Package, paths: Sequence[tuple[str, str]], parent_uuid: str | None = None
) -> list[FileRecord]:
    """Give each (path, file group) a UUID, keeping the UUID of any path already known.
    A path whose received name had to be made safe keeps that name, escaped, as its
    original path (its PREMIS ``originalName``)."""
    received = package.state.facts().received_names
    package.state.add_files(
        FileRecord(
            uuid=str(uuid.uuid4()),
            path=path,
            original_path=received.get(path, path),
            file_group=group,
            parent_uuid=parent_uuid,
        )
        for path, group in paths
    )
    wanted = {path for path, _ in paths}
    return [r for r in package.state.files() if r.path in wanted]


def checksum(
    package: Package, records: Sequence[FileRecord], root: Path, received: bool = True
) -> int:
    """sha256 and size of the records not yet checksummed; records their PREMIS events.

    Returns the number of events recorded (``ingestion``, ``message digest calculation``,
    ``registration`` for accessions). Files the pipeline made (``received=False``) get
    ``message digest calculation`` only: they were never ingested or accessioned.
    """
    todo = [r for r in records if r.sha256 is None]
    sums = digests([root / r.path for r in todo], package.settings.workers)
    sizes = [(root / r.path).stat().st_size for r in todo]
    for record, digest, size in zip(todo, sums, sizes):
        record.sha256, record.size = digest, size
    package.state.record_checksums((r.sha256, r.size, r.uuid) for r in todo)
    accession = package.state.facts().accession_number if received else ""
    events = []
    for record in todo:
        if received:
            events.append(Event(record.uuid, premis.INGESTION))
        events.append(
            Event(
                record.uuid,
                premis.MESSAGE_DIGEST_CALCULATION,
                detail=DIGEST_DETAIL,
                outcome_note=record.sha256,
            )
        )
        if accession:
            events.append(
                Event(record.uuid, premis.REGISTRATION, outcome_note=f"accession#{accession}")
            )
    return package.state.record_events(events)
