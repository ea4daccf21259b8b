"""Finding and fetching stored AIPs (`preservation aip list|get`), on a local folder and on
S3 through the Airflow connection, checked on arrival; and the audit trail of who
ingested, stored and fetched which AIP (`preservation aip audit`)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import bagit
import pytest

from preservation.core.errors import FixityMismatch, NotStored
from preservation.operations import aip_catalog
from preservation.services import compress_aip, store_aip
from preservation.storage.location import LocalLocation
from preservation.storage.s3_storage import S3Location
from preservation.tools.process import file_digest

METADATA = "filename,dc.identifier\nobjects/,PP/MDM/A/7\n"


@pytest.fixture
def two_versions(package_until, tmp_path):
    """Two ingests of PP/MDM/A/7: a bag, then a 7z package with its pointer file."""

    def build(location):
        first = package_until({"a.txt": "one"}, "compress_aip", metadata={"metadata.csv": METADATA})
        store_aip.run(first, location)
        second = package_until({"a.txt": "two"}, "prepare_aip", metadata={"metadata.csv": METADATA})
        second.config = dataclasses.replace(
            second.config, compression="7z-lzma", compression_level=1
        )
        compress_aip.run(second)
        store_aip.run(second, location)
        return first.ref.aip_uuid, second.ref.aip_uuid

    return build


def test_aips_are_listed_newest_first_and_fetched_by_identifier_version_or_uuid(
    two_versions, tmp_path
):
    location = LocalLocation(tmp_path / "store")
    first, second = two_versions(location)
    listed = aip_catalog.list_aips(location, "PP/MDM/A/7")
    assert [(r["aip_uuid"], r["version"], r["status"]) for r in listed] == [
        (second, 2, "stored"),
        (first, 1, "stored"),
    ]

    newest = aip_catalog.get(location, "PP/MDM/A/7", tmp_path / "newest")
    assert newest.name.endswith(f"-{second}.7z")
    assert (newest.parent / f"pointer.{second}.xml").is_file()
    assert file_digest(newest) == listed[0]["sha256"]

    older = aip_catalog.get(location, "PP/MDM/A/7", tmp_path / "older", version=1)
    bagit.Bag(str(older)).validate()
    assert aip_catalog.get(location, first, tmp_path / "by-uuid").name == older.name


def test_asking_for_what_is_not_stored_says_how_to_find_what_is(two_versions, tmp_path):
    location = LocalLocation(tmp_path / "store")
    two_versions(location)
    with pytest.raises(NotStored, match="version 3 of 'PP/MDM/A/7'.*preservation aip list"):
        aip_catalog.get(location, "PP/MDM/A/7", tmp_path / "out", version=3)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_damaged_stored_package_is_refused_on_arrival(two_versions, tmp_path):
    location = LocalLocation(tmp_path / "store")
    _, second = two_versions(location)
    stored = Path(location.find(second))
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(FixityMismatch, match="sha256"):
        aip_catalog.get(location, second, tmp_path / "out")
    assert not any((tmp_path / "out").glob("*.7z"))  # nothing damaged is handed over


def test_the_audit_trail_says_who_ingested_stored_and_fetched_each_aip_once(
    package_until, home, tmp_path
):
    location = LocalLocation(home.aip_store)  # where Receive transfer records by default
    package = package_until({"a.txt": "one"}, "compress_aip", metadata={"metadata.csv": METADATA})
    store_aip.run(package, location)
    store_aip.run(package, location)  # a retried Store AIP: stored once, recorded once
    aip_catalog.get(location, "PP/MDM/A/7", tmp_path / "first", user="ann")
    aip_catalog.get(location, "PP/MDM/A/7", tmp_path / "second", user="bob")
    trail = aip_catalog.audit_trail(location, "PP/MDM/A/7")
    assert [(e.action, e.user) for e in trail] == [
        ("ingest started", "tester"),
        ("stored", "tester"),
        ("downloaded", "ann"),
        ("downloaded", "bob"),
    ]
    assert {e.aip_uuid for e in trail} == {package.ref.aip_uuid}
    assert trail[1].identifier == "PP/MDM/A/7"
    assert aip_catalog.audit_trail(location, "PP/MDM/A/8") == []


def test_the_aip_command_reaches_s3_through_the_airflow_connection(
    two_versions, s3, tmp_path, monkeypatch
):
    client, bucket = s3
    first, second = two_versions(S3Location(client, bucket, "aips", "born-digital"))
    monkeypatch.setenv("PRESERVATION_AIP_STORE", f"s3://{bucket}/aips")
    command = [str(Path(sys.executable).with_name("preservation")), "aip"]

    listing = subprocess.run(
        [*command, "list", "--identifier", "PP/MDM/A/7", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listing.returncode == 0, listing.stderr
    records = json.loads(listing.stdout)
    assert [(r["aip_uuid"], r["version"], r["space"]) for r in records] == [
        (second, 2, "born-digital"),
        (first, 1, "born-digital"),
    ]

    fetched = subprocess.run(
        [*command, "get", "PP/MDM/A/7", "--version", "1", "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert "checked: intact" in fetched.stdout
    [bag_dir] = (tmp_path / "out").glob(f"*-{first}")
    bagit.Bag(str(bag_dir)).validate()

    missing = subprocess.run(
        [*command, "get", "PP/MDM/A/99", "-o", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1 and "No stored AIP is 'PP/MDM/A/99'" in missing.stdout

    trail = subprocess.run(
        [*command, "audit", "PP/MDM/A/7", "--json"], capture_output=True, text=True, timeout=300
    )
    assert trail.returncode == 0, trail.stderr
    entries = json.loads(trail.stdout)
    assert [(e["action"], e["aip_uuid"]) for e in entries if e["action"] != "ingest started"] == [
        ("stored", first),
        ("stored", second),
        ("downloaded", first),
    ]
