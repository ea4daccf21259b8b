"""Clean up: remove the working copies once, and only once, the AIP is safely stored;
then apply the source policy to the upload in the drop box.

"Safely stored" is the index of every location (the main one and each replica): a record
there is written only after the copy was read back intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from preservation import aip_package
from preservation.errors import ConfigurationInvalid, StorageUnavailable
from preservation.locations import default_aip_location as default_location
from preservation.package import Package
from preservation.safe_extract import remove_tree
from preservation.storage import Location
from preservation.transfer_source import SOURCE_POLICIES, TransferSource

NAME = "Clean up"


@dataclass(frozen=True)
class CleanResult:
    removed: list[str]
    source: str = ""


def run(
    package: Package,
    location: Location | None = None,
    replicas: Sequence[Location] = (),
    drop_box: TransferSource | None = None,
    upload_key: str = "",
) -> CleanResult:
    """Remove transfer, SIP, compressed package and state (no PREMIS event), then apply
    ``PRESERVATION_SOURCE_AFTER_STORAGE`` to the upload ``upload_key`` of the drop box
    (a transfer given by path or URL by hand is never touched)."""
    policy = package.settings.source_after_storage
    if policy not in SOURCE_POLICIES:
        raise ConfigurationInvalid(
            f"PRESERVATION_SOURCE_AFTER_STORAGE={policy!r}: use one of "
            + ", ".join(SOURCE_POLICIES)
        )
    location = location or default_location(package)
    missing = [
        loc.description
        for loc in [location, *replicas]
        if loc.index.record(package.ref.aip_uuid) is None
    ]
    if missing:
        raise StorageUnavailable(
            f"AIP {package.ref.aip_uuid} is not verified in {', '.join(missing)}; "
            "the working copies and the source are kept until it is"
        )
    package.close()
    targets = working_copies(package)
    removed = [str(t) for t in targets if t.exists()]
    for target in targets:
        remove_tree(target)
    done = drop_box.after_storage(upload_key, policy) if drop_box and upload_key else ""
    return CleanResult(removed, done)


def working_copies(package: Package) -> list[Path]:
    """Everything a run keeps in the processing directory (and its download)."""
    targets = [
        package.transfer_dir,
        package.sip_dir,
        package.state_path,
        package.state_path.with_name(package.state_path.name + "-wal"),
        package.state_path.with_name(package.state_path.name + "-shm"),
        aip_package.pointer_path(package),
        package.dip_dir,
        package.settings.shared_directory / "downloads" / f"{package.ref.transfer_uuid}.zip",
    ]
    if package.config.compression != "uncompressed":
        targets.append(aip_package.package_path(package))
    return targets
