"""Store DIP: access copies, thumbnails and METS, beside the AIP, named like it."""

from pathlib import Path

import pytest

from preservation.core.errors import BagInvalid
from preservation.services import store_dip
from preservation.storage.location import quad_path
from tests import media
from tests.conftest import run_stage


@pytest.fixture
def stored(package_until):
    files = {"img.png": media.image("PNG"), "notes.txt": "hello"}
    package = package_until(files, "store_dip")
    return package, run_stage(package, "store_dip")


def test_the_dip_holds_access_copies_thumbnails_and_the_mets(stored):
    package, result = stored
    folder = Path(result.dip_path)
    assert (
        folder
        == package.settings.dip_store / quad_path(package.ref.aip_uuid) / package.ref.aip_name
    )
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    originals = {r.path: r.uuid for r in package.state.files(group="original")}
    assert f"objects/{originals['objects/img.png']}-img.jpg" in names
    assert f"objects/{originals['objects/notes.txt']}-notes.txt" in names
    assert f"thumbnails/{originals['objects/img.png']}.jpg" in names
    assert f"METS.{package.ref.aip_uuid}.xml" in names
    assert result.access_copies == 2 and result.thumbnails == 1
    assert store_dip.verify(folder) == []


def test_storing_again_keeps_the_stored_dip(stored):
    package, result = stored
    again = store_dip.run(package)
    assert again.dip_path == result.dip_path


def test_a_damaged_stored_dip_is_reported_file_by_file(stored):
    package, result = stored
    folder = Path(result.dip_path)
    victim = next((folder / "objects").glob("*.jpg"))
    victim.write_bytes(b"changed")
    (folder / "objects" / "extra.bin").write_bytes(b"x")
    problems = store_dip.verify(folder)
    assert f"changed: objects/{victim.name}" in problems
    assert "untracked: objects/extra.bin" in problems
    with pytest.raises(BagInvalid):
        store_dip.run(package)


def test_no_access_copies_and_no_thumbnails_means_no_dip(package_until):
    package = package_until(
        {"notes.txt": "hello"},
        "store_aip",
        config="born_digital",
        metadata={"metadata.csv": "filename,dc.identifier\nobjects/,X/1\n"},
    )
    assert "no DIP" in str(run_stage(package, "store_dip"))


def test_a_dip_store_on_s3_holds_the_dip_checked_and_indexed(package_until, s3):
    from preservation.storage.s3_storage import S3Location

    client, bucket = s3
    package = package_until({"img.png": media.image("PNG")}, "store_aip")
    location = S3Location(client, bucket, "dips", "born-digital")
    result = store_dip.run(package, location)
    quads = quad_path(package.ref.aip_uuid)
    assert result.dip_path == f"s3://{bucket}/dips/born-digital/{quads}/{package.ref.aip_name}"
    assert (result.access_copies, result.thumbnails) == (1, 1)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    base = f"dips/born-digital/{quads}/{package.ref.aip_name}"
    assert f"{base}/{store_dip.MANIFEST}" in keys
    assert f"{base}/METS.{package.ref.aip_uuid}.xml" in keys
    assert location.index.record(package.ref.aip_uuid).key == base

    # Damaged in the bucket: storing again reads it back and names the file.
    victim = next(k for k in keys if k.startswith(f"{base}/objects/"))
    client.put_object(Bucket=bucket, Key=victim, Body=b"changed")
    with pytest.raises(BagInvalid) as caught:
        store_dip.run(package, location)
    assert f"changed: objects/{victim.rsplit('/', 1)[1]}" in caught.value.details
