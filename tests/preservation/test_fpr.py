"""The format policy registry: shipped defaults per PRONOM id, operator overrides as data."""

import pytest

from preservation.core.errors import ConfigurationInvalid
from preservation.tools import format_tools, fpr


@pytest.mark.parametrize(
    "puid, preservation, access, thumbnail",
    [
        ("fmt/11", "image-to-tiff", "image-to-jpeg", "image-thumbnail"),  # PNG
        ("fmt/43", "image-to-tiff", "image-to-jpeg", "image-thumbnail"),  # JPEG
        ("fmt/4", "image-to-tiff", "image-to-jpeg", "image-thumbnail"),  # GIF
        ("fmt/116", "image-to-tiff", "image-to-jpeg", "image-thumbnail"),  # BMP
        ("fmt/353", None, "image-to-jpeg", "image-thumbnail"),  # TIFF
        ("fmt/134", "audio-to-wav", "audio-to-mp3", None),  # MP3
        ("fmt/279", "audio-to-wav", "audio-to-mp3", None),  # FLAC
        ("x-fmt/135", "audio-to-wav", "audio-to-mp3", None),  # AIFF
        ("fmt/141", None, "audio-to-mp3", None),  # WAV
        ("fmt/199", "video-to-mkv", "video-to-mp4", "video-thumbnail"),  # MP4
        ("x-fmt/384", "video-to-mkv", "video-to-mp4", "video-thumbnail"),  # MOV
        ("fmt/5", "video-to-mkv", "video-to-mp4", "video-thumbnail"),  # AVI
        ("fmt/569", None, "video-to-mp4", "video-thumbnail"),  # MKV
        ("fmt/276", "pdf-to-pdfa", "copy-for-access", "pdf-thumbnail"),  # PDF 1.7
        ("fmt/412", "document-to-pdfa", "document-to-pdf", None),  # DOCX
        ("x-fmt/111", None, "copy-for-access", None),  # plain text
        ("x-fmt/18", None, "copy-for-access", None),  # CSV
        ("fmt/101", None, "copy-for-access", None),  # XML
    ],
)
def test_the_shipped_registry_covers_the_common_formats(puid, preservation, access, thumbnail):
    rules = fpr.load(()).rules(puid)
    assert (rules.preservation.key if rules.preservation else None) == preservation
    assert (rules.access.key if rules.access else None) == access
    assert (rules.thumbnail.key if rules.thumbnail else None) == thumbnail


def test_formats_already_fit_for_preservation_say_so():
    registry = fpr.load(())
    for puid in ("fmt/353", "fmt/141", "x-fmt/111", "fmt/101", "fmt/477"):
        assert registry.rules(puid).preservation_format


def test_every_shipped_tool_is_installed_and_names_its_version():
    registry = fpr.load(())
    for tool in registry.tools.values():
        assert format_tools.available(tool), format_tools.missing_message(tool)
        assert format_tools.version(tool) not in ("unknown", "not installed"), tool.name


def test_an_unidentified_file_gets_the_rules_of_its_extension():
    registry = fpr.load(())
    assert registry.rules_for("UNKNOWN", "objects/scan.PNG").puid == "fmt/13"
    assert registry.rules_for("UNKNOWN", "objects/no-extension") is None
    assert registry.rules_for("fmt/43", "objects/misnamed.png").puid == "fmt/43"


def test_operators_override_and_add_rules_in_their_own_file(tmp_path):
    extra = tmp_path / "local.toml"
    extra.write_text(
        '[formats."fmt/43"]\npreservation = ""\n'
        '[formats."fmt/999999"]\nname = "Local image"\ncategory = "raster-image"\n'
    )
    registry = fpr.load((str(extra),))
    assert registry.rules("fmt/43").preservation is None
    assert registry.rules("fmt/43").access.key == "image-to-jpeg"  # the rest is kept
    assert registry.rules("fmt/999999").preservation.key == "image-to-tiff"
    assert str(extra) in registry.sources


def test_an_override_written_before_the_library_was_laid_out_by_role_still_runs(tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    extra = tmp_path / "old.toml"
    extra.write_text(
        '[commands.old-pillow-verify]\ntool = "pillow"\npurpose = "validation"\n'
        'function = "preservation.builtin_tools:validate_image"\n'
        '[formats."fmt/11"]\nvalidate = "old-pillow-verify"\n'
    )
    command = fpr.load((str(extra),)).rules("fmt/11").validate
    assert command.function == "preservation.tools.builtin_tools:validate_image"
    assert format_tools.run(command, tmp_path / "good.png", None, timeout=30).ok
    assert format_tools.run(command, tmp_path / "broken.png", None, timeout=30).ok is False


def test_the_environment_names_the_operator_files(tmp_path, monkeypatch):
    extra = tmp_path / "local.toml"
    extra.write_text('[formats."fmt/11"]\nthumbnail = ""\n')
    monkeypatch.setenv("PRESERVATION_FPR", str(extra))
    assert fpr.load().rules("fmt/11").thumbnail is None


def test_a_broken_override_lists_every_problem(tmp_path):
    extra = tmp_path / "bad.toml"
    extra.write_text(
        '[formats."fmt/11"]\npreservation = "no-such-command"\nthumnail = "typo"\n'
        '[commands.x]\ntool = "nobody"\npurpose = "preservation"\n'
    )
    with pytest.raises(ConfigurationInvalid) as error:
        fpr.load((str(extra),))
    text = str(error.value)
    assert "no-such-command" in text and "thumnail" in text and "nobody" in text


@pytest.mark.parametrize(
    "setting, argv, output, problem",
    [
        ("0", '"{input}"', "{work_dir}/{stem}.pdf", "must be a whole number"),
        ("true", '"{input}"', "{work_dir}/{stem}.pdf", "must be a whole number"),
        ('"many"', '"{input}"', "{work_dir}/{stem}.pdf", "must be a whole number"),
        ("8", '"{input}"', "{output}", "needs an argv with {input} once"),
        ("8", '"{input}"', "{stem}.pdf", "needs an argv with {input} once"),
        (
            "8",
            '"{input}", "-o", "{output}"',
            "{work_dir}/{stem}.pdf",
            "needs an argv with {input} once",
        ),
        (
            "8",
            '"{input}", "--log={input}.log"',
            "{work_dir}/{stem}.pdf",
            "needs an argv with {input} once",
        ),
    ],
)
def test_a_command_given_several_inputs_must_name_its_outputs_by_their_stems(
    tmp_path, setting, argv, output, problem
):
    extra = tmp_path / "bad.toml"
    extra.write_text(
        '[commands.many]\ntool = "libreoffice"\npurpose = "access"\nextension = "pdf"\n'
        f'argv = ["soffice", {argv}]\noutput = "{output}"\ninputs_per_call = {setting}\n'
    )
    with pytest.raises(ConfigurationInvalid) as error:
        fpr.load((str(extra),))
    assert f"command 'many': inputs_per_call {problem}" in str(error.value)


def test_the_shipped_libreoffice_commands_take_many_documents_per_call():
    registry = fpr.load(())
    for key in ("document-to-pdfa", "spreadsheet-to-pdfa", "document-to-pdf"):
        assert registry.commands[key].inputs_per_call > 1


def test_an_unreadable_override_names_the_file(tmp_path):
    extra = tmp_path / "bad.toml"
    extra.write_text("[formats\n")
    with pytest.raises(ConfigurationInvalid, match="bad.toml"):
        fpr.load((str(extra),))
