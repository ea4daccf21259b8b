"""The compressed AIP in the processing directory: its formats, its file and its pointer
file's names. Written by Compress AIP, read by Store AIP and removed by Clean up."""

from __future__ import annotations

from pathlib import Path

from preservation.package import Package

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
