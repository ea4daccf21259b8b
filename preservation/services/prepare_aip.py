"""Prepare AIP: make the SIP a BagIt bag, the AIP.

bag-info.txt carries ``Payload-Oxum``, ``Bagging-Date``, ``Bag-Size``,
``External-Identifier`` (catalogue identifier, else accession number, else the AIP UUID)
and ``Internal-Sender-Identifier`` (the AIP UUID).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from preservation.core.disk_space import disk_full_is_a_fault, mib, require_space, tree_size
from preservation.core.package import Package
from preservation.metadata.bag import write_bag

NAME = "Prepare AIP"


@dataclass(frozen=True)
class BagResult:
    aip_dir: str
    payload_oxum: str
    external_identifier: str


def run(package: Package) -> BagResult:
    """Write the bag's tag files in place (no PREMIS event)."""
    known = {f"data/{r.path}": r.sha256 for r in package.state.files() if r.sha256}
    external = package.state.facts().external_identifier or package.ref.aip_uuid
    folder = package.settings.processing_directory
    _require_space(package, folder, len(known))
    with disk_full_is_a_fault(folder, NAME):
        fields = write_bag(
            package.sip_dir,
            known,
            {
                "External-Identifier": external,
                "Internal-Sender-Identifier": package.ref.aip_uuid,
            },
            package.settings.workers,
        )
    return BagResult(str(package.sip_dir), fields["Payload-Oxum"], external)


def _require_space(package: Package, folder: Path, files: int) -> None:
    """Room for the AIP before it is made: its manifests, and the package Compress AIP
    writes beside it (up to the bag's size: compression may gain nothing)."""
    payload = tree_size(package.sip_dir)
    manifests = 1024 * 1024 + 200 * files  # a line per file in each manifest
    if package.config.compression == "uncompressed":
        needed, estimate = manifests, "the bag's manifests"
    else:
        needed = payload + manifests
        kind = package.config.compression
        estimate = f"the bag's manifests and its {kind} package, up to {mib(payload)}"
    require_space(folder, needed, NAME, estimate, package.settings.disk_reserve)
