"""The AIP in the processing directory: the compressed package's formats, its file and
its pointer file (and the checksum the pointer records), and every working copy a run
keeps. Written by Compress AIP, read by Store AIP and the AIP catalog, removed by Clean up
and housekeeping."""

from __future__ import annotations

from pathlib import Path

from preservation.core.package import Package
from preservation.core.safe_xml import parse_bytes
from preservation.metadata import mets

# compression -> (extension, PRONOM id, format name, program, algorithm)
FORMATS = {
    "tar": (".tar", "x-fmt/265", "Tape Archive Format", "tar", "none"),
    "tar.gz": (".tar.gz", "x-fmt/266", "GZIP Format", "tar", "gzip"),
    "7z-bzip2": (".7z", "fmt/484", "7Zip format", "7z", "bzip2"),
    "7z-lzma": (".7z", "fmt/484", "7Zip format", "7z", "lzma"),
}


def package_path(package: Package) -> Path:
    """Where the compressed AIP is written in the processing directory."""
    extension = FORMATS[package.config.compression][0]
    return package.settings.processing_directory / f"{package.ref.aip_name}{extension}"


def pointer_path(package: Package) -> Path:
    return package.settings.processing_directory / f"pointer.{package.ref.aip_uuid}.xml"


def working_copies(package: Package) -> list[Path]:
    """Everything a run keeps in the processing directory (and its download)."""
    targets = [
        package.transfer_dir,
        package.sip_dir,
        package.state_path,
        package.state_path.with_name(package.state_path.name + "-wal"),
        package.state_path.with_name(package.state_path.name + "-shm"),
        pointer_path(package),
        package.dip_dir,
        package.settings.shared_directory / "downloads" / f"{package.ref.transfer_uuid}.zip",
    ]
    if package.config.compression != "uncompressed":
        targets.append(package_path(package))
    if package.reingest is not None:
        # The fetched AIP and what the reingest made of it.
        targets.append(Path(package.reingest.bag).parent.parent)
    return targets


def recorded_sha256(pointer: bytes) -> str | None:
    """The package's sha256 as its pointer file records it."""
    root = parse_bytes(pointer)
    return root.findtext(f".//{{{mets.PREMIS_NS}}}messageDigest")
