"""Real and hostile packages, family by family: what an archivist with a Windows share, a
Mac, a CD-ROM image or an attacker sends. Each ends with a verdict naming what is wrong,
or a complete AIP whose files are the bytes sent, each with its exact received name as
PREMIS originalName. Pre-flight says what ingest will say."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from preservation.core.errors import PackageRejected, TransferInvalid, UnsafeArchive
from preservation.core.names import escape, unescape
from preservation.core.settings import Limits
from preservation.intake import preflight
from preservation.metadata import bag
from tests.conftest import CATALOGUED_CSV
from tests.media import image, raw_zip, unicode_path_extra, zip_bytes

NS = {"mets": "http://www.loc.gov/METS/", "premis": "http://www.loc.gov/premis/v3"}
METADATA = {"name": b"metadata/metadata.csv", "data": CATALOGUED_CSV.encode()}
UTF8 = 0x800


def package_file(tmp_path: Path, body: bytes, name: str = "package.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(body)
    return path


@pytest.fixture
def ingest(new_package, run_until):
    """``ingest(source, last="prepare_aip")``: the micro-services in the DAG's order."""

    def run(source: Path, last: str = "prepare_aip", config: str = "automated"):
        package = new_package(source, config)
        run_until(package, source, last)
        return package

    return run


def verdict_of(ingest, source: Path) -> PackageRejected:
    with pytest.raises(PackageRejected) as refused:
        ingest(source, "verify_transfer_compliance")
    return refused.value


def aip_files(package) -> dict[str, bytes]:
    """The original files in the AIP (the bag's data/objects, derivatives left out)."""
    objects = package.sip_data / "objects"
    return {
        p.relative_to(objects).as_posix(): p.read_bytes()
        for p in objects.rglob("*")
        if p.is_file()
        and p.relative_to(objects).parts[0] not in ("metadata", "submissionDocumentation")
    }


def original_names(package) -> dict[str, str]:
    """originalName of each original file in the METS, by its name in the AIP."""
    mets = etree.parse(str(package.mets_path))
    found = {}
    for file_ in mets.iterfind(".//mets:fileGrp[@USE='original']/mets:file", NS):
        href = file_.find("mets:FLocat", NS).get("{http://www.w3.org/1999/xlink}href")
        amd = file_.get("ADMID")
        name = mets.find(f".//mets:amdSec[@ID='{amd}']//premis:object/premis:originalName", NS).text
        found[href.removeprefix("objects/")] = name.removeprefix("%transferDirectory%objects/")
    return found


def preflight_accepts(source: Path) -> bool:
    return preflight.check(source, "catalogued", Limits()).success


# -- file names -----------------------------------------------------------------------------
def test_a_windows_zip_with_cp437_names_keeps_every_name_and_byte(tmp_path, home, ingest):
    source = package_file(
        tmp_path,
        raw_zip(
            [
                {"name": "Résumé é.txt".encode("cp437"), "data": b"cv", "system": 0},
                {"name": "Ärger\\Brief ö.txt".encode("cp437"), "data": b"letter", "system": 0},
                METADATA,
            ]
        ),
    )
    assert preflight_accepts(source)
    package = ingest(source)
    assert aip_files(package) == {"Resume_e.txt": b"cv", "Arger/Brief_o.txt": b"letter"}
    assert original_names(package) == {
        "Resume_e.txt": "Résumé é.txt",
        "Arger/Brief_o.txt": "Ärger/Brief ö.txt",
    }


def test_utf8_names_are_read_as_utf8_flagged_or_from_a_mac_or_from_the_unicode_extra_field(
    tmp_path, home, ingest
):
    legacy = "Caf? menu.txt".encode("cp437")
    source = package_file(
        tmp_path,
        raw_zip(
            [
                {"name": "日本語.txt".encode(), "data": b"flagged", "flags": UTF8},
                {"name": "Ünïcödé.txt".encode(), "data": b"mac"},  # UTF-8, no flag
                {
                    "name": legacy,
                    "data": b"extra",
                    "extra": unicode_path_extra(legacy, "Café menu.txt"),
                },
                METADATA,
            ]
        ),
    )
    package = ingest(source)
    assert set(original_names(package).values()) == {"日本語.txt", "Ünïcödé.txt", "Café menu.txt"}
    assert aip_files(package)["Cafe_menu.txt"] == b"extra"


def test_bytes_that_are_not_utf8_are_kept_escaped_and_recoverable(tmp_path, home, ingest):
    source = package_file(
        tmp_path, raw_zip([{"name": b"caf\xe9 \\.txt", "data": b"x", "flags": UTF8}, METADATA])
    )
    assert preflight_accepts(source)
    package = ingest(source)
    [(aip_name, original)] = original_names(package).items()
    assert original == "caf\\xe9 \\\\.txt"
    assert unescape(original).encode("utf-8", "surrogateescape") == b"caf\xe9 \\.txt"
    assert aip_files(package) == {aip_name: b"x"}


def test_a_line_break_in_a_name_is_scanned_stored_and_named_on_one_line(tmp_path, home, ingest):
    source = package_file(
        tmp_path,
        raw_zip(
            [
                {"name": b"line\nbreak.txt", "data": b"one"},
                {"name": b"tab\tand\rreturn.txt", "data": b"two"},
                METADATA,
            ]
        ),
    )
    package = ingest(source)
    assert sorted(original_names(package).values()) == [
        "line\\nbreak.txt",
        "tab\\tand\\rreturn.txt",
    ]
    assert aip_files(package) == {"line_break.txt": b"one", "tab_and_return.txt": b"two"}
    objects = [
        r
        for r in package.state.files(group="original", under="objects/")
        if r.path.endswith(".txt")
    ]
    assert len(objects) == 2
    for record in objects:
        [check] = [e for e in package.state.events(record.uuid) if e.event_type == "virus check"]
        assert check.outcome == "Pass"
    manifest = (package.sip_dir / "manifest-sha256.txt").read_text().splitlines()
    assert len(manifest) == len(list((package.sip_dir / "data").rglob("*.*")))
    renames = (package.transfer_dir.parent / package.ref.aip_name / "data").rglob(
        "filenameChanges.log"
    )
    [log] = list(renames)
    assert "objects/line\\nbreak.txt -> objects/line_break.txt" in log.read_text().splitlines()


def test_cjk_names_longer_than_255_bytes_once_transliterated_are_shortened_and_distinct(
    tmp_path, home, ingest
):
    long_a = "中文文件名" * 16 + "甲.txt"  # 81 characters, 246 bytes: fine until transliterated
    long_b = "中文文件名" * 16 + "乙.txt"
    source = package_file(
        tmp_path,
        raw_zip(
            [
                {"name": long_a.encode(), "data": b"a", "flags": UTF8},
                {"name": long_b.encode(), "data": b"b", "flags": UTF8},
                METADATA,
            ]
        ),
    )
    package = ingest(source)
    names = original_names(package)
    assert set(names.values()) == {long_a, long_b}
    assert all(len(n.encode()) <= 255 and n.endswith(".txt") for n in names)
    assert sorted(aip_files(package).values()) == [b"a", b"b"]


@pytest.mark.parametrize("dots", ["．．", "‥", "．．．"])
def test_look_alike_dots_never_become_a_parent_folder(tmp_path, home, ingest, dots):
    source = package_file(
        tmp_path,
        raw_zip([{"name": f"{dots}/secret.txt".encode(), "data": b"s", "flags": UTF8}, METADATA]),
    )
    package = ingest(source)
    [(aip_name, original)] = original_names(package).items()
    assert original == f"{dots}/secret.txt"
    folder = aip_name.split("/")[0]
    assert set(folder) == {"_"} and aip_files(package) == {aip_name: b"s"}


def test_a_name_longer_than_a_file_system_takes_is_shortened_and_kept(tmp_path, home, ingest):
    long_name = "a" * 300 + ".txt"
    source = package_file(tmp_path, raw_zip([{"name": long_name.encode(), "data": b"l"}, METADATA]))
    assert preflight_accepts(source)
    package = ingest(source)
    [(aip_name, original)] = original_names(package).items()
    assert original == long_name
    assert len(aip_name) <= 255 and aip_name.endswith(".txt")


def test_a_path_longer_than_the_limit_is_refused_by_both_naming_it(tmp_path, home, ingest):
    deep = "/".join(["folder-name-of-forty-characters-long-xx"] * 80) + "/f.txt"
    source = package_file(tmp_path, raw_zip([{"name": deep.encode(), "data": b"d"}, METADATA]))
    report = preflight.check(source, "catalogued", Limits())
    assert not report.success
    [safe] = [c for c in report.checks if c.problems]
    assert any("bytes, more than the limit of 3072" in p for p in safe.problems)
    refused = verdict_of(ingest, source)
    assert any("more than the limit of 3072" in d for d in refused.details)


def test_a_file_that_is_also_a_folder_is_refused_by_both_naming_it(tmp_path, home, ingest):
    source = package_file(
        tmp_path,
        raw_zip(
            [{"name": b"report", "data": b"f"}, {"name": b"report/a.txt", "data": b"a"}, METADATA]
        ),
    )
    words = "report: both a file and a folder in the archive; rename one of them"
    assert words in str(preflight.check(source, "catalogued", Limits()).checks[1].problems)
    assert words in verdict_of(ingest, source).details


def test_names_equal_but_for_case_or_accents_each_keep_their_own_file(tmp_path, home, ingest):
    source = package_file(
        tmp_path,
        raw_zip(
            [
                {"name": b"Notes.txt", "data": b"upper"},
                {"name": b"notes.txt", "data": b"lower"},
                {"name": "é.txt".encode(), "data": b"accent", "flags": UTF8},
                {"name": b"e.txt", "data": b"plain"},
                METADATA,
            ]
        ),
    )
    package = ingest(source)
    files = aip_files(package)
    assert sorted(files.values()) == [b"accent", b"lower", b"plain", b"upper"]
    assert len({name.lower() for name in files}) == 4  # apart on any file system


# -- duplicates -----------------------------------------------------------------------------
def test_a_member_given_twice_is_refused_before_anything_is_extracted(tmp_path, home, ingest):
    source = package_file(
        tmp_path,
        raw_zip([{"name": b"a.txt", "data": b"one"}, {"name": b"a.txt", "data": b"two"}, METADATA]),
    )
    words = "a.txt: in the archive twice; one of the two would be lost, keep one"
    assert words in preflight.check(source, "catalogued", Limits()).checks[1].problems
    refused = verdict_of(ingest, source)
    assert isinstance(refused, UnsafeArchive) and words in refused.details


def test_metadata_files_given_twice_are_refused(tmp_path, home, ingest):
    source = package_file(tmp_path, raw_zip([{"name": b"a.txt", "data": b"a"}, METADATA, METADATA]))
    assert not preflight_accepts(source)
    assert "metadata/metadata.csv: in the archive twice" in verdict_of(ingest, source).details[0]


# -- metadata values ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("csv", "words"),
    [
        (
            "filename,dc.identifier,dc.title\nobjects/,PP/1,Bell\x07 title\n",
            "column 'dc.title' holds control characters (U+0007); remove them",
        ),
        (
            'filename,dc.identifier\nobjects/,"PP/1\nExternal-Identifier: FORGED"\n',
            "column 'dc.identifier' holds a line break, tab or control character (U+000A); "
            "an identifier is one line of text",
        ),
        (
            f"filename,dc.identifier\nobjects/,{'P' * 300}\n",
            "column 'dc.identifier' is 300 characters long; an identifier has at most 255",
        ),
    ],
)
def test_metadata_values_that_would_change_what_we_write_are_refused_naming_the_column(
    tmp_path, home, ingest, csv, words
):
    source = package_file(
        tmp_path,
        raw_zip(
            [{"name": b"a.txt", "data": b"a"}, {"name": METADATA["name"], "data": csv.encode()}]
        ),
    )
    report = preflight.check(source, "catalogued", Limits())
    assert any(words in p for c in report.checks for p in c.problems)
    refused = verdict_of(ingest, source)
    assert isinstance(refused, TransferInvalid)
    assert any(words in d for d in refused.details)


def test_no_value_can_add_a_line_to_bag_info(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a")
    bag.write_bag(tmp_path, {}, {"External-Identifier": "PP/1\nForged-Field: yes"}, 1)
    lines = (tmp_path / "bag-info.txt").read_text().splitlines()
    assert "External-Identifier: PP/1\\nForged-Field: yes" in lines
    assert not any(line.startswith("Forged-Field") for line in lines)


def test_a_value_longer_than_pythons_csv_field_limit_is_read_and_kept(tmp_path, home, ingest):
    description = "Letters. " * 20_000  # 180,000 characters, past csv's 131,072 default
    csv = f"filename,dc.identifier,dc.description\nobjects/,PP/1,{description.strip()}\n"
    source = package_file(
        tmp_path,
        raw_zip(
            [{"name": b"a.txt", "data": b"a"}, {"name": METADATA["name"], "data": csv.encode()}]
        ),
    )
    assert preflight_accepts(source)
    package = ingest(source, "generate_aip_mets")
    mets = etree.parse(str(package.mets_path))
    [value] = mets.xpath("//*[local-name()='description']/text()")
    assert value == description.strip()


def test_a_metadata_file_that_unpacks_to_hundreds_of_mb_is_refused_unread(tmp_path, home, ingest):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", "a")
        with archive.open("metadata/metadata.csv", "w") as out:
            out.write(CATALOGUED_CSV.encode())
            for _ in range(300):
                out.write(b"," * (1 << 20))  # 300 MB of commas, 300 KB compressed
    assert bomb.stat().st_size < 2 << 20
    report = preflight.check(bomb, "catalogued", Limits())
    [metadata_check] = [c for c in report.checks if c.name.startswith("metadata/metadata.csv")]
    assert "more than the limit of 1,048,576" in metadata_check.problems[0]
    refused = verdict_of(ingest, bomb)
    assert any("more than the limit of 1,048,576" in d for d in refused.details)


def test_a_control_character_in_rights_csv_is_refused_naming_row_and_column(tmp_path, home, ingest):
    rights = "file,basis,note\nobjects/a.txt,donor,Given by\x1b[31m the family\n"
    source = package_file(
        tmp_path,
        raw_zip(
            [
                {"name": b"a.txt", "data": b"a"},
                METADATA,
                {"name": b"metadata/rights.csv", "data": rights.encode()},
            ]
        ),
    )
    words = "row 2: column 'note' holds control characters (U+001B)"
    assert any(
        words in p
        for c in preflight.check(source, "catalogued", Limits()).checks
        for p in c.problems
    )
    assert any(words in d for d in verdict_of(ingest, source).details)


# -- nesting --------------------------------------------------------------------------------
def test_nested_archives_passing_the_limit_together_are_refused(
    tmp_path, home, ingest, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_MAX_BYTES", "150000")
    inner = zip_bytes({"inner.bin": "i" * 60_000})
    middle = zip_bytes({"middle.bin": "m" * 60_000, "inner.zip": inner})
    source = package_file(tmp_path, raw_zip([{"name": b"outer.zip", "data": middle}, METADATA]))
    with pytest.raises(UnsafeArchive) as refused:
        ingest(source, "extract_packages")
    assert any("across the transfer's nested archives" in d for d in refused.value.details)


def test_folders_thousands_deep_are_refused_without_recursion(tmp_path, home, ingest):
    deep = "/".join(["d"] * 3000) + "/f.txt"
    source = package_file(tmp_path, raw_zip([{"name": deep.encode(), "data": b"d"}, METADATA]))
    assert "3001 folders deep, more than the limit of 100" in str(
        preflight.check(source, "catalogued", Limits()).checks[1].problems
    )
    assert any("folders deep" in d for d in verdict_of(ingest, source).details)


def test_encrypted_members_are_a_verdict_naming_them_and_preflight_says_so(tmp_path, home, ingest):
    folder = tmp_path / "src"
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "metadata.csv").write_text(CATALOGUED_CSV)
    (folder / "secret.txt").write_text("secret")
    source = tmp_path / "encrypted.zip"
    subprocess.run(
        ["7z", "a", "-tzip", "-psecret", "-bd", str(source), "secret.txt", "metadata"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    report = preflight.check(source, "catalogued", Limits())
    problems = report.checks[1].problems
    assert "secret.txt: encrypted; send the archive without a password" in problems
    assert "metadata/metadata.csv: encrypted; send the archive without a password" in problems
    refused = verdict_of(ingest, source)
    assert "secret.txt: encrypted; send the archive without a password" in refused.details


def test_a_tar_named_zip_is_refused_by_both_for_what_it_is(tmp_path, home, ingest):
    import tarfile

    source = tmp_path / "package.zip"
    with tarfile.open(source, "w") as archive:
        member = tmp_path / "a.txt"
        member.write_text("a")
        archive.add(member, "a.txt")
    [problem] = preflight.check(source, "catalogued", Limits()).checks[0].problems
    assert "File is not a zip file (it is a tar archive named .zip; make a zip)" in problem
    assert (
        "File is not a zip file (it is a tar archive named .zip"
        in verdict_of(ingest, source).message
    )


def test_a_damaged_archive_inside_good_content_is_kept_as_it_is_and_recorded(
    tmp_path, home, ingest
):
    truncated = zip_bytes({"inner.txt": "x" * 5000})[:-40]
    source = package_file(
        tmp_path,
        raw_zip(
            [
                {"name": b"good.txt", "data": b"good"},
                {"name": b"broken.zip", "data": truncated},
                METADATA,
            ]
        ),
    )
    package = ingest(source)
    assert aip_files(package) == {"good.txt": b"good", "broken.zip": truncated}
    broken = package.state.file_at("objects/broken.zip")
    [unpacking] = [e for e in package.state.events(broken.uuid) if e.event_type == "unpacking"]
    assert unpacking.outcome == "Fail"
    assert unpacking.outcome_note.startswith("Not unpacked, kept as it is: Unable to read")


# -- folder sources -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: os.mkfifo(p), "named pipe (FIFO); only files and folders are accepted"),
        (
            lambda p: os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 5)),
            "device file; only files and folders are accepted",
        ),
    ],
)
def test_a_folder_holding_a_fifo_or_a_device_is_refused_by_name_and_never_opened(
    tmp_path, home, ingest, make, words
):
    folder = tmp_path / "transfer"
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "metadata.csv").write_text(CATALOGUED_CSV)
    (folder / "a.txt").write_text("a")
    make(folder / "special")
    refused = verdict_of(ingest, folder)  # a FIFO would hang a copy; /dev/zero never ends
    assert refused.details == [f"special: {words}"]


def test_a_folder_name_that_is_not_utf8_is_received_and_kept_escaped(tmp_path, home, ingest):
    folder = tmp_path / "transfer"
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "metadata.csv").write_text(CATALOGUED_CSV)
    (Path(os.fsdecode(bytes(folder) + b"/Gr\xfc\xdfe.txt"))).write_bytes(b"latin-1 name")
    package = ingest(folder)
    assert original_names(package) == {"Gr__e.txt": "Gr\\xfc\\xdfe.txt"}
    assert aip_files(package) == {"Gr__e.txt": b"latin-1 name"}


# -- identifiers ----------------------------------------------------------------------------
def test_an_identifier_longer_than_a_file_name_is_stored_and_found(tmp_path, home, ingest):
    identifier = "档案/" + "目录" * 80  # 243 characters, 730 bytes, more once quoted
    csv = f"filename,dc.identifier\nobjects/,{identifier}\n"
    source = package_file(
        tmp_path,
        raw_zip(
            [{"name": b"a.txt", "data": b"a"}, {"name": METADATA["name"], "data": csv.encode()}]
        ),
    )
    package = ingest(source, "store_aip")
    from preservation.services.store_aip import default_location

    [stored] = default_location(package).index.versions(identifier)
    assert stored.aip_uuid == package.ref.aip_uuid and stored.identifier == identifier


def test_a_transfer_named_past_the_file_name_limit_still_makes_an_aip(tmp_path, home, ingest):
    source = package_file(
        tmp_path, raw_zip([{"name": b"a.txt", "data": b"a"}, METADATA]), "n" * 240 + ".zip"
    )
    package = ingest(source, "store_aip")
    assert len(package.ref.aip_name) <= 140


# -- memory ---------------------------------------------------------------------------------
def test_an_image_validation_flags_as_a_decompression_bomb_is_never_decoded(
    tmp_path, home, ingest, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_MAX_IMAGE_PIXELS", "1000")
    source = package_file(
        tmp_path, raw_zip([{"name": b"huge.png", "data": image("PNG", (48, 32))}, METADATA])
    )
    package = ingest(source, "normalize_files")
    record = package.state.file_at("objects/huge.png")
    events = {e.event_type: e for e in package.state.events(record.uuid)}
    assert events["validation"].outcome == "fail"
    assert "decompression bomb: 48x32 = 1,536 pixels" in events["validation"].outcome_note
    assert "decompression bomb" in events["normalization"].outcome_note
    report = package.sip_data / package.transfer_logs_in_sip / "normalizationReport.csv"
    rows = [r for r in report.read_text().splitlines() if "huge.png" in r]
    assert rows and all("failed" in r and "decompression bomb" in r for r in rows)


# -- pre-flight and ingest agree --------------------------------------------------------------
HOSTILE = {
    "traversal": [{"name": b"../escape.txt", "data": b"x"}, METADATA],
    "absolute": [{"name": b"/etc/passwd", "data": b"x"}, METADATA],
    "symlink": [{"name": b"link", "data": b"/etc/passwd", "mode": 0o120777}, METADATA],
    "duplicate": [{"name": b"a.txt", "data": b"1"}, {"name": b"a.txt", "data": b"2"}, METADATA],
    "clash": [{"name": b"a", "data": b"1"}, {"name": b"a/b", "data": b"2"}, METADATA],
    "deep": [{"name": ("d/" * 101 + "f").encode(), "data": b"1"}, METADATA],
    "control name": [{"name": b"bell\x07.txt", "data": b"1"}, METADATA],
    "cp437": [{"name": "Ü.txt".encode("cp437"), "data": b"1"}, METADATA],
    "bad utf-8": [{"name": b"\xff.txt", "data": b"1", "flags": UTF8}, METADATA],
}


@pytest.mark.parametrize("family", list(HOSTILE))
def test_preflight_and_ingest_agree_on_what_the_zip_index_shows(tmp_path, home, ingest, family):
    source = package_file(tmp_path, raw_zip(HOSTILE[family]))
    accepted_by_preflight = preflight_accepts(source)
    try:
        ingest(source, "verify_transfer_compliance")
        accepted_by_ingest = True
    except PackageRejected:
        accepted_by_ingest = False
    assert accepted_by_preflight == accepted_by_ingest


def test_escaped_names_read_back_exactly():
    for name in ["plain.txt", "a\nb", "tab\there", "back\\slash", "caf\udce9", "\x00\x7f\x9f"]:
        assert unescape(escape(name)) == name
        assert "\n" not in escape(name) and "\t" not in escape(name)
    json.dumps(escape("caf\udce9"))  # a surrogate escape is plain ASCII once escaped
