"""Identify file format: real files through Siegfried (pygfried), PRONOM identifiers."""

from __future__ import annotations

import dataclasses
import io
import struct
import zipfile
import zlib

import pygfried
import pytest

from preservation.core import premis
from preservation.core.errors import StepNotApplicable
from preservation.services import identify_file_formats


def _png() -> bytes:
    """A 1x1 RGB PNG, chunk by chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PDF = b"""%PDF-1.4
1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 3 3]>>endobj
trailer<</Root 1 0 R>>
%%EOF
"""


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inside.txt", "inside")
    return buffer.getvalue()


FILES = {
    "image.png": _png(),
    "report.pdf": PDF,
    "notes.txt": "Plain text notes.\nSecond line.\n",
    "bundle.zip": _zip(),
    "mystery": bytes(range(256)) * 4,
}


def _prepared(make_transfer, new_package, run_until, files=FILES):
    source = make_transfer(files)
    package = new_package(source, "automated")
    run_until(package, source, "change_filenames")
    return package


def _record(package, path):
    [record] = [r for r in package.state.files() if r.path == path]
    return record


def test_real_files_get_their_pronom_identifiers(home, make_transfer, new_package, run_until):
    package = _prepared(make_transfer, new_package, run_until)

    result = identify_file_formats.run(package)

    png = _record(package, "objects/image.png")
    assert png.puid in {"fmt/11", "fmt/12", "fmt/13"}
    assert png.format_name == "Portable Network Graphics"
    pdf = _record(package, "objects/report.pdf")
    assert pdf.puid == "fmt/18" and pdf.format_version == "1.4"
    assert _record(package, "objects/notes.txt").puid == "x-fmt/111"
    assert _record(package, "objects/bundle.zip").puid == "x-fmt/263"
    assert _record(package, "metadata/metadata.csv").puid  # metadata is identified too
    assert all(r.identified == 1 for r in package.state.files())
    assert result.files_identified == len(FILES) + 1
    assert result.unidentified == 1
    assert result.tool == f"Siegfried {pygfried.version()}"


def test_each_file_gets_a_format_identification_event_naming_siegfried(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)

    identify_file_formats.run(package)

    for record in package.state.files():
        [event] = [
            e
            for e in package.state.events(record.uuid)
            if e.event_type == premis.FORMAT_IDENTIFICATION
        ]
        assert 'program="Siegfried"' in event.detail
        assert f'version="{pygfried.version()}"' in event.detail
        assert 'signatures="DROID_SignatureFile' in event.detail
        if record.path == "objects/mystery":
            continue
        assert event.outcome == "Positive"
        assert event.outcome_note == record.puid


def test_an_unidentifiable_file_is_recorded_as_not_identified(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)

    identify_file_formats.run(package)

    mystery = _record(package, "objects/mystery")
    assert mystery.puid == identify_file_formats.UNKNOWN
    assert mystery.identified == 1
    [event] = [
        e
        for e in package.state.events(mystery.uuid)
        if e.event_type == premis.FORMAT_IDENTIFICATION
    ]
    assert event.outcome == "Not identified"
    assert event.outcome_note  # why: Siegfried's warning or error, never blank


def test_the_log_lists_every_file_with_its_identifier(home, make_transfer, new_package, run_until):
    package = _prepared(make_transfer, new_package, run_until)

    identify_file_formats.run(package)

    log = (package.transfer_dir / "logs" / identify_file_formats.LOG).read_text().splitlines()
    assert len(log) == len(FILES) + 1
    notes = _record(package, "objects/notes.txt")
    assert f"objects/notes.txt ({notes.uuid}): x-fmt/111 Plain Text File" in log
    assert any(line.startswith("objects/mystery (") and "UNKNOWN" in line for line in log)


def test_files_are_identified_under_their_cleaned_up_names(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until, {"Caf\u00e9 notes.txt": "menu"})

    identify_file_formats.run(package)

    assert _record(package, "objects/Cafe_notes.txt").puid == "x-fmt/111"


def test_a_rerun_identifies_only_new_files_and_does_not_duplicate_events(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)
    identify_file_formats.run(package)
    first = {e.identifier for e in package.state.events()}

    again = identify_file_formats.run(package)

    assert again.files_identified == 0
    assert {e.identifier for e in package.state.events()} == first
    log = (package.transfer_dir / "logs" / identify_file_formats.LOG).read_text().splitlines()
    assert len(log) == len(FILES) + 1


def test_a_configuration_with_identification_off_skips_the_step(
    home, make_transfer, new_package, run_until
):
    package = _prepared(make_transfer, new_package, run_until)
    package.config = dataclasses.replace(package.config, identify_formats=False)

    with pytest.raises(StepNotApplicable, match="identification off"):
        identify_file_formats.run(package)

    assert all(r.identified == 0 for r in package.state.files())
    assert not [e for e in package.state.events() if e.event_type == premis.FORMAT_IDENTIFICATION]
