"""Prepare AIP: make the SIP a BagIt bag, the AIP.

bag-info.txt carries ``Payload-Oxum``, ``Bagging-Date``, ``Bag-Size``,
``External-Identifier`` (catalogue identifier, else accession number, else the AIP UUID)
and ``Internal-Sender-Identifier`` (the AIP UUID).
"""

from __future__ import annotations

from dataclasses import dataclass

from preservation.bag import write_bag
from preservation.package import Package

NAME = "Prepare AIP"


@dataclass(frozen=True)
class BagResult:
    aip_dir: str
    payload_oxum: str
    external_identifier: str


def run(package: Package) -> BagResult:
    """Write the bag's tag files in place (no PREMIS event)."""
    known = {f"data/{r.path}": r.sha256 for r in package.state.files() if r.sha256}
    external = package.state.meta("external_identifier") or package.ref.aip_uuid
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
