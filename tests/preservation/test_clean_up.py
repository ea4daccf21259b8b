"""Clean up: working copies go once, and only once, the AIP is safely stored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bagit
import pytest

from preservation import clean_up, compress_aip, store_aip
from preservation.errors import StorageUnavailable, SystemFault
from preservation.storage import quad_path

FILES = {"a.txt": "hello", "sub/b.txt": "world"}


def _working_copies(package) -> list[Path]:
    return [package.transfer_dir, package.sip_dir, package.state_path]


@pytest.fixture
def bagged(package_until):
    return package_until(FILES, "compress_aip")


def test_clean_up_refuses_while_the_aip_is_not_stored(bagged):
    with pytest.raises(StorageUnavailable) as caught:
        clean_up.run(bagged)
    assert isinstance(caught.value, SystemFault)  # retried: storage may yet be reachable
    assert bagged.ref.aip_uuid in str(caught.value)
    for path in _working_copies(bagged):
        assert path.exists(), path
    bagit.Bag(str(bagged.sip_dir)).validate()


def test_clean_up_refuses_when_storage_holds_only_a_half_written_copy(bagged):
    folder = bagged.settings.aip_store / quad_path(bagged.ref.aip_uuid)
    (folder / f".{bagged.ref.aip_name}.partial").mkdir(parents=True)
    with pytest.raises(StorageUnavailable):
        clean_up.run(bagged)
    assert all(path.exists() for path in _working_copies(bagged))


def test_after_storage_clean_up_removes_transfer_sip_and_state(bagged):
    stored = store_aip.run(bagged)
    result = clean_up.run(bagged)
    for path in _working_copies(bagged):
        assert not path.exists(), path
        assert str(path) in result.removed
    leftovers = sorted(p.name for p in bagged.settings.processing_directory.iterdir())
    assert leftovers == []  # no -wal/-shm files either
    bagit.Bag(stored.aip_path).validate()  # the stored AIP is untouched


def test_after_storage_clean_up_removes_the_compressed_package_and_pointer(bagged):
    bagged.config = dataclasses.replace(bagged.config, compression="tar.gz", compression_level=1)
    compressed = compress_aip.run(bagged)
    stored = store_aip.run(bagged)
    result = clean_up.run(bagged)
    for path in (compressed.package_path, compressed.pointer_path):
        assert not Path(path).exists()
        assert path in result.removed
    assert list(bagged.settings.processing_directory.iterdir()) == []
    stored_folder = Path(stored.aip_path).parent
    assert (stored_folder / Path(compressed.pointer_path).name).is_file()
    assert Path(stored.aip_path).is_file()


def test_cleaning_up_twice_is_harmless(bagged):
    store_aip.run(bagged)
    clean_up.run(bagged)
    again = clean_up.run(bagged)
    assert again.removed == []
    assert list(bagged.settings.processing_directory.iterdir()) == []
