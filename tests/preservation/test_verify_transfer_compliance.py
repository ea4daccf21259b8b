"""Verify transfer compliance on real working copies: the layout rules, the unneeded files
removed and logged, the external identifier, and every problem reported at once."""

from __future__ import annotations

import pytest

from preservation.core.errors import PackageRejected, TransferInvalid
from preservation.services import receive_transfer, verify_transfer_compliance
from tests.conftest import ACCESSION_CSV, CATALOGUED_CSV

RIGHTS_CSV = (
    "file,basis,status,jurisdiction,note,grant_act,grant_note\n"
    "objects/a.txt,copyright,copyrighted,UK,In copyright,disseminate,Closed\n"
    "objects/a.txt,donor,,,Gift,publish,No publication\n"
)


@pytest.fixture
def received(home, make_transfer, new_package):
    """``received(files, metadata=..., config=..., as_zip=...)`` -> a received Package."""

    def build(files, metadata="", config="automated", as_zip=False):
        source = make_transfer(files, metadata=metadata, as_zip=as_zip)
        package = new_package(source, config)
        receive_transfer.run(package, str(source))
        return package

    return build


def verify_fails(package) -> TransferInvalid:
    with pytest.raises(TransferInvalid) as caught:
        verify_transfer_compliance.run(package)
    assert isinstance(caught.value, PackageRejected)
    assert caught.value.message == (
        f"Transfer {package.ref.name} does not follow the transfer package rules"
    )
    return caught.value


def removed_log(package) -> list[str]:
    return (package.transfer_dir / "logs" / "removedUnneededFiles.log").read_text().splitlines()


def test_a_catalogued_transfer_passes_with_its_dc_identifier_as_external_identifier(received):
    package = received({"a.txt": "alpha"}, config="born_digital")
    result = verify_transfer_compliance.run(package)
    assert result.kind == "catalogued"
    assert result.external_identifier == "PP/MDM/A/3/1a"
    assert (result.removed_files, result.rights_statements) == (0, 0)
    assert package.state.facts().external_identifier == "PP/MDM/A/3/1a"
    assert package.state.facts().catalogue_identifier == "PP/MDM/A/3/1a"
    assert package.state.facts().package_kind == "catalogued"
    assert package.state.facts().dublin_core == [
        ["identifier", "PP/MDM/A/3/1a"],
        ["title", "Papers"],
    ]


def test_an_accession_passes_with_its_accession_number_as_external_identifier(received):
    package = received(
        {"a.txt": "alpha"}, metadata={"metadata.csv": ACCESSION_CSV}, config="b_dig_accessions"
    )
    result = verify_transfer_compliance.run(package)
    assert (result.kind, result.external_identifier) == ("accession", "2314_2")
    assert package.state.facts().external_identifier == "2314_2"
    assert package.state.facts().accession_number == "2314_2"
    assert package.state.facts().collection_reference == "SA/TIH"
    assert package.state.facts().catalogue_identifier == ""


def test_valid_rights_statements_are_kept_for_the_mets(received):
    package = received(
        {"a.txt": "alpha"}, metadata={"metadata.csv": CATALOGUED_CSV, "rights.csv": RIGHTS_CSV}
    )
    result = verify_transfer_compliance.run(package)
    assert result.rights_statements == 2
    rights = package.state.facts().rights
    assert [(r["file"], r["basis"], r["grant_act"]) for r in rights] == [
        ("objects/a.txt", "copyright", "disseminate"),
        ("objects/a.txt", "donor", "publish"),
    ]


def test_a_transfer_without_metadata_csv_is_rejected_saying_how_to_add_it(received):
    package = received({"a.txt": "alpha"}, metadata=None, as_zip=True)
    error = verify_fails(package)
    [detail] = error.details
    assert detail.startswith("metadata/metadata.csv is missing")
    assert "add a top-level metadata/ folder holding metadata.csv" in detail
    assert "filename,dc.identifier" in detail
    assert "single enclosing folder" not in detail


def test_a_zip_with_a_single_enclosing_folder_is_rejected_with_a_hint_to_zip_its_contents(
    received,
):
    package = received(
        {"PP_MDM/a.txt": "alpha", "PP_MDM/metadata/metadata.csv": CATALOGUED_CSV},
        metadata=None,
        as_zip=True,
    )
    [detail] = verify_fails(package).details
    assert detail.startswith("metadata/metadata.csv is missing")
    assert (
        "The zip has a single enclosing folder PP_MDM/: zip its contents, not the folder" in detail
    )


def test_the_enclosing_folder_hint_ignores_a_finder_file_beside_the_folder(received):
    package = received(
        {
            "box/a.txt": "alpha",
            "box/metadata/metadata.csv": CATALOGUED_CSV,
            ".DS_Store": "finder",
        },
        metadata=None,
    )
    [detail] = verify_fails(package).details
    assert "single enclosing folder box/" in detail


@pytest.mark.parametrize("extra", [".DS_Store", "notes.txt", "Thumbs.db"])
def test_any_extra_file_in_metadata_is_rejected_even_a_finder_file(received, extra):
    package = received(
        {"a.txt": "alpha"},
        metadata={"metadata.csv": CATALOGUED_CSV, extra: "x"},
        config="born_digital",
    )
    [detail] = verify_fails(package).details
    assert detail == (
        f"metadata/{extra} is not allowed: metadata/ may hold only metadata.csv, rights.csv; "
        "move it out of metadata/ or remove it"
    )
    assert (package.transfer_dir / "metadata" / extra).is_file()


def test_a_folder_inside_metadata_is_rejected(received):
    package = received(
        {"a.txt": "alpha"}, metadata={"metadata.csv": CATALOGUED_CSV, "more/x.txt": "x"}
    )
    [detail] = verify_fails(package).details
    assert detail.startswith("metadata/more is not allowed")


@pytest.mark.parametrize(
    "config, metadata_csv, accepted",
    [
        ("default", CATALOGUED_CSV, True),
        ("automated", ACCESSION_CSV, True),
        ("born_digital", CATALOGUED_CSV, False),
        ("b_dig_accessions", ACCESSION_CSV, False),
    ],
)
def test_checksum_files_are_allowed_only_when_the_processing_config_accepts_them(
    received, config, metadata_csv, accepted
):
    package = received(
        {"a.txt": "alpha"},
        metadata={
            "metadata.csv": metadata_csv,
            "checksum.md5": "2c1743a391305fbf367df8e4f069f9f9  objects/a.txt\n",
            "checksum.sha256": "8ed3f6ad685b959ead7022518e1af76cd816f8e8ec7ccdda1ed4018e8f2223f8"
            "  objects/a.txt\n",
        },
        config=config,
    )
    if accepted:
        assert verify_transfer_compliance.run(package).external_identifier in (
            "PP/MDM/A/3/1a",
            "2314_2",
        )
    else:
        details = verify_fails(package).details
        assert len(details) == 2
        assert details[0].startswith("metadata/checksum.md5 is not allowed")
        assert details[1].startswith("metadata/checksum.sha256 is not allowed")


def test_a_checksum_file_for_an_unknown_algorithm_is_rejected_even_when_checksums_are_accepted(
    received,
):
    package = received(
        {"a.txt": "alpha"},
        metadata={"metadata.csv": CATALOGUED_CSV, "checksum.crc32": "x"},
        config="default",
    )
    [detail] = verify_fails(package).details
    assert detail.startswith("metadata/checksum.crc32 is not allowed: metadata/ may hold only ")
    assert "checksum.md5, checksum.sha1, checksum.sha256, checksum.sha512" in detail


def test_the_config_kind_and_the_metadata_columns_must_agree(received):
    package = received(
        {"a.txt": "alpha"}, metadata={"metadata.csv": ACCESSION_CSV}, config="born_digital"
    )
    [detail] = verify_fails(package).details
    assert "describes accession material" in detail
    assert "expects catalogued material" in detail


UNNEEDED = {
    ".DS_Store": "finder",
    "Thumbs.db": "windows",
    "Icon\r": "mac icon",
    "desktop.ini": "windows",
    ".hidden": "dotfile",
    "__MACOSX/._a.txt": "resource fork",
    "__MACOSX/sub/._b.txt": "resource fork",
    "sub/.DS_Store": "finder",
    "sub/Thumbs.db": "windows",
    ".git/config": "dot folder",
}
REMOVED = sorted(
    [
        "objects/.DS_Store",
        "objects/Thumbs.db",
        "objects/Icon\\r",
        "objects/desktop.ini",
        "objects/.hidden",
        "objects/__MACOSX",
        "objects/sub/.DS_Store",
        "objects/sub/Thumbs.db",
        "objects/.git",
    ]
)


def test_system_and_hidden_files_are_removed_from_objects_and_logged(received):
    package = received({"a.txt": "alpha", "sub/b.txt": "beta", **UNNEEDED})
    result = verify_transfer_compliance.run(package)
    objects = package.transfer_dir / "objects"
    remaining = sorted(p.relative_to(objects).as_posix() for p in objects.rglob("*"))
    assert remaining == ["a.txt", "sub", "sub/b.txt"]
    assert sorted(removed_log(package)) == REMOVED
    assert result.removed_files == len(REMOVED)


def test_macosx_folders_and_mac_icon_files_in_a_zip_are_tolerated_and_dropped(received):
    package = received(
        {
            "a.txt": "alpha",
            "__MACOSX/._a.txt": "fork",
            "__MACOSX/._metadata": "fork",
            "sub/Icon\r": "icon",
        },
        as_zip=True,
        config="born_digital",
    )
    result = verify_transfer_compliance.run(package)
    objects = package.transfer_dir / "objects"
    assert sorted(p.name for p in objects.rglob("*")) == ["a.txt", "sub"]
    assert sorted(removed_log(package)) == ["objects/__MACOSX", "objects/sub/Icon\\r"]
    assert result.removed_files == 2


def test_the_removed_files_log_is_not_duplicated_when_the_step_runs_again(received):
    package = received({"a.txt": "alpha", ".DS_Store": "finder", "sub/Thumbs.db": "x"})
    verify_transfer_compliance.run(package)
    first = removed_log(package)
    assert sorted(first) == ["objects/.DS_Store", "objects/sub/Thumbs.db"]
    # A retry finds the same litter again (e.g. restored by a re-sync) and logs nothing twice.
    (package.transfer_dir / "objects" / ".DS_Store").write_text("finder")
    second = verify_transfer_compliance.run(package)
    assert removed_log(package) == first
    assert second.removed_files == 1
    assert not (package.transfer_dir / "objects" / ".DS_Store").exists()
    verify_transfer_compliance.run(package)
    assert removed_log(package) == first


def test_a_transfer_with_nothing_to_remove_gets_an_empty_removed_files_log(received):
    package = received({"a.txt": "alpha"})
    verify_transfer_compliance.run(package)
    assert removed_log(package) == []


def test_a_transfer_holding_only_unneeded_files_has_no_content_and_is_rejected(received):
    package = received({".DS_Store": "finder", "empty": None})
    [detail] = verify_fails(package).details
    assert detail.startswith("the transfer has no content files")
    assert "beside metadata/" in detail
    assert removed_log(package) == ["objects/.DS_Store"]


def test_every_problem_is_reported_in_one_error(received):
    package = received(
        {"empty-folder": None},
        metadata={
            "metadata.csv": "filename,dc.identifier\nobjects/,\n",
            "notes.txt": "stray",
            "rights.csv": "file,basis,note\nobjects/missing.txt,license,GPL\n",
        },
        config="born_digital",
    )
    error = verify_fails(package)
    text = str(error)
    expected = [
        "metadata/notes.txt is not allowed",
        "column 'dc.identifier' is missing or empty",
        "metadata/rights.csv row 2: file 'objects/missing.txt' is not a file in the package",
        "metadata/rights.csv row 2: license note 'GPL' must be one of",
        "metadata/rights.csv row 2: license rights need 'grant_act'",
        "the transfer has no content files",
    ]
    for fragment in expected:
        assert fragment in text
        assert sum(fragment in d for d in error.details) == 1
    assert package.state.facts().external_identifier == ""
