"""Create SIP: arrange the transfer as the AIP's payload, ready to be bagged in place.

``<name>-<aip uuid>/data/`` receives ``objects/`` (hard links, no bytes copied; empty
folders kept), ``objects/metadata/transfers/<transfer>/`` (metadata.csv, rights.csv…),
``objects/submissionDocumentation/transfer-<transfer>/METS.xml`` (the transfer's METS),
``logs/transfers/<transfer>/logs/`` and ``thumbnails/``. The SIP is built beside its
final place and renamed in, so a retry replaces a half-made one.
"""

from __future__ import annotations

from dataclasses import dataclass

from preservation.core.fsutil import link_tree
from preservation.core.package import Package
from preservation.metadata import mets
from preservation.shared import file_registry, format_identification, virus_scanning
from preservation.tools.safe_extract import remove_tree

NAME = "Create SIP"


@dataclass(frozen=True)
class SipResult:
    sip_dir: str
    files: int


def run(package: Package) -> SipResult:
    """Build the SIP from the transfer; registers the transfer METS as submission
    documentation (``ingestion``, ``message digest calculation``, ``virus check``,
    ``format identification``)."""
    transfer, sip = package.transfer_dir, package.sip_dir
    staging = sip.with_name(f".{sip.name}.partial")
    remove_tree(staging)
    data = staging / "data"
    link_tree(transfer / "objects", data / "objects")
    link_tree(transfer / "metadata", data / package.transfer_metadata_in_sip)
    link_tree(transfer / "logs", data / package.transfer_logs_in_sip)
    (data / "thumbnails").mkdir(parents=True, exist_ok=True)

    # Metadata files move from metadata/… to objects/metadata/transfers/<transfer>/….
    prefix = f"{package.transfer_metadata_in_sip.as_posix()}/"
    package.state.move_files(
        (prefix + r.path.removeprefix("metadata/"), r.uuid)
        for r in package.state.files(under="metadata/")
    )

    documentation = package.submission_documentation_in_sip / "METS.xml"
    records = package.state.files(group="original")
    scope = mets.MetsScope(
        label=package.ref.transfer_dirname,
        object_uuid=package.ref.transfer_uuid,
        original_name=package.ref.transfer_dirname,
        root=transfer,
        file_groups=("original",),
    )
    mets.write_mets(
        data / documentation, package, scope, records, package.state.events_by_subject()
    )

    remove_tree(sip)
    staging.rename(sip)
    package.state.record_facts(sip_created=True)
    # The transfer METS is new on every attempt: register it (same UUID on a retry) and
    # checksum, scan and identify it afresh.
    [doc] = file_registry.register(package, [(documentation.as_posix(), "submissionDocumentation")])
    package.state.check_again(doc.uuid)
    fresh = package.state.files_to_checksum()
    file_registry.checksum(package, fresh, package.sip_data)
    virus_scanning.scan(package, package.state.files_to_scan())
    if package.config.identify_formats:
        format_identification.identify(package, package.state.files_to_identify())
    return SipResult(str(sip), len(package.state.files()))
