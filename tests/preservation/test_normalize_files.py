"""Normalize: real tools on small generated files; derivatives identified, described in
the METS with their events and relationships, and the METS valid against the schema."""

from __future__ import annotations

import csv
import dataclasses
import io
import subprocess

import pygfried
import pytest

from preservation.core import problems
from preservation.core.package import Package
from preservation.core.safe_xml import parse_file
from preservation.metadata import mets
from preservation.services import normalize_files
from tests import media
from tests.conftest import CATALOGUED_CSV, run_stage

NS = {"mets": mets.METS_NS, "premis": mets.PREMIS_NS}
PDFA = {"fmt/95", "fmt/354", "fmt/476", "fmt/477", "fmt/478"}


def puid(path) -> str:
    report = pygfried.identify_many([str(path)], workers=1)
    return report["files"][0]["matches"][0]["id"]


def derivative(package: Package, original: str, purpose: str = "preservation"):
    [source] = [r for r in package.state.files() if r.path == f"objects/{original}"]
    rows = package.state.derivatives(purpose=purpose, source=source.uuid)
    return source, (rows[0] if rows else None)


def report(package: Package) -> list[dict]:
    with open(package.logs_dir() / normalize_files.REPORT, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def mixed():
    return {
        "img.png": media.image("PNG"),
        "photo.jpg": media.image("JPEG"),
        "anim.gif": media.image("GIF"),
        "scan.bmp": media.image("BMP"),
        "master.tif": media.image("TIFF"),
        "tone.wav": media.wav(),
        "tone.mp3": media.audio(".mp3"),
        "tone.flac": media.audio(".flac"),
        "clip.mp4": media.video(".mp4"),
        "clip.avi": media.video(".avi"),
        "doc.pdf": media.pdf(),
        "letter.docx": media.office_document(),
        "notes.txt": "plain text is kept as it is\n",
    }


@pytest.fixture(scope="module")
def normalized(tmp_path_factory, clamav_database, mixed):
    """One transfer of every kind of file, normalized once for the module's tests."""
    from preservation.core import processing_config
    from preservation.core.package import PackageRef
    from preservation.core.settings import load_settings
    from preservation.pipeline import TRANSFER_INGEST

    folder = tmp_path_factory.mktemp("normalized")
    source = folder / "mixed"
    for name, content in {**mixed, "metadata/metadata.csv": CATALOGUED_CSV}.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PRESERVATION_HOME", str(folder / "home"))
        env.setenv("CLAMAV_DATABASE", str(clamav_database))
        env.setenv("CLAMD_SOCKET", str(folder / "no-clamd.sock"))
        ref = PackageRef.for_run(str(source), "test/normalized")
        package = Package(ref, load_settings(), processing_config.load("default"), "tester")
        for service in TRANSFER_INGEST[: TRANSFER_INGEST.index("normalize_files") + 1]:
            run_stage(package, service, source)
        yield package
        package.close()


@pytest.mark.parametrize(
    "original, expected",
    [
        ("img.png", {"fmt/353"}),
        ("photo.jpg", {"fmt/353"}),
        ("anim.gif", {"fmt/353"}),
        ("scan.bmp", {"fmt/353"}),
        ("tone.mp3", {"fmt/141", "fmt/142", "fmt/143"}),
        ("tone.flac", {"fmt/141", "fmt/142", "fmt/143"}),
        ("clip.mp4", {"fmt/569"}),
        ("clip.avi", {"fmt/569"}),
        ("doc.pdf", PDFA),
        ("letter.docx", PDFA),
    ],
)
def test_preservation_copies_are_made_beside_the_original_in_the_preservation_format(
    normalized, original, expected
):
    source, link = derivative(normalized, original)
    assert link is not None, report(normalized)
    path = normalized.sip_data / link["path"]
    stem = original.rsplit(".", 1)[0]
    assert path.name == f"{stem}-{link['derivative']}{path.suffix}"
    assert path.parent == (normalized.sip_data / source.path).parent
    assert puid(path) in expected
    [record] = normalized.state.files_by_uuid([link["derivative"]])
    assert record.file_group == "preservation"
    assert record.puid in expected  # identified by the pipeline itself
    assert record.sha256 and record.size == path.stat().st_size
    assert (normalized.sip_data / source.path).is_file()  # the original is kept


@pytest.mark.parametrize(
    "original, expected",
    [
        ("img.png", {"fmt/43", "fmt/44"}),
        ("master.tif", {"fmt/43", "fmt/44"}),
        ("tone.wav", {"fmt/134"}),
        ("clip.avi", {"fmt/199"}),
        ("doc.pdf", {"fmt/276"}),
        ("letter.docx", {"fmt/276", "fmt/18", "fmt/19", "fmt/20"} | PDFA),
        ("notes.txt", {"x-fmt/111"}),
    ],
)
def test_access_copies_go_to_the_dip_named_by_the_original_uuid(normalized, original, expected):
    source, link = derivative(normalized, original, "access")
    path = normalized.dip_dir / link["path"]
    assert path.name.startswith(f"{source.uuid}-{original.rsplit('.', 1)[0]}.")
    assert puid(path) in expected


def test_thumbnails_are_jpegs_named_by_the_file_uuid(normalized):
    for name in ("img.png", "clip.mp4", "doc.pdf"):
        source, _ = derivative(normalized, name, "thumbnail")
        thumbnail = normalized.sip_data / "thumbnails" / f"{source.uuid}.jpg"
        assert puid(thumbnail) in {"fmt/43", "fmt/44"}
        from PIL import Image

        with Image.open(thumbnail) as image:
            assert max(image.size) <= 100


def test_preservation_formats_are_kept_and_reported_not_copied(normalized):
    rows = {(r["path"], r["purpose"]): r for r in report(normalized)}
    for name in ("master.tif", "tone.wav", "notes.txt"):
        row = rows[(f"objects/{name}", "preservation")]
        assert row["outcome"] == "already preservation format"
        assert derivative(normalized, name)[1] is None


def test_the_aip_mets_links_original_and_copy_both_ways_and_validates(normalized, mets_schema):
    run_stage(normalized, "generate_aip_mets")
    tree = parse_file(normalized.mets_path)
    assert mets_schema.validate(tree), mets_schema.error_log
    source, link = derivative(normalized, "img.png")

    def premis_object(uuid):
        [obj] = tree.xpath(
            "//premis:object[premis:objectIdentifier/premis:objectIdentifierValue=$u]",
            namespaces=NS,
            u=uuid,
        )
        return obj

    def events(uuid):
        amd = premis_object(uuid).getparent().getparent().getparent().getparent()
        return {
            e.findtext("premis:eventType", namespaces=NS): e
            for e in amd.iterfind(".//premis:event", NS)
        }

    original_events, copy_events = events(source.uuid), events(link["derivative"])
    normalization = original_events["normalization"]
    assert normalization.findtext(".//premis:eventOutcome", namespaces=NS) == "success"
    assert "Pillow" in normalization.findtext(".//premis:eventDetail", namespaces=NS)
    assert {
        "creation",
        "message digest calculation",
        "format identification",
        "validation",
    } <= copy_events.keys()
    event_id = normalization.findtext(".//premis:eventIdentifierValue", namespaces=NS)
    for uuid, other, subtype in (
        (source.uuid, link["derivative"], "is source of"),
        (link["derivative"], source.uuid, "has source"),
    ):
        [relation] = premis_object(uuid).xpath(
            "premis:relationship[premis:relationshipType='derivation']", namespaces=NS
        )
        assert relation.findtext("premis:relationshipSubType", namespaces=NS) == subtype
        assert relation.findtext(".//premis:relatedObjectIdentifierValue", namespaces=NS) == other
        assert relation.findtext(".//premis:relatedEventIdentifierValue", namespaces=NS) == event_id
    [entry] = tree.xpath(
        "//mets:fileGrp[@USE='preservation']/mets:file[@ID=$i]",
        namespaces=NS,
        i=f"file-{link['derivative']}",
    )
    assert entry.get("GROUPID") == f"Group-{source.uuid}"


def test_a_corrupt_file_fails_validation_and_normalization_and_still_becomes_an_aip(
    package_until, run_until, mets_schema
):
    files = {
        "broken.png": media.truncated(media.image("PNG", (300, 200))),
        "broken.pdf": media.BROKEN_PDF,
        "good.png": media.image("PNG"),
    }
    package = package_until(files, "store_aip", config="automated")
    for name in ("broken.png", "broken.pdf"):
        [record] = [r for r in package.state.files() if r.path == f"objects/{name}"]
        events = {e.event_type: e for e in package.state.events(record.uuid)}
        assert events["validation"].outcome == "fail"
        assert events["validation"].outcome_note  # the tool's message
        assert events["normalization"].outcome == "failure"
        assert events["normalization"].outcome_note
        assert derivative(package, name)[1] is None
    stored = package.settings.aip_store.rglob(f"*{package.ref.aip_uuid}/data/objects/broken.png")
    assert len(list(stored)) == 1
    tree = parse_file(package.mets_path)
    assert mets_schema.validate(tree), mets_schema.error_log


def test_manually_normalized_files_are_used_instead_of_a_tool(package_until):
    files = {
        "scan.png": media.image("PNG"),
        "manualNormalization/preservation/scan.tif": media.image("TIFF", (10, 10)),
        "manualNormalization/access/scan.jpg": media.image("JPEG", (10, 10)),
    }
    package = package_until(files, "normalize_files", config="default")
    source, link = derivative(package, "scan.png")
    rows = {r["purpose"]: r for r in report(package) if r["path"] == "objects/scan.png"}
    assert rows["preservation"]["outcome"] == rows["access"]["outcome"] == "manual"
    kept = package.sip_data / link["path"]
    assert kept.read_bytes() == media.image("TIFF", (10, 10))
    access = package.dip_dir / derivative(package, "scan.png", "access")[1]["path"]
    assert access.read_bytes() == media.image("JPEG", (10, 10))
    assert not (package.sip_data / "objects/manualNormalization").exists()
    [event] = [e for e in package.state.events(source.uuid) if e.event_type == "normalization"]
    assert "manual normalization" in event.detail


@pytest.mark.parametrize(
    "setting, preservation, access",
    [("preservation", True, False), ("access", False, True), ("none", False, False)],
)
def test_the_processing_configuration_chooses_what_is_made(
    package_until, new_package, make_transfer, run_until, setting, preservation, access
):
    source = make_transfer({"img.png": media.image("PNG")})
    package = new_package(source, "automated")
    package.config = dataclasses.replace(package.config, normalize=setting, thumbnails=False)
    run_until(package, source, "normalize_files")
    made = {row["purpose"] for row in package.state.derivatives()}
    assert ("preservation" in made) is preservation
    assert ("access" in made) is access


def test_a_missing_tool_is_reported_never_silent(package_until, tmp_path, monkeypatch):
    rules = tmp_path / "fpr.toml"
    rules.write_text('[tools.libreoffice]\nexecutable = "soffice-not-installed"\n')
    monkeypatch.setenv("PRESERVATION_FPR", str(rules))
    package = package_until({"letter.docx": media.office_document()}, "normalize_files")
    row = next(r for r in report(package) if r["purpose"] == "preservation")
    assert row["outcome"] == "tool missing"
    assert "apt-get install libreoffice" in row["message"]


def test_a_hung_tool_is_stopped_and_fails_only_its_file(package_until, tmp_path, monkeypatch):
    rules = tmp_path / "fpr.toml"
    rules.write_text(
        '[tools.slow]\nname = "Slow"\nexecutable = "sh"\n'
        '[commands.slow-tiff]\ntool = "slow"\npurpose = "preservation"\nextension = "tif"\n'
        'argv = ["sh", "-c", "sleep 30", "{input}"]\n'
        '[formats."fmt/11"]\npreservation = "slow-tiff"\n'
    )
    monkeypatch.setenv("PRESERVATION_FPR", str(rules))
    monkeypatch.setenv("PRESERVATION_TOOL_TIMEOUT", "1")
    files = {"a.png": media.image("PNG"), "b.jpg": media.image("JPEG")}
    package = package_until(files, "normalize_files")
    rows = {(r["path"], r["purpose"]): r for r in report(package)}
    assert rows[("objects/a.png", "preservation")]["outcome"] == "failed"
    assert "did not finish within 1 s" in rows[("objects/a.png", "preservation")]["message"]
    assert rows[("objects/b.jpg", "preservation")]["outcome"] == "normalized"


def test_normalizing_again_makes_nothing_twice(normalized):
    files, events = len(normalized.state.files()), len(normalized.state.events())
    derivatives = len(normalized.state.derivatives())
    result = normalize_files.run(normalized)
    assert result.preservation_copies == result.access_copies == 0
    assert len(normalized.state.files()) == files
    assert len(normalized.state.events()) == events
    assert len(normalized.state.derivatives()) == derivatives


def png_saying(note: str) -> bytes:
    """A PNG whose bytes carry ``note`` (in a text chunk)."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("note", note)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (20, 40, 60)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "ending, calls_made, logged",
    [
        (
            "exit 0",
            ["4", "1"],
            "Copier (copy-many): one call on 4 files left 1 without output; those are run alone",
        ),
        (
            '[ "$#" -eq 1 ]',
            ["4", "1", "1", "1", "1"],
            "Copier (copy-many): one call on 4 files failed, so each is run alone: sh failed "
            "(exit code 1): cannot read",
        ),
    ],
    ids=["the call succeeds", "the call fails as a whole"],
)
def test_a_tool_that_takes_many_inputs_gets_them_in_one_call_and_each_copy_is_its_own(
    package_until, tmp_path, monkeypatch, caplog, ending, calls_made, logged
):
    calls = tmp_path / "calls.log"
    rules = tmp_path / "fpr.toml"
    # A tool as LibreOffice behaves: many inputs, each output named by its input's stem;
    # an input it cannot read is skipped with a message and the others go on. The call
    # then exits 0, or (the second case) fails whenever it had more than one input.
    script = (
        f'echo "$#" >> {calls}; for f; do '
        'if grep -q refuse "$f"; then echo "cannot read $(basename "$f")" >&2; continue; fi; '
        f'n=$(basename "$f"); cp "$f" "{{work_dir}}/${{n%.*}}.tif"; done; {ending}'
    )
    rules.write_text(
        '[tools.copier]\nname = "Copier"\nexecutable = "sh"\n'
        '[commands.copy-many]\ntool = "copier"\npurpose = "preservation"\nextension = "tif"\n'
        f"argv = ['sh', '-c', '{script}', 'sh', '{{input}}']\n"
        'output = "{work_dir}/{stem}.tif"\ninputs_per_call = 16\n'
        '[formats."fmt/11"]\npreservation = "copy-many"\n'
    )
    monkeypatch.setenv("PRESERVATION_FPR", str(rules))
    monkeypatch.setenv("PRESERVATION_WORKERS", "1")
    files = {f"{name}.png": png_saying(name) for name in ("a", "b", "c")}
    files["bad.png"] = png_saying("refuse")
    with caplog.at_level("INFO", logger="preservation.tools.format_tools"):
        package = package_until(files, "normalize_files")

    # One call for the four, then alone each file the call left without a copy; the
    # operator's log says that the call fell back (and the tool's message when it failed).
    assert calls.read_text().split() == calls_made
    assert logged in caplog.text
    rows = {r["path"]: r for r in report(package) if r["purpose"] == "preservation"}
    assert rows["objects/bad.png"]["outcome"] == "failed"
    assert "cannot read bad.png" in rows["objects/bad.png"]["message"]
    for name in ("a", "b", "c"):
        assert rows[f"objects/{name}.png"]["outcome"] == "normalized"
        _, link = derivative(package, f"{name}.png")
        assert (package.sip_data / link["path"]).read_bytes() == files[f"{name}.png"]


def test_documents_converted_together_by_libreoffice_each_keep_their_own_text(
    package_until, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_WORKERS", "1")  # the three in one LibreOffice call
    texts = {f"{name}.docx": f"This is the {name} letter." for name in ("first", "second", "third")}
    files = {name: media.office_document(text) for name, text in texts.items()}
    package = package_until(files, "normalize_files")
    for name, text in texts.items():
        _, link = derivative(package, name)
        copy = package.sip_data / link["path"]
        assert puid(copy) in PDFA
        words = subprocess.run(
            ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=txtwrite", "-o", "-", copy],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert text in " ".join(words.split())


def test_a_preservation_copy_that_fails_validation_is_named_for_the_task_log(
    package_until, tmp_path, monkeypatch
):
    rules = tmp_path / "fpr.toml"
    # A tool that writes a broken copy: the first 100 bytes of the PNG, as a PNG.
    rules.write_text(
        '[tools.cutter]\nname = "Cutter"\nexecutable = "sh"\n'
        '[commands.cut-png]\ntool = "cutter"\npurpose = "preservation"\nextension = "png"\n'
        """argv = ["sh", "-c", 'head -c 100 "$0" > "$1"', "{input}", "{output}"]\n"""
        '[formats."fmt/11"]\npreservation = "cut-png"\n'
    )
    monkeypatch.setenv("PRESERVATION_FPR", str(rules))
    package = package_until({"scan.png": media.image("PNG", (300, 200))}, "create_sip")
    result = normalize_files.run(package)

    _, link = derivative(package, "scan.png")
    assert result.preservation_copies == 1 and result.failed == 0
    assert result.copies_invalid.report()[0] == (
        "1 preservation copy(ies) failed validation (kept in the AIP):"
    )
    [line] = result.copies_invalid.sample
    assert line.startswith(f"{link['path']}: ")
    assert "copies_invalid" not in problems.summary(result)
