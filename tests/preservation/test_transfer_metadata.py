"""metadata/metadata.csv and metadata/rights.csv, checked against the transfer package rules
(../shared/specs/transfer-packages.md): every problem is collected, saying what is wrong."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from preservation.metadata.transfer_metadata import (
    RIGHTS_COLUMNS,
    read_metadata_csv,
    read_rights_csv,
)
from tests.conftest import ACCESSION_CSV, CATALOGUED_CSV

# metadata.csv


def read_metadata(tmp_path: Path, content: str | bytes, kind: str = "any"):
    path = tmp_path / "metadata.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    problems: list[str] = []
    return read_metadata_csv(path, kind, problems), problems


def test_catalogued_metadata_gives_the_identifier_and_dublin_core(tmp_path):
    info, problems = read_metadata(
        tmp_path, "filename,dc.identifier,dc.title,dc.creator\nobjects/,PP/MDM/A/3/1a,Papers,Ann\n"
    )
    assert problems == []
    assert info.kind == "catalogued"
    assert info.catalogue_identifier == info.identifier == "PP/MDM/A/3/1a"
    assert info.accession_number == ""
    assert info.dublin_core == [
        ("identifier", "PP/MDM/A/3/1a"),
        ("title", "Papers"),
        ("creator", "Ann"),
    ]


def test_accession_metadata_gives_accession_number_and_collection(tmp_path):
    info, problems = read_metadata(tmp_path, ACCESSION_CSV, "accession")
    assert problems == []
    assert info.kind == "accession"
    assert (info.collection_reference, info.accession_number) == ("SA/TIH", "2314_2")
    assert info.identifier == "2314_2"
    assert info.dublin_core == []


def test_a_byte_order_mark_in_metadata_csv_is_tolerated_and_stripped(tmp_path):
    info, problems = read_metadata(
        tmp_path, b"\xef\xbb\xbf" + CATALOGUED_CSV.encode(), "catalogued"
    )
    assert problems == []
    assert info.catalogue_identifier == "PP/MDM/A/3/1a"


def test_metadata_csv_with_crlf_and_blank_trailing_lines_is_read(tmp_path):
    info, problems = read_metadata(
        tmp_path, "filename,dc.identifier\r\nobjects/,PP/1\r\n\r\n,\r\n", "catalogued"
    )
    assert problems == []
    assert info.identifier == "PP/1"


def test_metadata_csv_with_two_data_rows_is_rejected(tmp_path):
    info, problems = read_metadata(
        tmp_path, "filename,dc.identifier\nobjects/,PP/1\nobjects/,PP/2\n"
    )
    assert info is None
    assert problems == [
        "metadata/metadata.csv has 2 data rows; it must have exactly one, for objects/"
    ]


def test_metadata_csv_with_only_a_header_is_rejected(tmp_path):
    info, problems = read_metadata(tmp_path, "filename,dc.identifier\n")
    assert info is None
    assert problems == [
        "metadata/metadata.csv has 0 data rows; it must have exactly one, for objects/"
    ]


def test_an_empty_metadata_csv_is_rejected(tmp_path):
    info, problems = read_metadata(tmp_path, "")
    assert info is None
    assert problems == [
        "metadata/metadata.csv is empty; it needs a header row and one row for objects/"
    ]


def test_metadata_csv_that_is_not_utf8_is_rejected(tmp_path):
    info, problems = read_metadata(
        tmp_path, "filename,dc.title\nobjects/,Caf\xe9\n".encode("latin-1")
    )
    assert info is None
    [problem] = problems
    assert problem.startswith("metadata/metadata.csv is not UTF-8")
    assert problem.endswith("save it as UTF-8 CSV")


@pytest.mark.parametrize("filename", ["objects", "objects/a.txt", "/objects/", ""])
def test_a_filename_other_than_objects_slash_is_rejected(tmp_path, filename):
    info, problems = read_metadata(tmp_path, f"filename,dc.identifier\n{filename},PP/1\n")
    assert (
        f"metadata/metadata.csv filename is {filename!r}; it must be exactly 'objects/'" in problems
    )


def test_accession_columns_under_a_catalogued_configuration_are_rejected(tmp_path):
    _, problems = read_metadata(tmp_path, ACCESSION_CSV, "catalogued")
    assert problems == [
        "metadata/metadata.csv describes accession material but this processing configuration "
        "expects catalogued material: its columns must be filename,dc.identifier"
    ]


def test_a_catalogue_identifier_under_an_accession_configuration_is_rejected(tmp_path):
    _, problems = read_metadata(tmp_path, CATALOGUED_CSV, "accession")
    assert problems == [
        "metadata/metadata.csv describes catalogued material but this processing configuration "
        "expects accession material: its columns must be "
        "filename,collection_reference,accession_number"
    ]


def test_an_empty_catalogue_identifier_is_rejected(tmp_path):
    _, problems = read_metadata(tmp_path, "filename,dc.identifier\nobjects/,  \n", "catalogued")
    assert problems == [
        "metadata/metadata.csv column 'dc.identifier' is missing or empty; give its value"
    ]


def test_an_accession_needs_both_collection_reference_and_accession_number(tmp_path):
    _, problems = read_metadata(tmp_path, "filename,accession_number\nobjects/,2314_2\n")
    assert problems == [
        "metadata/metadata.csv column 'collection_reference' is missing or empty; give its value"
    ]
    _, problems = read_metadata(
        tmp_path, "filename,collection_reference,accession_number\nobjects/,SA/TIH,\n"
    )
    assert problems == [
        "metadata/metadata.csv column 'accession_number' is missing or empty; give its value"
    ]


def test_metadata_without_any_identifier_column_is_rejected(tmp_path):
    info, problems = read_metadata(tmp_path, "filename,dc.title\nobjects/,Papers\n")
    assert info is None
    assert problems[0].startswith("metadata/metadata.csv names no identifier")


def test_unknown_and_repeated_metadata_columns_are_all_reported(tmp_path):
    info, problems = read_metadata(
        tmp_path, "file,dc.identifier,dc.identifier,shelfmark\nobjects/,PP/1,PP/1,X\n"
    )
    assert info is None
    text = "\n".join(problems)
    assert "repeats a column in its header" in text
    assert "has no 'filename' column" in text
    assert "unknown column 'file'" in text
    assert "unknown column 'shelfmark'" in text


def test_a_ragged_metadata_row_is_rejected(tmp_path):
    info, problems = read_metadata(tmp_path, "filename,dc.identifier\nobjects/,PP/1,extra\n")
    assert info is None
    assert problems == ["metadata/metadata.csv row 2 has 3 fields but the header has 2"]


# rights.csv

COPYRIGHT = {
    "file": "objects/a.txt",
    "basis": "copyright",
    "status": "copyrighted",
    "determination_date": "2020-01-01",
    "start_date": "2020-01-01",
    "end_date": "2090-12-31",
    "jurisdiction": "UK",
    "note": "In copyright",
    "grant_act": "disseminate",
    "grant_restriction": "disallow",
    "grant_start_date": "2020-01-01",
    "grant_end_date": "2090-12-31",
    "grant_note": "Closed until the copyright ends",
    "doc_id_type": "Deposit agreement",
    "doc_id_value": "DA-17",
    "doc_id_role": "agreement",
}
LICENSE = {
    "file": "objects/a.txt",
    "basis": "license",
    "terms": "Creative Commons Attribution 4.0",
    "note": "CC-BY",
    "grant_act": "use",
    "grant_restriction": "allow",
    "grant_note": "Open for reuse with attribution",
}
STATUTE = {
    "file": "objects/sub/b.txt",
    "basis": "statute",
    "determination_date": "2021-05-01",
    "jurisdiction": "UK",
    "citation": "Data Protection Act 2018",
    "grant_act": "disseminate",
    "grant_restriction": "conditional",
    "grant_note": "Personal data: reading room only",
}
DONOR = {
    "file": "objects/sub/b.txt",
    "basis": "donor",
    "note": "Donor asks for no publication",
    "grant_act": "publish",
    "grant_restriction": "disallow",
    "grant_start_date": "2021-01-01",
    "grant_note": "Until the donor's death",
}


@pytest.fixture
def objects(tmp_path) -> Path:
    folder = tmp_path / "objects"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    return folder


def rights_text(*rows: dict[str, str], columns: list[str] | None = None) -> str:
    columns = columns or [c for c in RIGHTS_COLUMNS if any(c in r for r in rows)]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def read_rights(objects: Path, text: str | bytes):
    path = objects.parent / "rights.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    problems: list[str] = []
    return read_rights_csv(path, objects, problems), problems


def test_a_valid_rights_csv_with_copyright_license_statute_and_donor_rows_passes(objects):
    valid, problems = read_rights(objects, rights_text(COPYRIGHT, LICENSE, STATUTE, DONOR))
    assert problems == []
    assert [(r["file"], r["basis"]) for r in valid] == [
        ("objects/a.txt", "copyright"),
        ("objects/a.txt", "license"),
        ("objects/sub/b.txt", "statute"),
        ("objects/sub/b.txt", "donor"),
    ]
    assert all(set(r) == set(RIGHTS_COLUMNS) for r in valid)
    assert valid[0]["doc_id_value"] == "DA-17"
    assert valid[2]["citation"] == "Data Protection Act 2018"
    assert valid[3]["terms"] == ""


def test_rights_values_are_stripped_of_surrounding_spaces(objects):
    text = "file, basis ,note,grant_act,grant_note\n objects/a.txt ,donor, Gift ,publish,ok\n"
    valid, problems = read_rights(objects, text)
    assert problems == []
    assert (valid[0]["file"], valid[0]["basis"], valid[0]["note"]) == (
        "objects/a.txt",
        "donor",
        "Gift",
    )


def test_a_rights_csv_with_a_byte_order_mark_is_rejected(objects):
    valid, problems = read_rights(objects, b"\xef\xbb\xbf" + rights_text(DONOR).encode())
    assert valid == []
    assert problems == [
        "metadata/rights.csv starts with a byte-order mark; save it as UTF-8 without BOM"
    ]


def test_a_rights_csv_with_duplicate_headers_is_rejected(objects):
    valid, problems = read_rights(objects, "file,basis,note,note\nobjects/a.txt,donor,a,b\n")
    assert valid == []
    assert problems == [
        "metadata/rights.csv repeats header columns ['note']; name each column once"
    ]


def test_a_ragged_rights_row_is_rejected_and_the_other_rows_still_checked(objects):
    text = rights_text(DONOR) + "objects/a.txt,donor\n"
    valid, problems = read_rights(objects, text)
    columns = len(text.splitlines()[0].split(","))
    assert problems == [f"metadata/rights.csv row 3 has 2 fields but the header has {columns}"]
    assert [r["basis"] for r in valid] == ["donor"]


def test_an_empty_rights_csv_is_rejected(objects):
    valid, problems = read_rights(objects, "")
    assert valid == []
    assert problems == ["metadata/rights.csv is empty; remove it or add a header and rows"]


def test_a_rights_csv_with_no_data_rows_is_rejected(objects):
    valid, problems = read_rights(objects, "file,basis,note\n")
    assert valid == []
    assert problems == ["metadata/rights.csv has no data rows; remove it or add rows"]


def test_a_rights_csv_with_an_unknown_column_is_rejected_naming_it(objects):
    valid, problems = read_rights(objects, "file,basis,shelfmark\nobjects/a.txt,donor,X\n")
    assert valid == []
    [problem] = problems
    assert problem.startswith("metadata/rights.csv has unknown columns ['shelfmark']; allowed are")


def test_a_rights_csv_without_file_or_basis_columns_is_rejected(objects):
    _, problems = read_rights(objects, "note\nsomething\n")
    assert problems == [
        "metadata/rights.csv has no 'file' column; it is required",
        "metadata/rights.csv has no 'basis' column; it is required",
    ]


def test_a_rights_csv_that_is_not_utf8_is_rejected(objects):
    valid, problems = read_rights(
        objects, "file,basis,note\nobjects/a.txt,donor,Caf\xe9\n".encode("latin-1")
    )
    assert valid == []
    assert problems[0].startswith("metadata/rights.csv is not UTF-8")


ROW_PROBLEMS = [
    pytest.param(
        {**DONOR, "basis": "moral"},
        "basis 'moral' must be one of copyright, donor, license, other, policy, statute",
        id="basis_not_in_the_allowed_set",
    ),
    pytest.param(
        {**COPYRIGHT, "status": ""},
        "copyright rights need 'status'; fill it in",
        id="copyright_without_status",
    ),
    pytest.param(
        {**COPYRIGHT, "jurisdiction": ""},
        "copyright rights need 'jurisdiction'; fill it in",
        id="copyright_without_jurisdiction",
    ),
    pytest.param(
        {**COPYRIGHT, "grant_note": ""},
        "copyright rights need 'grant_note'; fill it in",
        id="copyright_without_grant_note",
    ),
    pytest.param(
        {**COPYRIGHT, "note": "Public domain"},
        "copyright note 'Public domain' must be one of ('In copyright', 'All Rights Reserved')",
        id="copyright_note_not_allowed",
    ),
    pytest.param(
        {**COPYRIGHT, "end_date": "OPEN"},
        "copyright end_date may not be 'open'; give the date it ends",
        id="copyright_end_date_open",
    ),
    pytest.param(
        {**LICENSE, "note": "GPL"},
        "license note 'GPL' must be one of CC-0, CC-BY, CC-BY-NC, CC-BY-NC-ND, CC-BY-SA, "
        "CC-BY-NC-SA, OGL, OPL, PDM",
        id="license_note_not_allowed",
    ),
    pytest.param(
        {**LICENSE, "grant_note": ""},
        "license rights need 'grant_note'; fill it in",
        id="license_without_grant_note",
    ),
    pytest.param(
        {**STATUTE, "citation": ""},
        "statute rights need 'citation'; fill it in",
        id="statute_without_citation",
    ),
    pytest.param(
        {**STATUTE, "jurisdiction": ""},
        "statute rights need 'jurisdiction'; fill it in",
        id="statute_without_jurisdiction",
    ),
    pytest.param(
        {**DONOR, "status": "copyrighted"},
        "'status' does not apply to donor rights; leave it empty",
        id="status_on_a_donor_row",
    ),
    pytest.param(
        {**LICENSE, "citation": "Act 1988"},
        "'citation' does not apply to license rights; leave it empty",
        id="citation_on_a_license_row",
    ),
    pytest.param(
        {**STATUTE, "terms": "some terms"},
        "'terms' does not apply to statute rights; leave it empty",
        id="terms_on_a_statute_row",
    ),
    pytest.param(
        {**DONOR, "jurisdiction": "UK"},
        "'jurisdiction' does not apply to donor rights; leave it empty",
        id="jurisdiction_on_a_donor_row",
    ),
    pytest.param(
        {"file": "objects/a.txt", "basis": "policy", "grant_note": "Closed"},
        "grant details are given without 'grant_act'; name the act granted",
        id="grant_details_without_grant_act",
    ),
    pytest.param(
        {**DONOR, "grant_restriction": ""},
        "grant dates need 'grant_restriction' (allow, conditional, disallow)",
        id="grant_dates_without_restriction",
    ),
    pytest.param(
        {**DONOR, "grant_restriction": "maybe"},
        "grant_restriction 'maybe' must be one of allow, conditional, disallow",
        id="grant_restriction_not_in_the_allowed_set",
    ),
    pytest.param(
        {**DONOR, "doc_id_type": "Deed of gift"},
        "doc_id_type and doc_id_value come together; give both or neither",
        id="doc_id_type_without_value",
    ),
    pytest.param(
        {**DONOR, "doc_id_value": "DG-1"},
        "doc_id_type and doc_id_value come together; give both or neither",
        id="doc_id_value_without_type",
    ),
    pytest.param(
        {**DONOR, "doc_id_role": "gift"},
        "doc_id_role needs doc_id_type and doc_id_value",
        id="doc_id_role_without_type",
    ),
    pytest.param(
        {**DONOR, "file": "objects/missing.txt"},
        "file 'objects/missing.txt' is not a file in the package; check its path",
        id="file_not_in_the_package",
    ),
    pytest.param(
        {**DONOR, "file": "objects/sub"},
        "file 'objects/sub' is not a file in the package; check its path",
        id="file_is_a_folder",
    ),
    pytest.param(
        {**DONOR, "file": "a.txt"},
        "file 'a.txt' must name a file, starting with 'objects/'",
        id="file_not_under_objects",
    ),
    pytest.param(
        {**DONOR, "file": "objects/"},
        "file 'objects/' must name a file, starting with 'objects/'",
        id="file_is_objects_itself",
    ),
    pytest.param(
        {**DONOR, "file": "objects/../metadata/metadata.csv"},
        "file 'objects/../metadata/metadata.csv' leaves objects/; name a file inside it, "
        "without '..' or '//'",
        id="file_climbing_out_of_objects_to_a_metadata_file",
    ),
    pytest.param(
        {**DONOR, "file": "objects//etc/passwd"},
        "file 'objects//etc/passwd' leaves objects/; name a file inside it, without '..' or '//'",
        id="file_with_an_absolute_path_inside_objects",
    ),
]


@pytest.mark.parametrize("row, expected", ROW_PROBLEMS)
def test_a_rights_row_breaking_a_rule_is_rejected_saying_why(objects, row, expected, tmp_path):
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "metadata.csv").write_text(CATALOGUED_CSV)
    valid, problems = read_rights(objects, rights_text(row, columns=list(RIGHTS_COLUMNS)))
    assert valid == []
    assert f"metadata/rights.csv row 2: {expected}" in problems


def test_a_repeated_file_basis_and_grant_act_is_rejected_on_its_second_row(objects):
    again = {**DONOR, "grant_note": "said twice"}
    valid, problems = read_rights(objects, rights_text(DONOR, LICENSE, again))
    assert problems == [
        "metadata/rights.csv row 4: repeats file 'objects/sub/b.txt', basis 'donor' and "
        "grant_act 'publish'; each combination may appear once"
    ]
    assert [r["basis"] for r in valid] == ["donor", "license"]


def test_the_same_file_and_basis_with_another_grant_act_is_allowed(objects):
    valid, problems = read_rights(objects, rights_text(DONOR, {**DONOR, "grant_act": "use"}))
    assert problems == []
    assert len(valid) == 2


def test_every_bad_rights_row_is_reported_at_once_with_its_row_number(objects):
    rows = [
        DONOR,
        {**COPYRIGHT, "note": "Mine", "end_date": "open"},
        {**STATUTE, "citation": "", "file": "objects/gone.txt"},
    ]
    valid, problems = read_rights(objects, rights_text(*rows))
    assert [r["basis"] for r in valid] == ["donor"]
    assert (
        "metadata/rights.csv row 3: copyright end_date may not be 'open'; give the date it ends"
        in problems
    )
    assert any(p.startswith("metadata/rights.csv row 3: copyright note 'Mine'") for p in problems)
    assert "metadata/rights.csv row 4: statute rights need 'citation'; fill it in" in problems
    assert (
        "metadata/rights.csv row 4: file 'objects/gone.txt' is not a file in the package; "
        "check its path"
    ) in problems
    assert len(problems) == 4
