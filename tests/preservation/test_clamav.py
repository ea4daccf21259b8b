"""The ClamAV backends: clamd over its socket and clamscan, on the real test database."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from preservation.core.errors import ToolError
from preservation.tools import clamav
from preservation.tools.pixel_limit import bomb, signed_formats
from tests.conftest import EICAR, TEST_MARKER
from tests.media import image

EICAR_SIGNATURE = "Eicar-Test-Signature.UNOFFICIAL"


@pytest.fixture
def samples(tmp_path):
    """A clean file, an empty one, EICAR, the test marker, and a name holding ': '."""
    folder = tmp_path / "samples"
    folder.mkdir()
    files = {
        "clean.txt": b"nothing to see",
        "empty.txt": b"",
        "eicar.com": EICAR,
        "marker.txt": b"before " + TEST_MARKER + b" after",
        "odd: name.txt": b"a colon and a space in the name",
        "Caf\u00e9 \u041f\u0440\u0438\u0432\u0435\u0442.txt": b"non-ASCII name",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


def _check_samples(results, samples):
    assert set(results) == set(samples.values())
    verdicts = {name: results[path] for name, path in samples.items()}
    assert verdicts["eicar.com"] == clamav.ScanResult(clamav.FOUND, EICAR_SIGNATURE)
    assert verdicts["marker.txt"].status == clamav.FOUND
    assert verdicts["marker.txt"].signature.startswith("Preservation.Test.Marker")
    clean = {n: v for n, v in verdicts.items() if n not in ("eicar.com", "marker.txt")}
    assert clean == {n: clamav.ScanResult(clamav.OK) for n in clean}


def test_clamscan_gives_a_verdict_per_file(home, samples):
    engine = clamav.Clamscan(home.clamav_database, 120)

    _check_samples(engine.scan(list(samples.values())), samples)


def test_clamscan_gives_a_verdict_for_images_past_the_pixel_limit_with_the_rest(
    home, samples, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_MAX_IMAGE_PIXELS", "1000")
    folder = next(iter(samples.values())).parent
    huge = {f"huge.{fmt.lower()}": image(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF")}
    for name, data in huge.items():
        (folder / name).write_bytes(data)
    engine = clamav.Clamscan(home.clamav_database, 120)

    results = engine.scan(list(samples.values()) + [folder / n for n in huge])

    _check_samples({p: v for p, v in results.items() if p.name not in huge}, samples)
    assert {p.name: v for p, v in results.items() if p.name in huge} == {
        n: clamav.ScanResult(clamav.OK) for n in huge
    }


def test_an_image_past_the_pixel_limit_is_known_by_its_first_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("PRESERVATION_MAX_IMAGE_PIXELS", "1000")
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"):
        path = tmp_path / f"huge.{fmt.lower()}"
        path.write_bytes(image(fmt))

        assert "48x32 = 1,536 pixels" in bomb(path, signed_formats()), fmt
    text = tmp_path / "notes.txt"
    text.write_text("a line of text\n" * 100)
    assert bomb(text, signed_formats()) == ""


def test_clamd_gives_a_verdict_per_file(clamd, samples):
    engine = clamav.Clamd(clamd, 120)

    _check_samples(engine.scan(list(samples.values())), samples)


def test_clamd_answers_for_every_file_of_a_batch_larger_than_one_session(clamd, tmp_path):
    count = 150
    assert count > 2 * clamav.SESSION_BATCH
    paths = []
    for number in range(count):
        path = tmp_path / f"file{number:03}.txt"
        path.write_bytes(EICAR if number == 140 else f"file number {number}\n".encode())
        paths.append(path)

    results = clamav.Clamd(clamd, 120).scan(paths)

    assert set(results) == set(paths)
    assert results[paths[140]] == clamav.ScanResult(clamav.FOUND, EICAR_SIGNATURE)
    assert {results[p].status for i, p in enumerate(paths) if i != 140} == {clamav.OK}


def test_a_file_that_vanished_is_an_error_not_a_verdict(home, clamd, tmp_path):
    gone = tmp_path / "gone.txt"

    assert clamav.Clamd(clamd, 60).scan([gone])[gone].status == clamav.ERROR
    with pytest.raises(ToolError, match="clamscan failed") as raised:
        clamav.Clamscan(home.clamav_database, 60).scan([gone])
    assert any("gone.txt" in line for line in raised.value.details)


def test_nothing_to_scan_gives_no_results(home, clamd):
    assert clamav.Clamscan(home.clamav_database, 60).scan([]) == {}
    assert clamav.Clamd(clamd, 60).scan([]) == {}


def test_clamd_reports_its_engine_version(clamd):
    engine, definitions = clamav.Clamd(clamd, 60).version()

    assert engine.startswith("ClamAV ")
    assert definitions  # the test database is unofficial: said so, never blank


def test_clamscan_reports_its_engine_and_the_database_it_loads(home, clamav_database):
    engine, definitions = clamav.Clamscan(str(clamav_database), 60).version()

    assert engine.startswith("ClamAV ") and "/" not in engine
    assert str(clamav_database) in definitions
    assert "test.hdb" in definitions and "test.ndb" in definitions


def test_clamd_is_chosen_when_its_socket_answers(home, clamd):
    settings = dataclasses.replace(home, clamd_socket=clamd)

    chosen = clamav.scanner(settings)

    assert isinstance(chosen, clamav.Clamd)
    assert chosen.program == "ClamAV (clamd)"
    assert chosen.alive()


def test_clamscan_is_chosen_when_there_is_no_clamd_socket(home):
    chosen = clamav.scanner(home)

    assert isinstance(chosen, clamav.Clamscan)
    assert chosen.program == "ClamAV (clamscan)"
    assert chosen.database == home.clamav_database


def test_clamscan_is_chosen_when_the_socket_exists_but_nothing_answers(home, tmp_path):
    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(str(path))  # a socket file nobody listens on
        settings = dataclasses.replace(home, clamd_socket=str(path))

        assert not clamav.Clamd(str(path), 5).alive()
        assert isinstance(clamav.scanner(settings), clamav.Clamscan)
        with pytest.raises(ToolError, match="clamd stopped answering"):
            clamav.Clamd(str(path), 5).version()
