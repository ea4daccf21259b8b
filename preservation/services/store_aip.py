"""Store AIP: write the AIP to its location under UUID quad directories and verify it.

Nothing is overwritten: storing the same AIP again finds it and only verifies it. The
stored copy is read back in full (every bag checksum, or the package's sha256) and the
result recorded as an AIP-level ``fixity check`` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from preservation import SOFTWARE_ID
from preservation.core import premis
from preservation.core.errors import BagInvalid, FixityMismatch, StorageConflict
from preservation.core.package import Package
from preservation.core.premis import Event, stable_uuid
from preservation.shared import aip_package
from preservation.storage.aip_index import AuditEntry
from preservation.storage.location import FixityReport, Location, verify_bag
from preservation.storage.locations import default_aip_location as default_location
from preservation.tools.process import file_digest

NAME = "Store AIP"


@dataclass(frozen=True)
class StoreResult:
    aip_uuid: str
    aip_path: str
    location: str
    fixity: dict
    replicas: list[str] = field(default_factory=list)


def run(
    package: Package, location: Location | None = None, replicas: Sequence[Location] = ()
) -> StoreResult:
    """Store and verify the AIP in its location and every replica; records one
    ``fixity check`` on the AIP per location.

    The AIP counts as stored (is indexed) only once every copy is written and read back
    intact: replicas are indexed first, the main location last, and its index is what
    "stored" means to Clean up, the watcher and the transfer monitor.

    An AIP already stored (a retried or cleared task) is not stored again: its stored
    copy is read back and checked, and the working copies are not needed for that.
    """
    location = location or default_location(package)
    buried = location.index.tombstone(package.ref.aip_uuid)
    if buried:
        raise StorageConflict(
            f"AIP {package.ref.aip_uuid} was deleted on {buried.deleted_at}; the UUID of a "
            "deleted AIP is never used again"
        )
    copies = [(loc, *_store_in(package, loc, loc is location)) for loc in [location, *replicas]]
    failed = [(loc, report) for loc, _, _, report in copies if not report.success]
    if failed:
        raise BagInvalid(
            "The stored AIP failed its fixity check: "
            + "; ".join(f"{loc.description}: {report.message}" for loc, report in failed),
            [line for _, report in failed for line in _failures(report.failures)],
        )
    # After Clean up there is no run record to add to (the AIP is indexed already).
    if package.state_path.exists():
        identifier = package.state.facts().external_identifier or package.ref.aip_uuid
        for loc, stored, sha256, _ in reversed(copies):
            loc.register(
                package.ref.aip_uuid, stored, identifier, package.ref.transfer_uuid, sha256
            )
        location.index.audit(
            AuditEntry(
                stable_uuid("stored", package.ref.aip_uuid),
                "stored",
                package.started_by,
                package.ref.aip_uuid,
                identifier=identifier,
                detail=", ".join(loc.description for loc, *_ in copies),
            )
        )
    _, stored, _, report = copies[0]
    return StoreResult(
        package.ref.aip_uuid,
        stored,
        location.description,
        report.as_dict(),
        [loc.description for loc in replicas],
    )


def _store_in(
    package: Package, location: Location, main: bool
) -> tuple[str, str | None, FixityReport]:
    """Store (unless there already) and read back one copy; records its fixity check.
    The main location may take the working copy's files as they are (hard links); a
    replica gets bytes of its own, so no damage to one copy is damage to another."""
    stored = location.find(package.ref.aip_uuid)
    if stored is None or _working_copy(package).exists():
        # The location compares with what it holds: same package, nothing is written;
        # a different one, StorageConflict.
        stored, sha256 = _store(package, location, main)
    else:
        pointer = location.pointer(package.ref.aip_uuid)
        sha256 = aip_package.recorded_sha256(pointer) if pointer else None
    report = location.verify(stored, sha256)
    if package.state_path.exists():
        package.state.record_events(
            [
                Event(
                    package.ref.aip_uuid,
                    premis.FIXITY_CHECK,
                    # One event per location: a retry replaces it, a replica adds its own.
                    key=f"storage {location.description}",
                    detail=f'program="{SOFTWARE_ID}"; location="{location.description}"',
                    outcome="Pass" if report.success else "Fail",
                    outcome_note=report.message,
                )
            ]
        )
    return stored, sha256, report


def _working_copy(package: Package) -> Path:
    if package.config.compression == "uncompressed":
        return package.sip_dir
    return aip_package.package_path(package)


def _store(package: Package, location: Location, main: bool) -> tuple[str, str | None]:
    if package.config.compression == "uncompressed":
        # Check the bag before it leaves: a broken bag must not become a stored AIP.
        before = verify_bag(package.sip_dir, package.settings.workers)
        if not before.success:
            raise BagInvalid(before.message, _failures(before.failures))
        return location.store(package.sip_dir, package.ref.aip_uuid, [], working_copy=main), None
    source = aip_package.package_path(package)
    pointer = aip_package.pointer_path(package)
    # The sha256 recorded when the package was made (its pointer file says it), not one
    # computed now: a package damaged since then must not be stored as sound.
    sha256 = aip_package.recorded_sha256(pointer.read_bytes())
    actual = file_digest(source)
    if actual != sha256:
        raise FixityMismatch(
            f"{source.name} changed after compression: sha256 {actual}, its pointer "
            f"file records {sha256}; it is not stored"
        )
    return location.store(source, package.ref.aip_uuid, [pointer], working_copy=main), sha256


def _failures(failures: dict) -> list[str]:
    return [f"{kind}: {path}" for kind, paths in failures["files"].items() for path in paths]
