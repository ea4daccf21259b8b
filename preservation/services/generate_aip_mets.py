"""Generate AIP METS: ``data/METS.<aip uuid>.xml`` describing every file of the AIP.

PREMIS objects, events and agents for the originals, the transfer metadata and the
submission documentation; Dublin Core from metadata.csv; PREMIS rights from rights.csv.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from preservation.core.errors import PackageRejected
from preservation.core.package import Package
from preservation.metadata import mets
from preservation.metadata.package_summary import NORMALIZATION_REPORT, summarize

NAME = "Generate AIP METS"


@dataclass(frozen=True)
class MetsResult:
    mets_path: str
    files: int
    events: int
    #: Formats, event counts, validation and normalization outcomes (package_summary).
    summary: dict = field(default_factory=dict)


def run(package: Package) -> MetsResult:
    """Write the AIP METS (no PREMIS event of its own: it is the record of the events)."""
    data = package.sip_data
    records = package.state.files()
    known = {r.path for r in records}
    on_disk = {
        os.path.relpath(os.path.join(folder, name), data)
        for folder, _dirs, names in os.walk(data / "objects")
        for name in names
    }
    strays = sorted(on_disk - known)
    missing = sorted(known - on_disk)
    if strays or missing:
        raise PackageRejected(
            "The SIP and its record disagree; the METS would not describe the AIP",
            [f"{p}: on disk but never registered" for p in strays]
            + [f"{p}: registered but not on disk" for p in missing],
        )
    scope = mets.MetsScope(
        label=package.ref.aip_name,
        object_uuid=package.ref.aip_uuid,
        original_name=package.ref.aip_name,
        root=data,
        file_groups=mets.FILE_GROUPS,
    )
    events = package.state.events_by_subject()
    mets.write_mets(package.mets_path, package, scope, records, events)
    return MetsResult(
        str(package.mets_path),
        len(records),
        package.state.count_events([r.uuid for r in records]),
        summarize(records, events, package.logs_dir() / NORMALIZATION_REPORT),
    )
