"""Verify transfer compliance: the package follows the transfer package rules.

Content sits at the top level (now ``objects/``); ``metadata/`` holds ``metadata.csv``
(required), ``rights.csv`` (optional) and, when the processing configuration accepts
them, ``checksum.<algorithm>`` files; nothing else. Hidden and unneeded files that
operating systems leave behind (``.DS_Store``, ``Thumbs.db``, ``Icon\\r``, ``__MACOSX``,
any name starting with a dot) are removed from ``objects/`` and listed in
``logs/removedUnneededFiles.log``. All problems are collected and reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from preservation.core.errors import TransferInvalid
from preservation.core.fsutil import merge_log
from preservation.core.names import escape, unescape
from preservation.core.package import Package
from preservation.intake.transfer_package import is_unneeded
from preservation.metadata.transfer_metadata import read_metadata_csv, read_rights_csv
from preservation.tools.safe_extract import remove_tree

NAME = "Verify transfer compliance"
CHECKSUM_FILES = tuple(f"checksum.{a}" for a in ("md5", "sha1", "sha256", "sha512"))
REMOVED_LOG = "removedUnneededFiles.log"


@dataclass(frozen=True)
class ComplianceResult:
    kind: str
    external_identifier: str
    removed_files: int
    rights_statements: int


def run(package: Package) -> ComplianceResult:
    """Check the working copy against the rules; remove unneeded files (no PREMIS event:
    they were never registered)."""
    transfer = package.transfer_dir
    objects, metadata = transfer / "objects", transfer / "metadata"
    problems: list[str] = []

    received = package.state.facts().received_names
    removed = _remove_unneeded(objects, received)
    merge_log(transfer / "logs" / REMOVED_LOG, removed)

    allowed = {"metadata.csv", "rights.csv"}
    if package.config.accept_checksum_files:
        allowed.update(CHECKSUM_FILES)
    info = None
    rights: list[dict[str, str]] = []
    if not (metadata / "metadata.csv").is_file():
        problems.append(_missing_metadata_message(objects))
    else:
        for entry in sorted(metadata.iterdir()):
            if entry.name not in allowed or not entry.is_file():
                problems.append(
                    f"metadata/{entry.name} is not allowed: metadata/ may hold only "
                    f"{', '.join(sorted(allowed))}; move it out of metadata/ or remove it"
                )
        info = read_metadata_csv(metadata / "metadata.csv", package.config.package_kind, problems)
        if (metadata / "rights.csv").is_file():
            rights = read_rights_csv(metadata / "rights.csv", objects, problems)
    if not any(p.is_file() for p in objects.rglob("*")):
        problems.append(
            "the transfer has no content files: put the files to preserve at the top level of "
            "the zip, beside metadata/"
        )
    if problems:
        raise TransferInvalid(
            f"Transfer {package.ref.name} does not follow the transfer package rules", problems
        )
    assert info is not None
    # A reingest is a new version of the identifier it was stored under, whatever its
    # (new) metadata.csv says.
    external = (
        package.reingest.identifier if package.reingest else info.identifier
    ) or package.ref.aip_uuid
    package.state.record_facts(
        package_kind=info.kind,
        catalogue_identifier=info.catalogue_identifier,
        accession_number=info.accession_number,
        collection_reference=info.collection_reference,
        external_identifier=external,
        dublin_core=info.dublin_core,
        other_metadata=info.other,
        rights=rights,
    )
    return ComplianceResult(info.kind, external, len(removed), len(rights))


def _remove_unneeded(objects: Path, received: dict[str, str]) -> list[str]:
    """Remove what operating systems leave behind, judged by the name it was received
    under (``Icon\\r`` is on disk as ``Icon_``); returns the received names, escaped."""
    removed = []
    for path in sorted(objects.rglob("*"), key=lambda p: len(p.parts)):
        relative = f"objects/{path.relative_to(objects).as_posix()}"
        original = received.get(relative, escape(relative))
        if path.exists() and is_unneeded(unescape(original).rsplit("/", 1)[-1]):
            removed.append(original)
            remove_tree(path)
    return removed


def _missing_metadata_message(objects: Path) -> str:
    message = (
        "metadata/metadata.csv is missing: add a top-level metadata/ folder holding "
        "metadata.csv (filename,dc.identifier or filename,collection_reference,"
        "accession_number; one row for objects/)"
    )
    entries = [p for p in objects.iterdir() if not is_unneeded(p.name)]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "metadata").is_dir():
        message += (
            f". The zip has a single enclosing folder {entries[0].name}/: zip its contents, "
            "not the folder"
        )
    return message
