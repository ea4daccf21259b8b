"""Characterize and extract metadata: tool XML embedded in objectCharacteristicsExtension."""

import pytest
from lxml import etree

from preservation.core.premis import Event
from preservation.core.safe_xml import parse_file
from preservation.metadata import mets
from preservation.tools import batch_tools
from tests import media
from tests.conftest import run_stage

NS = {"premis": mets.PREMIS_NS}


def test_each_file_gets_the_xml_of_the_tools_its_format_names(package_until):
    files = {"a.png": media.image("PNG"), "b.wav": media.wav(), "c.mp4": media.video()}
    package = package_until(files, "characterize_files")
    by_name = {
        r.path: dict(package.state.characteristics(r.uuid))
        for r in package.state.files(group="original")
    }
    assert set(by_name["objects/a.png"]) == {"ExifTool"}
    assert set(by_name["objects/b.wav"]) == {"ExifTool", "MediaInfo"}
    assert set(by_name["objects/c.mp4"]) == {"ExifTool", "MediaInfo", "FFprobe"}
    png = etree.fromstring(by_name["objects/a.png"]["ExifTool"].encode())
    assert png.xpath("string(//*[local-name()='ImageWidth'])") == "48"
    wav = etree.fromstring(by_name["objects/b.wav"]["MediaInfo"].encode())
    audio = "//*[local-name()='track'][@type='Audio']"
    assert wav.xpath(f"string({audio}/*[local-name()='SamplingRate'])") == "44100"
    video = etree.fromstring(by_name["objects/c.mp4"]["FFprobe"].encode())
    assert video.xpath("string(//stream[@codec_type='video']/@codec_name)")
    info = etree.fromstring(by_name["objects/c.mp4"]["MediaInfo"].encode())
    assert info.xpath("count(//*[local-name()='media'])") == 1
    # No path of the processing directory leaks into the record.
    assert "currentlyProcessing" not in by_name["objects/a.png"]["ExifTool"]


def test_a_batch_of_files_shares_one_exiftool_process(package_until):
    files = {f"img{i}.png": media.image("PNG", (8 + i, 8)) for i in range(12)}
    package = package_until(files, "characterize_files")
    widths = sorted(
        int(
            etree.fromstring(
                dict(package.state.characteristics(r.uuid))["ExifTool"].encode()
            ).xpath("string(//*[local-name()='ImageWidth'])")
        )
        for r in package.state.files(group="original")
    )
    assert widths == list(range(8, 20))  # each file got its own description back
    assert batch_tools.BATCH_FILES >= 12


def test_the_aip_mets_embeds_the_tool_output_and_stays_valid(package_until, mets_schema):
    package = package_until(
        {"a.png": media.image("PNG"), "b.mp3": media.audio(".mp3"), "c.mp4": media.video()},
        "generate_aip_mets",
    )
    tree = parse_file(package.mets_path)
    assert mets_schema.validate(tree), mets_schema.error_log
    extensions = tree.xpath("//premis:objectCharacteristicsExtension", namespaces=NS)
    roots = {etree.QName(child).localname for e in extensions for child in e}
    assert {"RDF", "MediaInfo", "ffprobe"} <= roots


def test_characterization_off_in_the_configuration_skips_the_step(package_until):
    import dataclasses

    package = package_until({"a.png": media.image("PNG")}, "validate_files")
    package.config = dataclasses.replace(package.config, characterize=False)
    assert "turns characterization off" in str(run_stage(package, "characterize_files"))


def test_a_control_character_in_an_event_is_refused_not_written_into_the_mets(package_until):
    package = package_until({"a.txt": "alpha"}, "transcribe_files")
    [record] = package.state.files(group="original")
    package.state.record_events([Event(record.uuid, "validation", outcome_note="bell \x07")])
    with pytest.raises(ValueError, match="XML compatible"):
        run_stage(package, "generate_aip_mets")
    assert not package.mets_path.exists()
