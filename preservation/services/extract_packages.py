"""Extract packages: unpack zip, tar(.gz/.bz2/.xz) and 7z files found among the objects.

Each package is extracted safely (see ``safe_extract``) next to itself, into
``<package name>-extracted/``, and its members go through the transfer micro-services
like every other file: UUIDs and checksums, an ``unpacking`` event naming the package,
virus scan, filename change and format identification. Packages found inside packages
are extracted in turn, down to ``max_nesting`` levels; the member and byte limits hold for
the transfer's whole expansion, every level together.

A package that cannot be read (damaged, truncated, encrypted, compressed by a method no
tool here reads) is kept as the original it is: its ``unpacking`` event says why it was
not unpacked (outcome ``Fail``), as Archivematica records it, and the transfer goes on.
A package whose members are unsafe (reaching outside, links, devices) or that would pass
the limits is a verdict on the transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from preservation.core import premis
from preservation.core.errors import StepNotApplicable, UnsafeArchive
from preservation.core.fsutil import merge_log
from preservation.core.names import escape, shorten
from preservation.core.package import ARCHIVE_SUFFIXES, Package
from preservation.core.premis import Event
from preservation.core.state import FileRecord
from preservation.shared import file_registry, file_renaming, format_identification, virus_scanning
from preservation.tools.safe_extract import archive_kind, extract, list_members

NAME = "Extract packages"
SUFFIX = "-extracted"
LOG = "extraction.log"
# PRONOM ids of the packages we unpack: ZIP, TAR, GZIP, BZIP2, XZ, 7Zip. Deciding by
# format (not by the zip magic alone) keeps .docx, .odt, .epub and .jar files whole.
PACKAGE_PUIDS = {"x-fmt/263", "x-fmt/265", "x-fmt/266", "x-fmt/268", "fmt/1098", "fmt/484"}


def is_package(record: FileRecord) -> bool:
    """A zip, tar or 7z by its PRONOM id, or by its extension when formats were not
    identified."""
    if record.identified and record.puid and record.puid != "UNKNOWN":
        return record.puid in PACKAGE_PUIDS
    return record.path.lower().endswith(ARCHIVE_SUFFIXES)


@dataclass(frozen=True)
class ExtractResult:
    packages_extracted: int
    files_extracted: int
    packages_not_unpacked: int = 0


def run(package: Package) -> ExtractResult:
    """Extract every package among the objects, recursively; records ``unpacking``."""
    if not package.config.extract_packages:
        raise StepNotApplicable(
            f"processing configuration {package.config.name!r} keeps packages unextracted"
        )
    root = package.transfer_dir
    settings = package.settings
    packages = files = not_unpacked = 0
    # A retry after a failure in the members' steps (scan, rename, identify): their package
    # is marked extracted already, so finish them here rather than skip them.
    resumed = _members_unfinished(package)
    if resumed:
        _process_members(package)
    for level in range(settings.limits.max_nesting + 1):
        candidates = [
            (r, kind)
            for r in package.state.packages_to_extract()
            if is_package(r) and (kind := archive_kind(root / r.path))
        ]
        if not candidates:
            break
        if level == settings.limits.max_nesting:
            raise UnsafeArchive(
                f"Packages are nested more than {settings.limits.max_nesting} levels deep",
                [r.path for r, _ in candidates],
            )
        new_paths: list[tuple[str, str]] = []
        by_parent: dict[str, list[str]] = {}
        kept: list[tuple[object, str]] = []
        for record, kind in candidates:
            folder = extracted_folder(record.path)
            target = root / folder
            unreadable = _unreadable(root / record.path, kind, settings.tool_timeout)
            if not unreadable:
                try:
                    written = extract(
                        root / record.path,
                        kind,
                        target,
                        settings.limits,
                        settings.tool_timeout,
                        _expanded(package),
                    )
                except UnsafeArchive as exc:
                    if not exc.message.startswith("Unable to read"):
                        raise
                    unreadable = exc.message
            if unreadable:
                kept.append((record, unreadable))
                merge_log(package.logs_dir() / LOG, [f"{record.path}: not unpacked: {unreadable}"])
                continue
            unpacked = sorted((w for w in written if not w.is_dir), key=lambda w: w.path)
            paths = [f"{folder}/{w.path}" for w in unpacked]
            _keep_received_names(package, folder, unpacked)
            by_parent[record.uuid] = paths
            new_paths += [(p, "original") for p in paths]
            merge_log(
                package.logs_dir() / LOG,
                [f"{record.path}: {len(paths)} files -> {target.relative_to(root).as_posix()}/"],
            )
        package.state.record_events(
            Event(
                record.uuid,
                premis.UNPACKING,
                detail=f'program="7-Zip/tarfile/zipfile"; package="{record.path}"',
                outcome="Fail",
                outcome_note=f"Not unpacked, kept as it is: {reason}",
            )
            for record, reason in kept
        )
        package.state.mark_extracted(record.uuid for record, _ in kept)
        candidates = [(r, kind) for r, kind in candidates if r.uuid in by_parent]
        for parent_uuid, paths in by_parent.items():
            file_registry.register(package, [(p, "original") for p in paths], parent_uuid)
        parents = {r.uuid: r for r, _ in candidates}
        fresh = package.state.files_to_checksum()
        file_registry.checksum(package, fresh, root)
        package.state.record_events(
            Event(
                r.uuid,
                premis.UNPACKING,
                detail=f'program="7-Zip/tarfile"; package="{parents[r.parent_uuid].path}"',
                outcome_note=f"Unpacked from: {parents[r.parent_uuid].path} ({r.parent_uuid})",
            )
            for r in fresh
            if r.parent_uuid in parents
        )
        package.state.mark_extracted(parents)
        if package.config.delete_packages_after_extraction:
            for record, _ in candidates:
                (root / record.path).unlink()
            package.state.mark_removed(parents)
        # The new members go through the transfer micro-services like every other file.
        _process_members(package)
        packages += len(candidates)
        files += len(new_paths)
        not_unpacked += len(kept)
    if packages == 0 and not not_unpacked and not resumed:
        raise StepNotApplicable("no zip, tar or 7z packages among the objects")
    return ExtractResult(packages, files, not_unpacked)


def _unreadable(path, kind: str, timeout: int) -> str:
    """Why an archive cannot be unpacked at all ("" when it can be tried): damaged, or
    with encrypted members."""
    try:
        members = list_members(path, kind, timeout)
    except UnsafeArchive as exc:
        return exc.message
    encrypted = [escape(m.name) for m in members if m.encrypted]
    if encrypted:
        return f"encrypted members ({', '.join(encrypted[:10])}); no password is known"
    return ""


def _expanded(package: Package) -> tuple[int, int]:
    """(files, bytes) the transfer holds so far, every level together."""
    records = package.state.files(group="original")
    return len(records), sum(r.size or 0 for r in records)


def extracted_folder(package_path: str) -> str:
    """Where a package's members go: ``<package>-extracted/`` (its name within 255 bytes)."""
    path = PurePosixPath(package_path)
    return str(path.with_name(shorten(f"{path.name}{SUFFIX}")))


def _keep_received_names(package: Package, folder: str, written) -> None:
    """Members whose received names had to be made safe keep them (as original paths)."""
    received = package.state.facts().received_names
    received.update(
        {
            f"{folder}/{w.path}": f"{folder}/{escape(w.received)}"
            for w in written
            if w.path != w.received
        }
    )
    package.state.record_facts(received_names=received)


def _process_members(package: Package) -> None:
    virus_scanning.scan(package, package.state.files_to_scan())
    file_renaming.rename_files(package)
    if package.config.identify_formats:
        format_identification.identify(package, package.state.files_to_identify())


def _members_unfinished(package: Package) -> bool:
    """Extracted members not yet scanned, renamed or identified (an attempt stopped)."""
    members = package.state.unfinished_members(identify=package.config.identify_formats)
    return bool(members) or package.state.facts().rename_plan is not None
