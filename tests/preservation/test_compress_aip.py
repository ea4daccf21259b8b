"""Compress AIP: tar, tar.gz, 7z (bzip2, LZMA) packages that unpack to a valid bag."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import subprocess
import tarfile

import bagit
import pytest
from lxml import etree

from preservation.core.errors import StepNotApplicable
from preservation.services import compress_aip

NS = {"mets": "http://www.loc.gov/METS/", "premis": "http://www.loc.gov/premis/v3"}
FILES = {"a b.txt": "hello", "sub/c.txt": "deep content\n" * 200, "empty": None}
COMPRESSIONS = [
    ("tar", 0, ".tar"),
    ("tar.gz", 6, ".tar.gz"),
    ("7z-bzip2", 5, ".7z"),
    ("7z-lzma", 5, ".7z"),
]


@pytest.fixture
def bagged(package_until):
    """A package run up to prepare_aip (the automated configuration: uncompressed)."""
    """A package run up to prepare_aip (the automated configuration: uncompressed)."""
    return package_until(FILES, "prepare_aip")


def _configure(package, compression: str, level: int) -> None:
    package.config = dataclasses.replace(
        package.config, compression=compression, compression_level=level
    )


def _extract(path: str, target) -> None:
    target.mkdir()
    if path.endswith(".7z"):
        subprocess.run(
            ["7z", "x", "-y", f"-o{target}", path], check=True, capture_output=True, timeout=120
        )
    else:
        with tarfile.open(path) as archive:
            archive.extractall(target, filter="data")


@pytest.mark.parametrize(("compression", "level", "extension"), COMPRESSIONS)
def test_the_compressed_aip_unpacks_to_a_valid_bag(bagged, tmp_path, compression, level, extension):
    _configure(bagged, compression, level)
    result = compress_aip.run(bagged)
    assert result.package_path.endswith(f"{bagged.ref.aip_name}{extension}")
    _extract(result.package_path, tmp_path / "out")
    unpacked = tmp_path / "out" / bagged.ref.aip_name
    bagit.Bag(str(unpacked)).validate()
    assert (unpacked / "data" / "objects" / "empty").is_dir()  # empty folders travel too
    assert (unpacked / "manifest-sha256.txt").read_bytes() == (
        bagged.sip_dir / "manifest-sha256.txt"
    ).read_bytes()


@pytest.mark.parametrize(("compression", "level", "extension"), COMPRESSIONS)
def test_compression_is_recorded_as_an_event_on_the_aip(bagged, compression, level, extension):
    _configure(bagged, compression, level)
    result = compress_aip.run(bagged)
    [event] = bagged.state.events(bagged.ref.aip_uuid)
    assert event.event_type == "compression"
    assert f'level="{level}"' in event.detail
    algorithm = compress_aip.FORMATS[compression][4]
    assert f'algorithm="{algorithm}"' in event.detail
    assert result.sha256 in event.outcome_note


@pytest.mark.parametrize(("compression", "level", "extension"), COMPRESSIONS)
def test_the_pointer_file_is_valid_and_holds_the_package_sha256_and_size(
    bagged, mets_schema, compression, level, extension
):
    _configure(bagged, compression, level)
    result = compress_aip.run(bagged)
    pointer = compress_aip.pointer_path(bagged)
    assert pointer.name == f"pointer.{bagged.ref.aip_uuid}.xml"
    assert result.pointer_path == str(pointer)
    document = etree.parse(str(pointer))
    assert mets_schema.validate(document), mets_schema.error_log
    with open(result.package_path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    size = (bagged.settings.processing_directory / f"{bagged.ref.aip_name}{extension}").stat()
    obj = document.find(".//premis:object", NS)
    assert obj.findtext(".//premis:objectIdentifierValue", namespaces=NS) == bagged.ref.aip_uuid
    assert obj.findtext(".//premis:messageDigest", namespaces=NS) == digest == result.sha256
    assert obj.findtext(".//premis:size", namespaces=NS) == str(size.st_size) == str(result.size)
    assert (
        obj.findtext(".//premis:formatRegistryKey", namespaces=NS)
        == (compress_aip.FORMATS[compression][1])
    )
    [event_type] = document.xpath("//premis:event/premis:eventType/text()", namespaces=NS)
    assert event_type == "compression"
    href = document.find(".//mets:FLocat", NS).get("{http://www.w3.org/1999/xlink}href")
    assert href == f"{bagged.ref.aip_name}{extension}"


def test_the_gzip_level_of_the_configuration_is_honoured(bagged, tmp_path):
    sizes, headers = {}, {}
    for level in (1, 9):
        _configure(bagged, "tar.gz", level)
        result = compress_aip.run(bagged)
        data = open(result.package_path, "rb").read()
        headers[level] = data[8]  # gzip XFL: 4 = fastest, 2 = maximum compression
        sizes[level] = len(data)
        assert gzip.decompress(data)  # a real gzip stream
    assert headers == {1: 4, 9: 2}
    assert sizes[1] > sizes[9]


@pytest.mark.parametrize(("compression", "method"), [("7z-bzip2", "BZip2"), ("7z-lzma", "LZMA")])
def test_seven_zip_uses_the_configured_algorithm(bagged, compression, method):
    _configure(bagged, compression, 5)
    result = compress_aip.run(bagged)
    listing = subprocess.run(
        ["7z", "l", "-slt", result.package_path], check=True, capture_output=True, text=True
    ).stdout
    methods = {
        line.split(" = ", 1)[1]
        for line in listing.splitlines()
        if line.startswith("Method = ") and line != "Method = "  # folders have no method
    }
    assert methods and all(m.startswith(method) for m in methods), methods


def test_compressing_again_replaces_the_package_and_keeps_one_event(bagged):
    _configure(bagged, "tar", 0)
    first = compress_aip.run(bagged)
    second = compress_aip.run(bagged)
    assert first.package_path == second.package_path
    assert len(bagged.state.events(bagged.ref.aip_uuid)) == 1
    leftovers = [p for p in bagged.settings.processing_directory.iterdir() if ".partial" in p.name]
    assert leftovers == []


def test_an_uncompressed_configuration_skips_compression(bagged):
    assert bagged.config.compression == "uncompressed"
    with pytest.raises(StepNotApplicable, match="uncompressed"):
        compress_aip.run(bagged)
    assert not compress_aip.pointer_path(bagged).exists()
    assert bagged.state.events(bagged.ref.aip_uuid) == []
