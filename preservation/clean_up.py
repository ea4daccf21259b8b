"""Clean up: remove the working copies once, and only once, the AIP is safely stored."""

from __future__ import annotations

from dataclasses import dataclass

from preservation import compress_aip
from preservation.errors import StorageUnavailable
from preservation.package import Package
from preservation.safe_extract import remove_tree
from preservation.storage import Location
from preservation.store_aip import default_location

NAME = "Clean up"


@dataclass(frozen=True)
class CleanResult:
    removed: list[str]


def run(package: Package, location: Location | None = None) -> CleanResult:
    """Remove transfer, SIP, compressed package and state (no PREMIS event)."""
    location = location or default_location(package)
    if location.find(package.ref.aip_uuid) is None:
        raise StorageUnavailable(
            f"AIP {package.ref.aip_uuid} is not in {location.description}; "
            "the working copies are kept until it is"
        )
    package.close()
    targets = [
        package.transfer_dir,
        package.sip_dir,
        package.state_path,
        package.state_path.with_name(package.state_path.name + "-wal"),
        package.state_path.with_name(package.state_path.name + "-shm"),
        compress_aip.pointer_path(package),
        package.dip_dir,
    ]
    if package.config.compression != "uncompressed":
        targets.append(compress_aip.package_path(package))
    removed = [str(t) for t in targets if t.exists()]
    for target in targets:
        remove_tree(target)
    return CleanResult(removed)
