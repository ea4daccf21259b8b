"""Store AIP: write the AIP to its location under UUID quad directories and verify it.

Nothing is overwritten: storing the same AIP again finds it and only verifies it. The
stored copy is read back in full (every bag checksum, or the package's sha256) and the
result recorded as an AIP-level ``fixity check`` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from preservation import SOFTWARE_ID, compress_aip, mets, premis
from preservation.errors import BagInvalid, FixityMismatch
from preservation.package import Package
from preservation.premis import Event
from preservation.storage import LocalLocation, Location, verify_bag
from preservation.tools import file_digest

NAME = "Store AIP"


@dataclass(frozen=True)
class StoreResult:
    aip_uuid: str
    aip_path: str
    location: str
    fixity: dict


def default_location(package: Package) -> LocalLocation:
    """The embedded default: a local folder under PRESERVATION_HOME."""
    return LocalLocation(package.settings.aip_store)


def run(package: Package, location: Location | None = None) -> StoreResult:
    """Store and verify the AIP; records ``fixity check`` on the AIP.

    An AIP already stored (a retried or cleared task) is not stored again: its stored
    copy is read back and checked, and the working copies are not needed for that.
    """
    location = location or default_location(package)
    stored = location.find(package.ref.aip_uuid)
    if stored is None or _working_copy(package).exists():
        # The location compares with what it holds: same package, nothing is written;
        # a different one, StorageConflict.
        stored, sha256 = _store(package, location)
    else:
        pointer = location.pointer(package.ref.aip_uuid)
        sha256 = _recorded_sha256(pointer) if pointer else None
    report = location.verify(stored, sha256)
    # After Clean up there is no run record to add to (the AIP is indexed already).
    if package.state_path.exists():
        package.state.record_events(
            [
                Event(
                    package.ref.aip_uuid,
                    premis.FIXITY_CHECK,
                    key="storage",
                    detail=f'program="{SOFTWARE_ID}"; location="{location.description}"',
                    outcome="Pass" if report.success else "Fail",
                    outcome_note=report.message,
                )
            ]
        )
        if report.success:
            # Indexed only once read back intact: the index says "stored and verified".
            location.register(
                package.ref.aip_uuid,
                stored,
                package.state.meta("external_identifier") or package.ref.aip_uuid,
                package.ref.transfer_uuid,
                sha256,
            )
    if not report.success:
        raise BagInvalid(
            f"The stored AIP failed its fixity check: {report.message}", _failures(report.failures)
        )
    return StoreResult(package.ref.aip_uuid, stored, location.description, report.as_dict())


def _working_copy(package: Package) -> Path:
    if package.config.compression == "uncompressed":
        return package.sip_dir
    return compress_aip.package_path(package)


def _store(package: Package, location: Location) -> tuple[str, str | None]:
    if package.config.compression == "uncompressed":
        # Check the bag before it leaves: a broken bag must not become a stored AIP.
        before = verify_bag(package.sip_dir, package.settings.workers)
        if not before.success:
            raise BagInvalid(before.message, _failures(before.failures))
        return location.store(package.sip_dir, package.ref.aip_uuid, []), None
    source = compress_aip.package_path(package)
    pointer = compress_aip.pointer_path(package)
    # The sha256 recorded when the package was made (its pointer file says it), not one
    # computed now: a package damaged since then must not be stored as sound.
    sha256 = _recorded_sha256(pointer.read_bytes())
    actual = file_digest(source)
    if actual != sha256:
        raise FixityMismatch(
            f"{source.name} changed after compression: sha256 {actual}, its pointer "
            f"file records {sha256}; it is not stored"
        )
    return location.store(source, package.ref.aip_uuid, [pointer]), sha256


def _recorded_sha256(pointer: bytes) -> str | None:
    root = etree.fromstring(pointer, mets.SAFE_PARSER)
    return root.findtext(f".//{{{mets.PREMIS_NS}}}messageDigest")


def _failures(failures: dict) -> list[str]:
    return [f"{kind}: {path}" for kind, paths in failures["files"].items() for path in paths]
