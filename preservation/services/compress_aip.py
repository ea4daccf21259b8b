"""Compress AIP: pack the bag as the processing configuration says.

``uncompressed`` (stored as a folder: the step is skipped), ``tar``, ``tar.gz`` (gzip
level from the configuration), ``7z-bzip2`` or ``7z-lzma`` (7-Zip, multi-threaded).
Records an AIP-level ``compression`` event and writes a pointer file
(``pointer.<uuid>.xml``, a METS document like Archivematica's) describing the package:
its size, sha256, format and how it was made.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass

from preservation.core import premis
from preservation.core.disk_space import disk_full_is_a_fault, mib, require_space, tree_size
from preservation.core.errors import StepNotApplicable
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.metadata import mets
from preservation.shared.aip_package import FORMATS, package_path, pointer_path
from preservation.tools.process import file_digest, require
from preservation.tools.process import run as run_tool
from preservation.tools.safe_extract import remove_tree

# Shared with other stages: preservation.shared.aip_package (re-exported here).
__all__ = ["NAME", "run", "CompressResult", "FORMATS", "package_path", "pointer_path"]

NAME = "Compress AIP"


@dataclass(frozen=True)
class CompressResult:
    package_path: str
    pointer_path: str
    sha256: str
    size: int


def run(package: Package) -> CompressResult:
    """Compress the AIP; records ``compression`` on the AIP and writes its pointer file."""
    config = package.config
    if config.compression == "uncompressed":
        raise StepNotApplicable(
            f"processing configuration {config.name!r} stores the AIP uncompressed"
        )
    _, puid, format_name, program, algorithm = FORMATS[config.compression]
    target = package_path(package)
    partial = target.with_name(f".{target.name}.partial")
    remove_tree(partial)
    source = package.sip_dir
    size = tree_size(source)
    estimate = f"its {config.compression} package, up to the bag's {mib(size)}"
    require_space(target.parent, size, NAME, estimate, package.settings.disk_reserve)
    try:
        with disk_full_is_a_fault(target.parent, NAME):
            version = _compress(package, source, partial, program, algorithm)
    except BaseException:
        remove_tree(partial)  # a half-written package takes space and is of no use
        raise
    partial.rename(target)
    digest, size = file_digest(target), target.stat().st_size
    event = Event(
        package.ref.aip_uuid,
        premis.COMPRESSION,
        detail=f'program="{program}"; version="{version}"; algorithm="{algorithm}"; '
        f'level="{config.compression_level}"',
        outcome="Pass",
        outcome_note=f"{target.name} sha256 {digest}",
    )
    package.state.record_events([event])
    pointer = mets.build_pointer(
        package, target.name, digest, size, puid, format_name, program, version, [event]
    )
    mets.write(pointer, pointer_path(package))
    return CompressResult(str(target), str(pointer_path(package)), digest, size)


def _compress(package: Package, source, partial, program: str, algorithm: str) -> str:
    """Write the package to ``partial``; returns the program's version."""
    config = package.config
    if program == "tar":
        mode = "w:gz" if algorithm == "gzip" else "w"
        options = {"compresslevel": config.compression_level} if algorithm == "gzip" else {}
        with tarfile.open(partial, mode, format=tarfile.PAX_FORMAT, **options) as archive:
            archive.add(source, arcname=source.name)
        version = f"Python tarfile {tarfile.version}"
    else:
        seven = require("7z")
        run_tool(
            [
                seven,
                "a",
                "-t7z",
                "-bd",
                "-y",
                f"-m0={algorithm}",
                f"-mx={config.compression_level}",
                "-mmt=on",
                str(partial),
                str(source),
            ],
            package.settings.tool_timeout,
        )
        version = _seven_zip_version(seven)
    return version


def _seven_zip_version(seven: str) -> str:
    banner = run_tool([seven], 60).stdout
    line = next((x for x in banner.splitlines() if x.startswith(("7-Zip", "p7zip"))), "7-Zip")
    return line.split(":")[0].strip()
