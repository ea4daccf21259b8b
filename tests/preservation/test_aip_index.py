"""The AIP index: stored AIPs found by UUID, identifier (versions) and transfer."""

from __future__ import annotations

import uuid

from preservation.storage.aip_index import FileRecords, Index

A, B, C = (f"{n}a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" for n in "012")


def test_versions_of_an_identifier_come_newest_first(tmp_path):
    index = Index(FileRecords(tmp_path))
    index.register(A, "born-digital", "k/a", "PP/MDM/A/1", "t-1", "aa")
    index.register(B, "born-digital", "k/b", "PP/MDM/A/1", "t-2", "bb")
    index.register(C, "born-digital", "k/c", "Other/1", "t-3", "cc")
    assert [(v.aip_uuid, v.version) for v in index.versions("PP/MDM/A/1")] == [(B, 2), (A, 1)]
    assert index.transfer_stored("t-2").aip_uuid == B
    assert index.resolve("PP/MDM/A/1").aip_uuid == B
    assert index.resolve("PP/MDM/A/1", version=1).aip_uuid == A
    assert index.resolve(C).identifier == "Other/1"
    assert {r.aip_uuid for r in index.all()} == {A, B, C}


def test_registering_again_adds_no_version(tmp_path):
    index = Index(FileRecords(tmp_path))
    first = index.register(A, "born-digital", "k/a", "X/1", "t-1", None)
    again = index.register(A, "born-digital", "k/a", "X/1", "t-1", None)
    assert again == first
    assert len(index.versions("X/1")) == 1


def _register(root, aip_uuid):
    return Index(FileRecords(root)).register(aip_uuid, "", aip_uuid, "X/1", aip_uuid, None)


def test_concurrent_stores_of_one_identifier_take_distinct_versions(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    aips = [str(uuid.uuid4()) for _ in range(12)]
    with ProcessPoolExecutor(6) as pool:
        records = list(pool.map(_register, [tmp_path] * len(aips), aips))
    assert sorted(r.version for r in records) == list(range(1, 13))
    versions = Index(FileRecords(tmp_path)).versions("X/1")
    assert sorted(v.aip_uuid for v in versions) == sorted(aips)


def test_identifiers_with_slashes_and_dots_stay_inside_the_index(tmp_path):
    index = Index(FileRecords(tmp_path / "index"))
    index.register(A, "", "k/a", "../../escape", "t-1", None)
    index.register(B, "", "k/b", "a/b/c", "t-2", None)
    assert index.resolve("../../escape").aip_uuid == A
    assert index.resolve("a/b/c").aip_uuid == B
    assert not (tmp_path / "escape").exists()
    assert all(p.is_relative_to(tmp_path / "index") for p in tmp_path.rglob("*.json"))
