"""Reingest AIP: make a new version of a stored AIP, as Archivematica's three reingests.

* ``metadata``: the previous version's files, events and METS records carried over; new
  ``metadata.csv`` and/or ``rights.csv`` replace the old ones (a ``metadata modification``
  event on each), so the new METS has new Dublin Core/OTHER ``dmdSec``s and ``rightsMD``s;
* ``partial``: the same, without the previous preservation copies and transcriptions:
  Normalize and Transcribe run again with the current format policy registry;
* ``full``: a transfer rebuilt from the AIP's originals (and its metadata, or the new)
  goes through the whole chain again.

Each is stored as the next version of the AIP's identifier under a UUID of its own (the
previous version is never touched); every file gets a ``reingestion`` event naming the
version it came from, and the METS keeps the first CREATEDATE with a LASTMODDATE. The
stored AIP is fetched from its location (local or S3) and verified before anything is
made of it. Everything is made in the run's reingest folder and the processing directory,
beside its final place and renamed in, so a retried step starts again cleanly.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from preservation.core import premis
from preservation.core.errors import NotStored, ReingestRefused
from preservation.core.fsutil import link_or_copy, link_tree
from preservation.core.package import REINGEST_MODES, Package, Reingest
from preservation.core.premis import Event, stable_uuid
from preservation.core.settings import Settings
from preservation.metadata import mets_reader
from preservation.metadata.mets import DERIVED_GROUPS
from preservation.metadata.transfer_metadata import read_metadata_csv, read_rights_csv
from preservation.operations import aip_catalog
from preservation.shared import file_registry, format_identification, virus_scanning
from preservation.shared.reingestion import reingestion_events
from preservation.storage.aip_index import AuditEntry
from preservation.storage.location import Location
from preservation.tools.safe_extract import archive_kind, extract, remove_tree

NAME = "Reingest AIP"
METADATA_FILES = ("metadata.csv", "rights.csv")


@dataclass(frozen=True)
class ReingestResult:
    previous_aip: str
    identifier: str
    version: int
    mode: str
    files: int
    #: the metadata files replaced or added (metadata.csv, rights.csv)
    metadata_updated: list[str]


def fetch(
    location: Location,
    folder: Path,
    reference: str,
    mode: str,
    version: int | None = None,
    settings: Settings | None = None,
) -> Reingest:
    """Fetch the stored AIP ``reference`` (a UUID or an identifier, its newest version or
    ``version``) into ``folder``, verify it, and unpack it if it is compressed; writes
    ``reingest.json`` last, so a retry finds a complete fetch or starts it again."""
    done = Reingest.load(folder)
    if done is not None and Path(done.bag).is_dir():
        return done
    if mode not in REINGEST_MODES:
        raise ReingestRefused(
            f"Reingest mode {mode!r} is not one of {', '.join(REINGEST_MODES)}: metadata "
            "(new metadata.csv or rights.csv), partial (normalize again), full (the whole chain)"
        )
    try:
        record = aip_catalog.resolve(location, reference.strip(), version)
    except NotStored as missing:
        raise ReingestRefused(f"Nothing to reingest: {missing}") from None
    fetched = folder / "fetched"
    remove_tree(fetched)
    local = aip_catalog.fetch(location, record, fetched)
    if local.is_dir():
        bag = local
    else:
        from preservation.core.settings import load_settings

        settings = settings or load_settings()
        unpacked = folder / "unpacked"
        kind = archive_kind(local)
        extract(local, kind, unpacked, settings.limits, settings.tool_timeout)
        # Its sha256 was checked on arrival (aip_catalog.fetch): the bag is not read again.
        [bag] = [p for p in unpacked.iterdir() if p.is_dir()]
    mets_path = bag / "data" / f"METS.{record.aip_uuid}.xml"
    if not mets_path.is_file():
        raise ReingestRefused(f"The stored AIP {record.aip_uuid} has no METS.{record.aip_uuid}.xml")
    reingest = Reingest(
        previous_aip=record.aip_uuid,
        identifier=record.identifier,
        version=record.version,
        mode=mode,
        name=bag.name.removesuffix(f"-{record.aip_uuid}"),
        mets_created=mets_reader.created(mets_path),
        bag=str(bag),
    )
    reingest.save(folder)
    return reingest


def prepare(
    package: Package,
    location: Location,
    source: Path,
    metadata_csv: Path | None = None,
    rights_csv: Path | None = None,
) -> ReingestResult:
    """Make of the fetched AIP what the mode starts from: for ``full``, the transfer
    ``source`` (originals and metadata); else the new SIP with the previous version's
    records (``reingestion`` events; ``metadata modification`` on replaced metadata)."""
    reingest = package.reingest
    assert reingest is not None, "prepare() is for a reingest's package"
    bag = Path(reingest.bag)
    previous = mets_reader.read(bag / "data" / f"METS.{reingest.previous_aip}.xml")
    new = {"metadata.csv": metadata_csv, "rights.csv": rights_csv}
    for name, path in new.items():
        if path is not None and not path.is_file():
            raise ReingestRefused(f"The new {name} {path} is not a file")
    location.index.audit(
        AuditEntry(
            stable_uuid("reingest", package.ref.aip_uuid),
            "reingest",
            package.started_by,
            reingest.previous_aip,
            identifier=reingest.identifier,
            detail=f"{reingest.mode} reingest of version {reingest.version} as AIP "
            f"{package.ref.aip_uuid}"
            + "".join(f"; new {name}" for name, path in new.items() if path),
        )
    )
    if reingest.mode == "full":
        files = _rebuild_transfer(previous, bag, source, new)
        return ReingestResult(
            reingest.previous_aip,
            reingest.identifier,
            reingest.version,
            reingest.mode,
            files,
            [n for n, p in new.items() if p],
        )
    return _rebuild_sip(package, previous, bag, new)


def _metadata_files(previous: mets_reader.AipMets) -> dict[str, str]:
    """The previous version's metadata.csv and rights.csv, by name: their paths in the bag."""
    return {
        Path(r.path).name: r.path
        for r in previous.files
        if r.file_group == "metadata"
        and Path(r.path).name in METADATA_FILES
        and r.path.startswith("objects/metadata/transfers/")
    }


def _rebuild_transfer(
    previous: mets_reader.AipMets, bag: Path, source: Path, new: dict[str, Path | None]
) -> int:
    """The transfer a full reingest starts from: each original under the name it had in the
    transfer, ``metadata/`` with the new metadata files or the previous ones."""
    staging = source.with_name(f".{source.name}.partial")
    remove_tree(staging)
    staging.mkdir(parents=True)
    # An original extracted from a package comes back in it (Extract packages unpacks it
    # again), unless the package itself was not kept.
    present = {r.uuid for r in previous.files}
    originals = [
        r
        for r in previous.files
        if r.file_group == "original" and (r.parent_uuid is None or r.parent_uuid not in present)
    ]
    for record in originals:
        # A transfer holds its files at the top, beside metadata/ (objects/ is made of them).
        link_or_copy(
            bag / "data" / record.path, staging / record.original_path.removeprefix("objects/")
        )
    (staging / "metadata").mkdir()
    for name, path in _metadata_files(previous).items():
        link_or_copy(bag / "data" / path, staging / "metadata" / name)
    for name, path in new.items():
        if path is not None:
            (staging / "metadata" / name).unlink(missing_ok=True)
            shutil.copyfile(path, staging / "metadata" / name)
    remove_tree(source)
    staging.rename(source)
    return len(originals)


def _rebuild_sip(
    package: Package, previous: mets_reader.AipMets, bag: Path, new: dict[str, Path | None]
) -> ReingestResult:
    """The new SIP of a metadata-only or partial reingest, and its state, from the
    previous version's bag and METS."""
    reingest = package.reingest
    # A partial reingest makes the preservation copies and transcriptions again.
    dropped = {
        r.uuid
        for r in previous.files
        if reingest.mode == "partial" and r.file_group in DERIVED_GROUPS
    }
    kept = [r for r in previous.files if r.uuid not in dropped]
    sip = package.sip_dir
    staging = sip.with_name(f".{sip.name}.partial")
    remove_tree(staging)
    data = staging / "data"
    # Folders as they were, empty ones included (the METS's normative structure).
    for folder in ("objects", "logs", "thumbnails"):
        if reingest.mode != "partial" or folder != "thumbnails":
            link_tree(bag / "data" / folder, data / folder)
    for record in previous.files:
        if record.uuid in dropped:
            (data / record.path).unlink()
    (data / "thumbnails").mkdir(parents=True, exist_ok=True)

    package.close()
    for stale in ("", "-wal", "-shm"):
        package.state_path.with_name(package.state_path.name + stale).unlink(missing_ok=True)
    state = package.state
    state.add_files(kept)
    state.record_events(e for e in previous.events if e.subject not in dropped)
    state.record_characteristics(c for c in previous.characteristics if c[0] not in dropped)
    if reingest.mode == "metadata":
        state.record_derivatives(previous.derivatives)
    metadata = _metadata_files(previous)
    transfer_metadata = str(Path(next(iter(metadata.values()))).parent) if metadata else ""
    updated = []
    for name, path in new.items():
        if path is None:
            continue
        target = f"{transfer_metadata}/{name}" if transfer_metadata else f"objects/metadata/{name}"
        (data / target).unlink(missing_ok=True)
        (data / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, data / target)
        metadata[name] = target
        updated.append(name)
    facts = _read_metadata(package, data, metadata, kept)
    state.record_facts(
        source=str(bag),
        name=package.ref.name,
        transfer_uuid=package.ref.transfer_uuid,
        aip_uuid=package.ref.aip_uuid,
        received=premis.now(),
        processing_config=package.config.name,
        external_identifier=reingest.identifier,
        sip_created=True,
        **facts,
    )
    remove_tree(sip)
    staging.rename(sip)
    # The replaced metadata files: new checksums, and the event saying they changed.
    changed = file_registry.register(package, [(metadata[n], "metadata") for n in updated])
    for record in changed:
        state.check_again(record.uuid)
    changed = state.files_by_uuid(r.uuid for r in changed)
    file_registry.checksum(package, changed, package.sip_data)
    virus_scanning.scan(package, changed)
    if package.config.identify_formats:
        format_identification.identify(package, state.files_to_identify())
    state.record_events(
        Event(
            record.uuid,
            premis.METADATA_MODIFICATION,
            key=package.ref.aip_uuid,
            detail=f'program="reingest"; mode="{reingest.mode}"',
            outcome="Pass",
            outcome_note=f"{Path(record.path).name} replaced in the {reingest.mode} reingest "
            f"of AIP {reingest.previous_aip}",
        )
        for record in changed
    )
    state.record_events(reingestion_events(package, state.files()))
    return ReingestResult(
        reingest.previous_aip,
        reingest.identifier,
        reingest.version,
        reingest.mode,
        len(state.files()),
        updated,
    )


def _read_metadata(package: Package, data: Path, metadata: dict[str, str], records) -> dict:
    """The package facts metadata.csv and rights.csv give (checked as on arrival)."""
    problems: list[str] = []
    facts: dict = {}
    if "metadata.csv" in metadata:
        info = read_metadata_csv(
            data / metadata["metadata.csv"], package.config.package_kind, problems
        )
        if info is not None:
            facts |= {
                "package_kind": info.kind,
                "catalogue_identifier": info.catalogue_identifier,
                "accession_number": info.accession_number,
                "collection_reference": info.collection_reference,
                "dublin_core": info.dublin_core,
                "other_metadata": info.other,
            }
    if "rights.csv" in metadata:
        in_transfer = {r.original_path for r in records if r.file_group == "original"}
        facts["rights"] = read_rights_csv(
            data / metadata["rights.csv"],
            lambda inside: f"objects/{inside}" in in_transfer,
            problems,
        )
    if problems:
        raise ReingestRefused(
            f"The metadata for the reingest of {package.reingest.identifier} does not follow "
            "the transfer package rules",
            problems,
        )
    return facts
