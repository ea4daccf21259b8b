"""Transcribe SIP contents: OCR with Tesseract, off by default, text/ocr in the METS."""

import dataclasses

from preservation.core.safe_xml import parse_file
from preservation.metadata import mets
from tests import media
from tests.conftest import run_stage

NS = {"mets": mets.METS_NS, "premis": mets.PREMIS_NS}


def test_ocr_is_off_by_default(package_until):
    package = package_until({"page.png": media.text_image()}, "normalize_files", config="default")
    assert "turns transcription (OCR) off" in str(run_stage(package, "transcribe_files"))


def test_the_text_of_an_image_lands_in_ocr_files_linked_to_its_original(
    make_transfer, new_package, run_until, mets_schema
):
    source = make_transfer({"page.png": media.text_image(), "notes.txt": "no OCR for text"})
    package = new_package(source)
    package.config = dataclasses.replace(package.config, transcribe=True)
    run_until(package, source, "generate_aip_mets")
    page = package.state.file_at("objects/page.png")
    [ocr] = package.state.files(group="text/ocr")
    assert ocr.path == f"objects/metadata/OCRfiles/page-{page.uuid}.txt"
    assert "Hello archive" in (package.sip_data / ocr.path).read_text()
    [event] = [e for e in package.state.events(page.uuid) if e.event_type == "transcription"]
    assert event.outcome == "success" and 'program="Tesseract"' in event.detail
    tree = parse_file(package.mets_path)
    assert mets_schema.validate(tree), mets_schema.error_log
    assert tree.xpath("count(//mets:fileGrp[@USE='text/ocr']/mets:file)", namespaces=NS) == 1
