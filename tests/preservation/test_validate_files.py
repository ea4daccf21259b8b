"""Validation: a validation event per file whose format has a validator."""

import dataclasses
from pathlib import Path

import pytest

from preservation.core.errors import ValidationFailed
from preservation.services import validate_files
from preservation.tools import batch_tools
from tests import media
from tests.conftest import run_stage


def events_by_name(package):
    return {
        r.path.removeprefix("objects/"): {e.event_type: e for e in package.state.events(r.uuid)}
        for r in package.state.files(group="original")
    }


def test_valid_files_pass_with_the_tool_and_its_version(package_until):
    files = {
        "a.png": media.image("PNG"),
        "b.pdf": media.pdf(),
        "c.wav": media.wav(),
        "d.xml": "<root/>",
        "e.mkv": media.video(".mkv"),
    }
    package = package_until(files, "validate_files")
    found = events_by_name(package)
    tools = {
        "a.png": "Pillow",
        "b.pdf": "pikepdf",
        "c.wav": "Python wave",  # PCM WAVE: read in-process, no FFmpeg per file
        "d.xml": "lxml",
        "e.mkv": "MediaConch",
    }
    for name, tool in tools.items():
        event = found[name]["validation"]
        assert event.outcome == "pass", event.outcome_note
        assert f'program="{tool}"' in event.detail and 'version="' in event.detail


def test_damaged_files_fail_with_the_tools_message(package_until):
    files = {
        "a.png": media.truncated(media.image("PNG", (300, 200))),
        "b.pdf": media.BROKEN_PDF,
        "c.xml": "<root><unclosed></root>",
        "d.mp4": media.truncated(media.video(".mp4")),
        "e.wav": media.truncated(media.wav()),
    }
    package = package_until(files, "validate_files")
    found = events_by_name(package)
    for name in files:
        event = found[name]["validation"]
        assert event.outcome == "fail", name
        assert event.outcome_note and "/currentlyProcessing/" not in event.outcome_note


def test_the_files_that_failed_are_named_for_the_task_log_and_only_counted_in_the_xcom(
    package_until, monkeypatch
):
    from preservation.core import problems

    monkeypatch.setattr(problems, "SAMPLE", 2)
    files = {
        "good.png": media.image("PNG"),
        "bad.xml": "<root><unclosed></root>",
        "worse.xml": "<root>",
        "worst.xml": "<",
    }
    package = package_until(files, "characterize_files")
    result = run_stage(package, "validate_files")
    report = [problems.found_in(result)[0].report()]
    assert report == [
        [
            "3 file(s) failed validation (kept in the AIP):",
            f"  objects/bad.xml: {validation_note(package, 'bad.xml')}",
            f"  objects/worse.xml: {validation_note(package, 'worse.xml')}",
            "  ... and 1 more: see logs/validation.log",
        ]
    ]
    assert problems.summary(result) == {"files": 4, "passed": 1, "failed": 3, "not_validated": 0}


def validation_note(package, name: str) -> str:
    return " ".join(events_by_name(package)[name]["validation"].outcome_note.split())


def test_a_wave_file_not_in_pcm_is_decoded_by_ffmpeg_and_a_damaged_one_fails(package_until):
    float_wav = media.float_wav()
    # The format chunk survives, the data chunk does not: FFmpeg finds no data.
    damaged = float_wav[:60] + b"\xff" * 200
    package = package_until({"f.wav": float_wav, "g.wav": damaged}, "validate_files")
    found = events_by_name(package)

    good, bad = found["f.wav"]["validation"], found["g.wav"]["validation"]
    assert good.outcome == "pass", good.outcome_note
    assert "decoded by FFmpeg" in good.outcome_note
    assert bad.outcome == "fail"
    assert "no 'data' tag" in bad.outcome_note and "/currentlyProcessing/" not in bad.outcome_note


def test_a_24_bit_wave_file_is_read_frame_by_frame_and_a_truncated_one_fails(package_until):
    whole = media.wav_24_bit()
    files = {"master.wav": whole, "cut.wav": whole[: len(whole) // 2]}
    found = events_by_name(package_until(files, "validate_files"))

    good, bad = found["master.wav"]["validation"], found["cut.wav"]["validation"]
    assert good.outcome == "pass", good.outcome_note
    assert "PCM WAVE, 1 channel(s), 24-bit" in good.outcome_note
    assert "every frame read" in good.outcome_note
    assert bad.outcome == "fail"
    assert "truncated WAVE file" in bad.outcome_note


def test_audio_and_video_decoded_together_still_get_a_verdict_each(package_until):
    # FFmpeg decodes small files in batches: one damaged file among them fails alone,
    # with FFmpeg's message about it, and the others pass.
    files = {f"ok{i}.mp3": media.audio(".mp3") for i in range(3)}
    files |= {f"ok{i}.mp4": media.video(".mp4") for i in range(3)}
    files["damaged.mp4"] = media.truncated(media.video(".mp4"))
    package = package_until(files, "validate_files")
    found = events_by_name(package)

    verdicts = {name: found[name]["validation"].outcome for name in files}
    assert verdicts == {name: "fail" if name == "damaged.mp4" else "pass" for name in files}
    damaged = found["damaged.mp4"]["validation"]
    assert "damaged.mp4" in damaged.outcome_note and "moov atom not found" in damaged.outcome_note
    assert "/currentlyProcessing/" not in damaged.outcome_note
    assert 'program="FFmpeg"' in damaged.detail and 'command="ffmpeg-decode"' in damaged.detail


def test_ffmpeg_decoding_files_together_gives_each_the_verdict_it_gets_alone(tmp_path):
    # Both fail alone: one has no audio or video to decode (FFmpeg would fill its output
    # from another input in a batch), the other decodes with errors half-way.
    files = {
        "good.mp3": media.audio(".mp3"),
        "subtitles.mp4": media.subtitles_only_mp4(),
        "good.mp4": media.video(".mp4"),
        "damaged.mp3": media.damaged_in_the_middle(media.audio(".mp3", seconds=3)),
        "good.avi": media.video(".avi"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    found = batch_tools.ffmpeg_decode([tmp_path / name for name in files], timeout=60)

    verdicts = {Path(path).name: result.ok for path, result in found.items()}
    assert verdicts == {name: name.startswith("good") for name in files}
    assert "does not contain any stream" in found[str(tmp_path / "subtitles.mp4")].message
    assert "Error while decoding" in found[str(tmp_path / "damaged.mp3")].message
    assert str(tmp_path) not in found[str(tmp_path / "damaged.mp3")].message


def test_formats_without_a_validator_get_no_event(package_until):
    package = package_until({"notes.txt": "hello"}, "validate_files")
    assert "validation" not in events_by_name(package)["notes.txt"]


def test_failures_reject_the_transfer_only_when_the_configuration_says_so(
    make_transfer, new_package, run_until
):
    source = make_transfer(
        {
            "a.png": media.truncated(media.image("PNG", (300, 200))),
            "b.pdf": media.BROKEN_PDF,
            "ok.png": media.image("PNG"),
        }
    )
    package = new_package(source)
    package.config = dataclasses.replace(package.config, fail_on_invalid=True)
    run_until(package, source, "characterize_files")
    with pytest.raises(ValidationFailed) as verdict:
        validate_files.run(package)
    assert "2 file(s) failed validation" in str(verdict.value)
    assert "objects/a.png" in str(verdict.value) and "objects/b.pdf" in str(verdict.value)
    # The events are recorded before the verdict, for the archivist to read.
    assert events_by_name(package)["ok.png"]["validation"].outcome == "pass"


def test_matroska_files_are_checked_by_mediaconch_in_batches(package_until):
    files = {f"ok{i}.mkv": media.video(".mkv") for i in range(3)}
    files["bad.mkv"] = media.truncated(media.video(".mkv"))
    package = package_until(files, "validate_files")
    found = events_by_name(package)
    assert [found[f"ok{i}.mkv"]["validation"].outcome for i in range(3)] == ["pass"] * 3
    bad = found["bad.mkv"]["validation"]
    assert bad.outcome == "fail" and "/Segment[1]" in bad.outcome_note  # where it broke
    assert 'program="MediaConch"' in bad.detail
