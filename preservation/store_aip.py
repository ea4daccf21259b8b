"""Store AIP: write the AIP to its location under UUID quad directories and verify it.

Nothing is overwritten: storing the same AIP again finds it and only verifies it. The
stored copy is read back in full (every bag checksum, or the package's sha256) and the
result recorded as an AIP-level ``fixity check`` event.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """Store and verify the AIP; records ``fixity check`` on the AIP."""
    location = location or default_location(package)
    if package.config.compression == "uncompressed":
        source, extra, sha256 = package.sip_dir, [], None
        # Check the bag before it leaves: a broken bag must not become a stored AIP.
        before = verify_bag(package.sip_dir, package.settings.workers)
        if not before.success:
            raise BagInvalid(before.message, _failures(before.failures))
    else:
        source = compress_aip.package_path(package)
        extra = [compress_aip.pointer_path(package)]
        # The sha256 recorded when the package was made (its pointer file says it), not
        # one computed now: a package damaged since then must not be stored as sound.
        sha256 = etree.parse(str(extra[0]), mets.SAFE_PARSER).findtext(
            f".//{{{mets.PREMIS_NS}}}messageDigest"
        )
        actual = file_digest(source)
        if actual != sha256:
            raise FixityMismatch(
                f"{source.name} changed after compression: sha256 {actual}, its pointer "
                f"file records {sha256}; it is not stored"
            )
    stored = location.store(source, package.ref.aip_uuid, extra)
    report = location.verify(stored, sha256)
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
    if not report.success:
        raise BagInvalid(
            f"The stored AIP failed its fixity check: {report.message}", _failures(report.failures)
        )
    return StoreResult(package.ref.aip_uuid, stored, location.description, report.as_dict())


def _failures(failures: dict) -> list[str]:
    return [f"{kind}: {path}" for kind, paths in failures["files"].items() for path in paths]
