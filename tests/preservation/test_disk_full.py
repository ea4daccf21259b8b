"""A processing directory too small for what a stage writes (a real tmpfs of a few MiB):
the stage says so before it writes, naming the folder, its estimate and the free space,
leaves nothing half-made, and runs once there is room."""

from __future__ import annotations

import subprocess

import pytest

from preservation.core.disk_space import disk_full_is_a_fault
from preservation.core.errors import DiskFull, SystemFault
from preservation.services import normalize_files, receive_transfer
from tests import media

MiB = 1024 * 1024


@pytest.fixture
def disk(home, monkeypatch):
    """``disk(bytes)``: the processing directory on a tmpfs of that size (remounted)."""
    folder = home.processing_directory
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PRESERVATION_DISK_RESERVE_MB", "1")

    def size(limit: int):
        options = f"size={limit}"
        if folder.is_mount():
            options = f"remount,{options}"
            subprocess.run(["mount", "-o", options, str(folder)], check=True)
        else:
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True
            )
        return folder

    yield size
    if folder.is_mount():
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def test_receive_transfer_without_room_to_unpack_names_the_folder_and_its_need(
    disk, make_transfer, new_package
):
    folder = disk(2 * MiB)
    source = make_transfer({"tape.bin": bytes(range(256)) * 16 * 1024}, as_zip=True)  # 4 MiB
    package = new_package(source)

    with pytest.raises(DiskFull) as failed:
        receive_transfer.run(package, str(source))
    message = str(failed.value)
    assert isinstance(failed.value, SystemFault)  # retried, not a verdict on the package
    assert f"Receive transfer needs about 4.0 MiB in {folder}" in message
    assert f"2 files unpacked from {package.ref.name}.zip" in message
    assert "MiB free there" in message
    assert [p.name for p in folder.iterdir()] == []  # no half-unpacked staging left

    disk(16 * MiB)
    assert receive_transfer.run(package, str(source)).files == 2


def test_normalize_without_room_for_its_copies_records_nothing_and_runs_given_room(
    disk, package_until
):
    folder = disk(64 * MiB)
    package = package_until({"plan.png": media.image("PNG", (2000, 1500))}, "create_sip")
    used = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    disk(used + 4 * MiB)  # 9 MB of TIFF to come

    with pytest.raises(DiskFull, match=rf"Normalize needs about [\d.]+ MiB in {folder}"):
        normalize_files.run(package)
    assert package.state.derivatives() == []

    disk(64 * MiB)
    result = normalize_files.run(package)
    assert (result.preservation_copies, result.access_copies) == (1, 1)


def test_a_disk_that_fills_while_writing_is_reported_as_full_naming_the_folder(disk):
    folder = disk(1 * MiB)
    with pytest.raises(DiskFull, match=f"{folder} filled up during Prepare AIP .*MiB free"):
        with disk_full_is_a_fault(folder, "Prepare AIP"):
            (folder / "big").write_bytes(b"x" * 2 * MiB)
