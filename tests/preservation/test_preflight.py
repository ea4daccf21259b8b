"""Pre-flight checks: every rule of transfer-packages.md, reported as WRONG and RIGHT."""

import subprocess
import zipfile

import pytest

from preservation.core.settings import Limits
from preservation.intake import preflight
from tests.conftest import ACCESSION_CSV, CATALOGUED_CSV

RIGHTS = "file,basis,status,jurisdiction,note,grant_act,grant_note\n"


def make_zip(path, entries: dict[str, str]):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return path


def failing(report) -> dict[int, list[str]]:
    return {n: c.problems for n, c in enumerate(report.checks, start=1) if c.problems}


def test_a_well_formed_package_passes_every_check(tmp_path):
    package = make_zip(
        tmp_path / "1234.zip",
        {"a.txt": "a", "sub/b.txt": "b", "metadata/metadata.csv": CATALOGUED_CSV},
    )
    report = preflight.check(package, "catalogued", Limits())
    assert report.success and failing(report) == {}
    assert report.identifier == "PP/MDM/A/3/1a"
    text = report.render("2026-11-21T10:00:00+00:00", transfer_id="t-123")
    assert text.startswith("Starting verification of 1234.zip at 2026-11-21T10:00:00+00:00\n")
    assert "Running 7 checks" in text and "== Check 7: The package has content files ==" in text
    assert text.rstrip().splitlines()[-2:] == [
        "Transfer ID: t-123",
        "Finished verification of 1234.zip",
    ]


def test_a_file_that_is_not_a_zip_says_so_plainly(tmp_path):
    package = tmp_path / "1234.zip"
    package.write_bytes(b"this is a Word file renamed to .zip")
    report = preflight.check(package, "catalogued", Limits())
    assert failing(report) == {1: ["Unable to read transfer package: File is not a zip file"]}
    assert all(c.not_run for c in report.checks[1:])
    assert "7 of 7 checks failed" in report.render("now")


@pytest.mark.parametrize(
    "entries, kind, check, words",
    [
        (
            {"box/a.txt": "a", "box/metadata/metadata.csv": CATALOGUED_CSV},
            "catalogued",
            3,
            "everything is inside one folder, box/",
        ),
        (
            {"a.txt": "a", "metadata/metadata.csv": CATALOGUED_CSV, "metadata/.DS_Store": "x"},
            "catalogued",
            4,
            "metadata/.DS_Store is not allowed",
        ),
        ({"a.txt": "a", "metadata/metadata.csv": ACCESSION_CSV}, "catalogued", 5, "metadata"),
        ({"a.txt": "a"}, "catalogued", 5, "metadata/metadata.csv is missing"),
        (
            {
                "a.txt": "a",
                "metadata/metadata.csv": CATALOGUED_CSV,
                "metadata/rights.csv": RIGHTS + "objects/missing.txt,copyright,copyrighted,UK,"
                "In copyright,disseminate,Closed\n",
            },
            "catalogued",
            6,
            "objects/missing.txt",
        ),
        (
            {"metadata/metadata.csv": CATALOGUED_CSV, "Thumbs.db": "x"},
            "catalogued",
            7,
            "no files outside metadata/",
        ),
        (
            {"../evil.txt": "x", "metadata/metadata.csv": CATALOGUED_CSV},
            "catalogued",
            2,
            "evil.txt",
        ),
    ],
)
def test_each_rule_is_reported_with_what_is_wrong_and_what_is_right(
    tmp_path, entries, kind, check, words
):
    report = preflight.check(make_zip(tmp_path / "p.zip", entries), kind, Limits())
    found = failing(report)
    # A package zipped with its folder has no metadata/ at the top either: both are said.
    assert list(found) == ([3, 5] if check == 3 else [check]), found
    assert any(words in p for p in found[check]), found
    text = report.render("now")
    assert f"WRONG: {found[check][0]}" in text
    assert f"RIGHT: {report.checks[check - 1].right}" in text


def test_a_rights_csv_naming_real_files_passes(tmp_path):
    rights = RIGHTS + "objects/sub/a.txt,copyright,copyrighted,UK,In copyright,disseminate,No\n"
    package = make_zip(
        tmp_path / "p.zip",
        {"sub/a.txt": "a", "metadata/rights.csv": rights, "metadata/metadata.csv": CATALOGUED_CSV},
    )
    assert preflight.check(package, "catalogued", Limits()).success


def test_deflate64_packages_are_read_with_7zip(tmp_path):
    source = tmp_path / "src"
    (source / "metadata").mkdir(parents=True)
    # Long enough for 7-Zip to compress it (a tiny file is stored as it is).
    (source / "metadata" / "metadata.csv").write_text(
        "filename,collection_reference,accession_number,dc.title\n"
        f"objects/,SA/TIH,2314_2,{'Papers of a long title ' * 40}\n"
    )
    (source / "a.txt").write_text("a" * 5000)
    archive = tmp_path / "deflate64.zip"
    subprocess.run(
        ["7z", "a", "-tzip", "-mm=Deflate64", "-bd", str(archive), "a.txt", "metadata"],
        cwd=source,
        check=True,
        capture_output=True,
    )
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("metadata/metadata.csv").compress_type == 9
    report = preflight.check(archive, "accession", Limits())
    assert report.success, failing(report)
    assert report.identifier == "2314_2"


def test_the_prefix_chooses_the_kind_and_the_processing_configuration():
    assert preflight.kind_for_key("born-digital/1234.zip") == ("catalogued", "born_digital")
    assert preflight.kind_for_key("born-digital-accessions/1234.zip") == (
        "accession",
        "b_dig_accessions",
    )
    with pytest.raises(ValueError, match="Unable to determine processing config for key x/1.zip"):
        preflight.kind_for_key("x/1.zip")


def test_the_feedback_log_sits_next_to_the_upload_and_a_retry_writes_the_same_key():
    key = preflight.feedback_key("born-digital/1234.zip", True, "20261121T100000Z")
    assert key == "born-digital/1234.zip.success.20261121T100000Z.log"
    assert preflight.feedback_key("born-digital/1234.zip", False, "20261121T100000Z").endswith(
        ".failed.20261121T100000Z.log"
    )
