"""The fixity audit on stored AIPs: damage found with the right file lists, results kept
per AIP, the work spread so every AIP is checked within the period."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from preservation.core.settings import Limits
from preservation.operations import fixity_audit
from preservation.services import compress_aip, store_aip
from preservation.storage.aip_index import FixityCheck
from preservation.storage.location import LocalLocation
from preservation.storage.memory import MemoryLocation

METADATA = "filename,dc.identifier\nobjects/,PP/MDM/A/9\n"
FILES = {"a.txt": "alpha", "sub/b.txt": "beta"}


@pytest.fixture
def stored_bag(package_until, tmp_path):
    package = package_until(FILES, "compress_aip", metadata={"metadata.csv": METADATA})
    location = LocalLocation(tmp_path / "store")
    result = store_aip.run(package, location)
    return location, Path(result.aip_path), package.ref.aip_uuid


def audit_all(location, deep=False):
    return [
        fixity_audit.keep(location, fixity_audit.audit(location, r, deep, Limits(), 600))
        for r in location.index.all()
    ]


def test_an_intact_aip_passes_and_its_result_is_kept_with_a_fixity_check_record(stored_bag):
    location, _, aip_uuid = stored_bag
    [result] = audit_all(location)
    assert result["success"] is True and result["identifier"] == "PP/MDM/A/9"
    assert set(result) >= {"success", "message", "failures", "timestamp"}
    assert result["event"]["eventType"] == "fixity check"
    assert result["event"]["eventOutcome"] == "Pass"
    assert list(fixity_audit.last_checks(location)) == [aip_uuid]


def test_a_flipped_byte_a_missing_file_and_an_extra_file_are_each_named(stored_bag):
    location, bag, _ = stored_bag
    victim = bag / "data" / "objects" / "a.txt"
    victim.write_bytes(b"alphA")
    (bag / "data" / "objects" / "sub" / "b.txt").unlink()
    (bag / "data" / "objects" / "intruder.txt").write_text("extra")
    [result] = audit_all(location)
    assert result["success"] is False
    files = result["failures"]["files"]
    assert files["changed"] == ["data/objects/a.txt"]
    assert files["missing"] == ["data/objects/sub/b.txt"]
    assert files["untracked"] == ["data/objects/intruder.txt"]
    assert result["event"]["eventOutcome"] == "Fail"
    message = fixity_audit.slack_failures([result], "Archivematica")
    assert "*PP/MDM/A/9*" in message["text"]
    assert "changed: data/objects/a.txt" in message["text"]
    assert "missing: data/objects/sub/b.txt" in message["text"]
    assert "untracked: data/objects/intruder.txt" in message["text"]


def test_a_compressed_package_is_checked_against_its_sha256_and_deeply_inside(
    package_until, tmp_path
):
    package = package_until(FILES, "prepare_aip", metadata={"metadata.csv": METADATA})
    package.config = dataclasses.replace(package.config, compression="7z-lzma", compression_level=1)
    compress_aip.run(package)
    location = LocalLocation(tmp_path / "store")
    stored = Path(store_aip.run(package, location).aip_path)
    [deep] = audit_all(location, deep=True)
    assert deep["success"] and deep["event"]["deep"] and "bag valid" in deep["message"]
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    [result] = audit_all(location)
    assert result["success"] is False
    assert result["failures"]["files"]["changed"] == [stored.name]


def test_every_aip_is_checked_within_the_period_with_the_work_spread_over_runs():
    location = MemoryLocation("born-digital")
    for n in range(9):
        aip = f"{n:08d}-0000-4000-8000-000000000000"
        location.index.register(aip, "born-digital", f"k{n}", f"ID/{n}", f"t{n}", "x")
    start = datetime.now(UTC) + timedelta(hours=1)
    checked_on: dict[str, datetime] = {}
    for day in range(3):  # period 3 days, a run a day: 3 AIPs a run
        now = start + timedelta(days=day)
        due = fixity_audit.due(location, period_days=3, interval_days=1, now=now)
        assert len(due) == 3
        for record in due:
            stamp = now.strftime("%Y%m%dT%H%M%SZ")
            location.index.add_fixity_check(FixityCheck(record.aip_uuid, stamp, "package"), {})
            checked_on[record.aip_uuid] = now
    assert len(checked_on) == 9  # all nine within the period, none twice


def test_a_deep_check_of_a_package_gone_from_storage_reports_it_missing(package_until, tmp_path):
    package = package_until(FILES, "prepare_aip", metadata={"metadata.csv": METADATA})
    package.config = dataclasses.replace(package.config, compression="7z-lzma", compression_level=1)
    compress_aip.run(package)
    location = LocalLocation(tmp_path / "store")
    stored = Path(store_aip.run(package, location).aip_path)
    stored.unlink()
    [result] = audit_all(location, deep=True)
    assert result["success"] is False
    assert result["failures"]["files"]["missing"] == [str(stored)]
