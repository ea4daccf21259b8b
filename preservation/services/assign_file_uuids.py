"""Assign file UUIDs and checksums: give every file an identity and a sha256.

Records, per file, ``ingestion``, ``message digest calculation`` (sha256), when the
transfer is an accession, ``registration`` with the accession number, and in a full
reingest ``reingestion`` naming the AIP reingested. Hashing runs in
parallel threads; the state is written in one transaction per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from preservation.core.package import Package
from preservation.shared.file_registry import DIGEST_DETAIL, checksum, register
from preservation.shared.reingestion import reingestion_events

# Shared with other stages: preservation.shared.file_registry (re-exported here).
__all__ = ["NAME", "run", "AssignResult", "checksum", "DIGEST_DETAIL", "register"]

NAME = "Assign file UUIDs and checksums"


@dataclass(frozen=True)
class AssignResult:
    files: int
    bytes: int
    events: int


def run(package: Package) -> AssignResult:
    """Register every file of ``objects/`` and ``metadata/`` and checksum the new ones."""
    root = package.current_dir()
    if package.state.facts().sip_created:
        # Cleared and re-run after Create SIP: the files are registered under their SIP
        # paths, where the metadata and submission documentation now live.
        paths = [(p, _sip_group(package, p)) for p in _files(root, "objects")]
    else:
        paths = [(p, "original") for p in _files(root, "objects")]
        paths += [(p, "metadata") for p in _files(root, "metadata")]
    records = register(package, paths)
    events = checksum(package, records, root)
    # A full reingest: each file is also a file of the AIP reingested.
    events += package.state.record_events(reingestion_events(package, records))
    return AssignResult(len(records), sum(r.size or 0 for r in records), events)


def _files(root: Path, folder: str) -> list[str]:
    return [
        p.relative_to(root).as_posix() for p in sorted((root / folder).rglob("*")) if p.is_file()
    ]


def _sip_group(package: Package, path: str) -> str:
    if path.startswith(f"{package.transfer_metadata_in_sip.as_posix()}/"):
        return "metadata"
    if path.startswith("objects/submissionDocumentation/"):
        return "submissionDocumentation"
    return "original"
