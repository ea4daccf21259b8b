"""Create SIP: the transfer arranged as the AIP's payload, in Archivematica's layout."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lxml import etree

from tests.conftest import run_stage

METS = "{http://www.loc.gov/METS/}"
FILES = {
    "a b.txt": "hello",
    "sub/deeper/c.txt": "deep",
    "empty": None,
    "sub/empty too": None,
}


def _sip(make_transfer, new_package, run_until, files=FILES, **kwargs):
    source = make_transfer(files, **kwargs)
    package = new_package(source)
    run_until(package, source, "create_sip")
    return package, source


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root``: files with their bytes, folders as None."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def test_sip_objects_are_hard_links_to_the_transfer_files(make_transfer, new_package, run_until):
    package, _ = _sip(make_transfer, new_package, run_until)
    transfer_objects = package.transfer_dir / "objects"
    originals = [p for p in transfer_objects.rglob("*") if p.is_file()]
    assert len(originals) == 2
    for original in originals:
        in_sip = package.sip_data / "objects" / original.relative_to(transfer_objects)
        assert in_sip.stat().st_ino == original.stat().st_ino
        assert in_sip.stat().st_dev == original.stat().st_dev
    assert (package.sip_data / "objects" / "a_b.txt").read_text() == "hello"


def test_the_sip_is_named_after_the_transfer_and_the_aip_uuid(
    make_transfer, new_package, run_until
):
    package, _ = _sip(make_transfer, new_package, run_until)
    assert package.sip_dir.name == f"{package.ref.name}-{package.ref.aip_uuid}"
    assert sorted(p.name for p in package.sip_dir.iterdir()) == ["data"]
    assert sorted(p.name for p in package.sip_data.iterdir()) == ["logs", "objects", "thumbnails"]


def test_empty_folders_of_the_transfer_are_kept_in_the_sip(make_transfer, new_package, run_until):
    package, _ = _sip(make_transfer, new_package, run_until)
    objects = package.sip_data / "objects"
    assert (objects / "empty").is_dir() and not any((objects / "empty").iterdir())
    assert (objects / "sub" / "empty_too").is_dir()


def test_transfer_metadata_moves_to_objects_metadata_transfers(
    make_transfer, new_package, run_until
):
    package, source = _sip(make_transfer, new_package, run_until)
    folder = package.sip_data / "objects" / "metadata" / "transfers" / package.ref.transfer_dirname
    sent = (source / "metadata" / "metadata.csv").read_bytes()
    assert (folder / "metadata.csv").read_bytes() == sent
    assert not (package.sip_data / "metadata").exists()
    [record] = package.state.files(group="metadata")
    assert record.path == f"objects/metadata/transfers/{package.ref.transfer_dirname}/metadata.csv"
    assert record.original_path == "metadata/metadata.csv"


def test_the_transfer_mets_is_valid_submission_documentation(
    make_transfer, new_package, run_until, mets_schema
):
    package, _ = _sip(make_transfer, new_package, run_until)
    rel = f"objects/submissionDocumentation/transfer-{package.ref.transfer_dirname}/METS.xml"
    path = package.sip_data / rel
    document = etree.parse(str(path))
    assert mets_schema.validate(document), mets_schema.error_log
    hrefs = sorted(
        f.get("{http://www.w3.org/1999/xlink}href") for f in document.iter(f"{METS}FLocat")
    )
    assert hrefs == ["objects/a_b.txt", "objects/sub/deeper/c.txt"]
    [record] = package.state.files(group="submissionDocumentation")
    assert record.path == rel
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    types = {e.event_type for e in package.state.events(record.uuid)}
    assert {"ingestion", "message digest calculation", "format identification"} <= types


def test_transfer_logs_go_to_logs_transfers_name_logs(make_transfer, new_package, run_until):
    package, _ = _sip(make_transfer, new_package, run_until)
    logs = package.sip_data / "logs" / "transfers" / package.ref.transfer_dirname / "logs"
    changes = (logs / "filenameChanges.log").read_text().splitlines()
    assert changes == [
        "objects/a b.txt -> objects/a_b.txt",
        "objects/sub/empty too -> objects/sub/empty_too",
    ]
    assert (logs / "fileFormatIdentification.log").is_file()
    assert (logs / "virusScan.log").is_file()


def test_the_sip_has_a_thumbnails_folder(make_transfer, new_package, run_until):
    package, _ = _sip(make_transfer, new_package, run_until)
    assert (package.sip_data / "thumbnails").is_dir()


def test_rerunning_create_sip_replaces_the_sip_without_duplicates(
    make_transfer, new_package, run_until
):
    package, _ = _sip(make_transfer, new_package, run_until)
    first_tree = _tree(package.sip_dir)
    files_before = {r.uuid: r.path for r in package.state.files()}
    events_before = sorted((e.subject, e.event_type) for e in package.state.events())
    (package.sip_data / "objects" / "stray.txt").write_text("left by a killed attempt")

    result = run_stage(package, "create_sip")

    second_tree = _tree(package.sip_dir)
    mets_name = f"transfer-{package.ref.transfer_dirname}/METS.xml"
    # The transfer METS is rewritten (new timestamps); everything else is as it was.
    assert {k for k in first_tree if not k.endswith(mets_name)} == {
        k for k in second_tree if not k.endswith(mets_name)
    }
    assert "data/objects/stray.txt" not in second_tree
    assert {r.uuid: r.path for r in package.state.files()} == files_before
    assert result.files == len(files_before)
    assert len(package.state.files(group="submissionDocumentation")) == 1
    assert sorted((e.subject, e.event_type) for e in package.state.events()) == events_before
    leftovers = [p.name for p in package.sip_dir.parent.iterdir() if p.name.endswith(".partial")]
    assert leftovers == []
