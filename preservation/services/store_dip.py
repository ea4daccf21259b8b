"""Store DIP: the access copies, thumbnails and METS, in the DIP location beside the AIP's.

The DIP is named like the AIP (``<name>-<aip uuid>``) and stored in UUID quad
directories of the DIP location (a local folder, or S3 with ``PRESERVATION_DIP_STORE``):
``objects/`` (access copies, ``<original uuid>-<name>``),
``thumbnails/<original uuid>.jpg``, ``METS.<aip uuid>.xml`` and ``manifest-sha256.txt``.
The stored copy is read back and checked against that manifest; a DIP already stored is
never overwritten. No PREMIS event: the DIP is not part of the AIP's record.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from preservation.core.errors import BagInvalid, StepNotApplicable
from preservation.core.fsutil import atomic_write_text, link_or_copy
from preservation.core.package import Package
from preservation.storage.location import LocalLocation, Location
from preservation.tools.process import digests

NAME = "Store DIP"
MANIFEST = "manifest-sha256.txt"


@dataclass(frozen=True)
class DipResult:
    dip_path: str
    access_copies: int
    thumbnails: int


def default_location(package: Package) -> LocalLocation:
    """The embedded default: a local folder beside the AIP store."""
    return LocalLocation(package.settings.dip_store)


def run(package: Package, dip_location: Location | None = None) -> DipResult:
    """Assemble the DIP and store it; verified by reading the stored copy back, then
    indexed in the DIP location under the AIP's UUID and identifier."""
    location = dip_location or default_location(package)
    stored = location.find(package.ref.aip_uuid)
    dip = package.dip_dir
    if stored is None:
        if not package.sip_dir.is_dir():
            raise StepNotApplicable("the SIP is gone and no DIP was stored; nothing to store")
        # Asked before anything is assembled: a 100,000-file AIP's METS (1.5 GB) was
        # copied and hashed for a DIP that was then not made.
        thumbnails = list((package.sip_data / "thumbnails").glob("*.jpg"))
        if not any((dip / "objects").glob("*")) and not thumbnails:
            raise StepNotApplicable(
                "no access copies or thumbnails were made (processing configuration "
                f"{package.config.name!r} or the registry's rules); no DIP"
            )
        _assemble(package)
        stored = location.store(dip, package.ref.aip_uuid, [])
    with tempfile.TemporaryDirectory(prefix="dip-verify-") as work:
        # A local DIP is read where it is; any other is read back into ``work``.
        local = Path(stored) if Path(stored).is_dir() else location.download(stored, Path(work))
        problems = verify(local)
        manifest = local / MANIFEST
        listed = manifest.read_text(encoding="utf-8").splitlines() if manifest.is_file() else []
    if problems:
        raise BagInvalid(f"The stored DIP {stored} does not match its manifest", problems)
    if package.state_path.exists():
        location.register(
            package.ref.aip_uuid,
            stored,
            package.state.facts().external_identifier or package.ref.aip_uuid,
            package.ref.transfer_uuid,
            None,
        )
    shutil.rmtree(dip, ignore_errors=True)
    return DipResult(
        stored,
        sum(1 for line in listed if "  objects/" in line),
        sum(1 for line in listed if "  thumbnails/" in line),
    )


def _assemble(package: Package) -> None:
    dip = package.dip_dir
    (dip / "objects").mkdir(parents=True, exist_ok=True)
    (dip / "thumbnails").mkdir(exist_ok=True)
    for thumbnail in (package.sip_data / "thumbnails").glob("*.jpg"):
        link_or_copy(thumbnail, dip / "thumbnails" / thumbnail.name)
    if package.mets_path.is_file():
        # The DIP's own bytes are made when it is stored (a location copies what it is
        # given); in the processing directory a link does.
        (dip / package.mets_path.name).unlink(missing_ok=True)  # an earlier attempt's
        link_or_copy(package.mets_path, dip / package.mets_path.name)
    files = sorted(p for p in dip.rglob("*") if p.is_file() and p.name != MANIFEST)
    sums = digests(files, package.settings.workers)
    atomic_write_text(
        dip / MANIFEST,
        "".join(f"{s}  {p.relative_to(dip).as_posix()}\n" for p, s in zip(files, sums)),
    )


def verify(folder: Path) -> list[str]:
    """Problems of a stored DIP against its manifest (missing, changed, untracked files)."""
    if not (folder / MANIFEST).is_file():
        return [f"missing: {MANIFEST}"]
    listed = {}
    for line in (folder / MANIFEST).read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        listed[rel] = digest
    present = {
        p.relative_to(folder).as_posix(): p
        for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    problems = [f"missing: {rel}" for rel in sorted(listed.keys() - present.keys())]
    problems += [f"untracked: {rel}" for rel in sorted(present.keys() - listed.keys())]
    common = sorted(listed.keys() & present.keys())
    for rel, digest in zip(common, digests([present[r] for r in common], 2)):
        if digest != listed[rel]:
            problems.append(f"changed: {rel}")
    return problems
