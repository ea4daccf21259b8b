"""Prepare AIP: the SIP becomes a BagIt bag whose manifest carries the ingest checksums."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

import bagit
import pytest

from preservation.metadata import bag
from preservation.storage.location import verify_bag
from tests.conftest import ACCESSION_CSV, STAGES, run_stage

FILES = {"a b.txt": "hello", "sub/c.txt": "deep content", "empty": None}


def _bag_info(package) -> dict[str, str]:
    lines = (package.sip_dir / "bag-info.txt").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines)


def _manifest(root) -> dict[str, str]:
    entries = (root / "manifest-sha256.txt").read_text().splitlines()
    return {path: digest for digest, path in (line.split("  ", 1) for line in entries)}


@pytest.fixture
def aip(package_until):
    return package_until(FILES, "prepare_aip")


def test_the_prepared_aip_is_a_valid_bag(aip):
    bagit.Bag(str(aip.sip_dir)).validate()
    assert (aip.sip_dir / "bagit.txt").read_text().startswith("BagIt-Version: 0.97\n")
    assert (aip.sip_dir / "tagmanifest-sha256.txt").is_file()


def test_the_manifest_lists_every_payload_file_with_its_sha256(aip):
    manifest = _manifest(aip.sip_dir)
    on_disk = {
        p.relative_to(aip.sip_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (aip.sip_dir / "data").rglob("*")
        if p.is_file()
    }
    assert manifest == on_disk
    assert f"data/METS.{aip.ref.aip_uuid}.xml" in manifest
    assert "data/README.html" in manifest


def test_bag_info_carries_archivematica_fields(aip):
    info = _bag_info(aip)
    payload = [p for p in (aip.sip_dir / "data").rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in payload)
    assert info["Payload-Oxum"] == f"{total}.{len(payload)}"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", info["Bagging-Date"])
    today = date.today()  # the bag was made today (or just before midnight)
    assert info["Bagging-Date"] in {today.isoformat(), (today - timedelta(days=1)).isoformat()}
    assert info["Bag-Size"] == bag.human_size(total)
    assert re.fullmatch(r"\d+(\.\d)? (B|KB|MB|GB|TB)", info["Bag-Size"])
    assert info["External-Identifier"] == "PP/MDM/A/3/1a"
    assert info["Internal-Sender-Identifier"] == aip.ref.aip_uuid


def test_the_external_identifier_of_an_accession_is_its_accession_number(
    make_transfer, new_package, run_until
):
    source = make_transfer(FILES, metadata={"metadata.csv": ACCESSION_CSV})
    package = new_package(source)
    results = run_until(package, source, "prepare_aip")
    assert _bag_info(package)["External-Identifier"] == "2314_2"
    assert results["prepare_aip"].external_identifier == "2314_2"
    bagit.Bag(str(package.sip_dir)).validate()


def test_the_manifest_uses_ingest_checksums_so_later_corruption_fails_the_bag(
    make_transfer, new_package
):
    source = make_transfer(FILES)
    package = new_package(source)
    for service in STAGES[: STAGES.index("assign_file_uuids") + 1]:
        run_stage(package, service, source)
    victim = package.transfer_dir / "objects" / "sub" / "c.txt"
    ingested = hashlib.sha256(victim.read_bytes()).hexdigest()
    victim.write_text("deep content, silently changed on disk")
    for service in STAGES[STAGES.index("assign_file_uuids") + 1 : STAGES.index("prepare_aip") + 1]:
        run_stage(package, service, source)

    assert _manifest(package.sip_dir)["data/objects/sub/c.txt"] == ingested
    with pytest.raises(bagit.BagValidationError) as caught:
        bagit.Bag(str(package.sip_dir)).validate()
    mismatches = [d for d in caught.value.details if isinstance(d, bagit.ChecksumMismatch)]
    assert [d.path for d in mismatches] == ["data/objects/sub/c.txt"]


def test_preparing_the_bag_again_gives_the_same_manifest(aip):
    first = (aip.sip_dir / "manifest-sha256.txt").read_bytes()
    run_stage(aip, "prepare_aip")
    assert (aip.sip_dir / "manifest-sha256.txt").read_bytes() == first
    bagit.Bag(str(aip.sip_dir)).validate()


# -- preservation.metadata.bag ---------------------------------------------------------------------


def test_write_bag_hashes_unknown_files_and_trusts_known_ones(tmp_path):
    root = tmp_path / "bag"
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "known.txt").write_text("known")
    (root / "data" / "sub" / "new.txt").write_text("new")
    fields = bag.write_bag(root, {"data/known.txt": "0" * 64}, {"External-Identifier": "X"}, 2)
    manifest = _manifest(root)
    assert manifest["data/known.txt"] == "0" * 64
    assert manifest["data/sub/new.txt"] == hashlib.sha256(b"new").hexdigest()
    assert fields["Payload-Oxum"] == "8.2"
    assert fields["External-Identifier"] == "X"
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(root)).validate()


def test_bags_with_percent_and_newlines_in_file_names_pass_our_own_verification(tmp_path):
    root = tmp_path / "bag"
    (root / "data").mkdir(parents=True)
    names = ["100% done.txt", "line\nbreak.txt", "carriage\rreturn.txt"]
    for name in names:
        (root / "data" / name).write_text(name)
    bag.write_bag(root, {}, {}, 1)
    text = (root / "manifest-sha256.txt").read_text()
    assert "data/100% done.txt" in text  # bagit-python does not decode %25 in 0.97 bags
    assert "data/line%0Abreak.txt" in text
    assert "data/carriage%0Dreturn.txt" in text
    assert len(text.splitlines()) == 3
    bagit.Bag(str(root)).validate()
    assert verify_bag(root).success


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (42_500, "42.5 KB"), (1_300_000_000, "1.3 GB")],
)
def test_bag_size_is_written_in_decimal_units(size, text):
    assert bag.human_size(size) == text
