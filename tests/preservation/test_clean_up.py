"""Clean up: working copies go once, and only once, the AIP is safely stored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bagit
import pytest

from preservation.core.errors import StorageUnavailable, SystemFault
from preservation.intake.transfer_bucket import S3TransferSource
from preservation.services import clean_up, compress_aip, store_aip
from preservation.storage.location import quad_path

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


def test_clean_up_refuses_while_a_replica_is_not_verified(bagged, tmp_path):
    from preservation.storage.location import LocalLocation

    main, replica = LocalLocation(tmp_path / "main"), LocalLocation(tmp_path / "replica")
    store_aip.run(bagged, main)  # stored in the main location only
    with pytest.raises(StorageUnavailable, match="not verified in local folder .*replica"):
        clean_up.run(bagged, main, [replica])
    assert all(path.exists() for path in _working_copies(bagged))


@pytest.fixture
def uploaded(s3):
    """An upload in the transfer bucket, its feedback log, and another upload's log."""
    client, bucket = s3
    key = "born-digital/PP_MDM.zip"
    client.put_object(Bucket=bucket, Key=key, Body=b"zip")
    client.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": "transfer-id", "Value": "t-1"}]}
    )
    client.put_object(Bucket=bucket, Key=f"{key}.success.20261121T101500Z.log", Body=b"ok")
    client.put_object(Bucket=bucket, Key="born-digital/PP_MDM.zip2", Body=b"other")
    client.put_object(Bucket=bucket, Key="born-digital/PP_MDM.zip2.x", Body=b"other")
    return client, bucket, key


def _keys(client, bucket) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _clean_up_with_policy(bagged, monkeypatch, client, bucket, key, policy):
    monkeypatch.setenv("PRESERVATION_SOURCE_AFTER_STORAGE", policy)
    from preservation.core.settings import load_settings

    bagged.settings = load_settings()
    store_aip.run(bagged)
    return clean_up.run(bagged, drop_box=S3TransferSource(client, bucket), upload_key=key)


def test_by_default_the_source_is_left_for_the_weekly_transfer_monitor(bagged, uploaded):
    client, bucket, key = uploaded
    before = _keys(client, bucket)
    store_aip.run(bagged)
    result = clean_up.run(bagged, drop_box=S3TransferSource(client, bucket), upload_key=key)
    assert "left" in result.source and "transfer monitor" in result.source
    assert _keys(client, bucket) == before


def test_delete_now_removes_the_source_and_its_feedback_logs_only(bagged, uploaded, monkeypatch):
    client, bucket, key = uploaded
    result = _clean_up_with_policy(bagged, monkeypatch, client, bucket, key, "delete")
    assert result.source == f"deleted s3://{bucket}/{key} and 1 feedback log(s)"
    assert _keys(client, bucket) == {"born-digital/PP_MDM.zip2", "born-digital/PP_MDM.zip2.x"}


def test_keep_tags_the_source_so_the_monitor_leaves_it(bagged, uploaded, monkeypatch):
    client, bucket, key = uploaded
    _clean_up_with_policy(bagged, monkeypatch, client, bucket, key, "keep")
    tags = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert {"Key": "retention", "Value": "keep"} in tags
    assert {"Key": "transfer-id", "Value": "t-1"} in tags  # the other tags stay


def test_a_transfer_given_by_path_is_never_touched_whatever_the_policy(
    bagged, make_transfer, monkeypatch
):
    from preservation.core.settings import load_settings

    monkeypatch.setenv("PRESERVATION_SOURCE_AFTER_STORAGE", "delete")
    bagged.settings = load_settings()
    source = make_transfer({"a.txt": "a"}, as_zip=True)
    store_aip.run(bagged)
    result = clean_up.run(bagged)  # no drop box upload: a path given by hand
    assert result.source == "" and source.exists()


def test_an_unknown_source_policy_is_a_configuration_error_before_anything_goes(
    bagged, monkeypatch
):
    from preservation.core.errors import ConfigurationInvalid
    from preservation.core.settings import load_settings

    monkeypatch.setenv("PRESERVATION_SOURCE_AFTER_STORAGE", "shred")
    bagged.settings = load_settings()
    store_aip.run(bagged)
    with pytest.raises(ConfigurationInvalid, match="'shred': use one of monitor, delete, keep"):
        clean_up.run(bagged)
    assert all(path.exists() for path in _working_copies(bagged))
