"""Chunks: the per-file stages of a large transfer split into stable parts."""

import dataclasses

from preservation.core import chunks
from preservation.core.settings import load_settings
from preservation.services import normalize_files
from tests import media


def test_chunks_split_the_files_once_and_cover_each_exactly_once(package_until, monkeypatch):
    monkeypatch.setenv("PRESERVATION_CHUNK_FILES", "3")
    files = {f"f{i}.png": media.image("PNG", (8 + i, 8)) for i in range(10)}
    package = package_until(files, "extract_packages")
    assert chunks.plan(package) == 4  # ceil(10 / 3)
    originals = package.state.files(group="original")
    parts = [chunks.select(originals, chunks.of(package, i)) for i in range(4)]
    assert sorted(r.uuid for part in parts for r in part) == sorted(r.uuid for r in originals)
    # A retry in a worker configured otherwise still sees the same split.
    monkeypatch.setenv("PRESERVATION_CHUNK_FILES", "100")
    retry = dataclasses.replace(package, settings=load_settings())
    try:
        assert retry.settings.chunk_files == 100
        assert chunks.plan(retry) == 4
    finally:
        retry.close()


def test_each_chunk_normalizes_only_its_files_and_together_they_do_all(
    package_until, run_until, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_CHUNK_FILES", "2")
    files = {f"f{i}.png": media.image("PNG", (8 + i, 8)) for i in range(6)}
    package = package_until(files, "create_sip")
    count = chunks.plan(package)
    made = [normalize_files.run(package, chunk=i).preservation_copies for i in range(count)]
    assert sum(made) == 6
    assert len(package.state.files(group="preservation")) == 6


def test_the_count_stays_well_under_airflows_map_limit(package_until, monkeypatch):
    monkeypatch.setenv("PRESERVATION_CHUNK_FILES", "1")
    files = {f"f{i}.txt": str(i) for i in range(70)}
    package = package_until(files, "extract_packages")
    assert chunks.plan(package) == chunks.MAX_CHUNKS == 64


def test_a_chunk_reads_and_counts_only_its_own_files(package_until, monkeypatch):
    monkeypatch.setenv("PRESERVATION_CHUNK_FILES", "4")
    files = {f"d{i % 3}/f{i}.txt": str(i) for i in range(25)}
    package = package_until(files, "extract_packages")
    count = chunks.plan(package)
    everyone = package.state.files(group="original")
    for i in range(count):
        expected = chunks.select(everyone, chunks.of(package, i))
        assert chunks.originals(package, i) == expected  # same files, same path order
        assert chunks.count(package, i) == len(expected)
    assert chunks.count(package, None) == len(chunks.originals(package, None)) == 25
