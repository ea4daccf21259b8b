"""Clean up: remove the working copies once, and only once, the AIP is safely stored;
then apply the source policy to the upload in the drop box.

"Safely stored" is the index of every location (the main one and each replica): a record
there is written only after the copy was read back intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from preservation.core.errors import ConfigurationInvalid, StorageUnavailable
from preservation.core.package import Package
from preservation.intake.transfer_source import SOURCE_POLICIES, TransferSource
from preservation.shared import aip_package
from preservation.storage.location import Location
from preservation.storage.locations import default_aip_location as default_location
from preservation.tools.safe_extract import remove_tree

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
    targets = aip_package.working_copies(package)
    removed = [str(t) for t in targets if t.exists()]
    for target in targets:
        remove_tree(target)
    done = drop_box.after_storage(upload_key, policy) if drop_box and upload_key else ""
    return CleanResult(removed, done)
