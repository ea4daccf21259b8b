"""Hostile packages through ``preservation ingest`` and ``preservation validate-transfer``,
as a new user runs them, with retries on: a verdict on the package fails its task at the
first try with the reason, never retried as if the system had failed; an odd but sound
package is stored with its names kept."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from tests.airflow_support import BIN, ingest, task_instances
from tests.conftest import CATALOGUED_CSV
from tests.media import raw_zip

pytestmark = pytest.mark.airflow
METADATA = {"name": b"metadata/metadata.csv", "data": CATALOGUED_CSV.encode()}


def validate_transfer(path: Path) -> tuple[int, str]:
    done = subprocess.run(
        [str(BIN / "preservation"), "validate-transfer", str(path), "--kind", "catalogued"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout


def folder_with_fifo(tmp_path: Path) -> Path:
    folder = tmp_path / "transfer"
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "metadata.csv").write_text(CATALOGUED_CSV)
    (folder / "a.txt").write_text("a")
    os.mkfifo(folder / "pipe")
    return folder


VERDICTS = {
    "a member twice": (
        [{"name": b"a.txt", "data": b"1"}, {"name": b"a.txt", "data": b"2"}, METADATA],
        "receive_transfer",
        "a.txt: in the archive twice",
    ),
    "an identifier with a line break": (
        [
            {"name": b"a.txt", "data": b"a"},
            {
                "name": b"metadata/metadata.csv",
                "data": b'filename,dc.identifier\nobjects/,"PP/1\nForged: yes"\n',
            },
        ],
        "verify_transfer_compliance",
        "an identifier is one line of text",
    ),
    "folders 3000 deep": (
        [{"name": ("d/" * 3000 + "f.txt").encode(), "data": b"d"}, METADATA],
        "receive_transfer",
        "folders deep, more than the limit of 100",
    ),
}


@pytest.mark.parametrize("family", list(VERDICTS))
def test_a_verdict_fails_its_task_at_the_first_try_and_pre_flight_said_it_first(
    airflow_env, home, tmp_path, monkeypatch, family
):
    monkeypatch.setenv("PRESERVATION_TASK_RETRIES", "2")
    entries, task, words = VERDICTS[family]
    source = tmp_path / "package.zip"
    source.write_bytes(raw_zip(entries))
    code, report = validate_transfer(source)
    assert code == 1 and words in report
    code, result, _ = ingest(source, "automated")
    assert code == 1 and result["failed_task"] == task
    assert words in result["reason"]
    assert task_instances(airflow_env, result["run_id"])[task] == ("failed", 1)


def test_a_folder_holding_a_fifo_ends_with_a_verdict_instead_of_hanging(
    airflow_env, home, tmp_path, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_TASK_RETRIES", "2")
    code, result, _ = ingest(folder_with_fifo(tmp_path), "automated", timeout=300)
    assert code == 1 and result["failed_task"] == "receive_transfer"
    assert "pipe: named pipe (FIFO); only files and folders are accepted" in result["reason"]
    assert task_instances(airflow_env, result["run_id"])["receive_transfer"] == ("failed", 1)


def test_a_sound_package_of_odd_names_is_stored_with_every_name_kept(airflow_env, home, tmp_path):
    source = tmp_path / "odd names.zip"
    source.write_bytes(
        raw_zip(
            [
                {"name": "Résumé.txt".encode("cp437"), "data": b"cv", "system": 0},
                {"name": b"line\nbreak.txt", "data": b"one"},
                {"name": b"caf\xe9.txt", "data": b"latin", "flags": 0x800},
                METADATA,
            ]
        )
    )
    code, _ = validate_transfer(source)
    assert code == 0
    code, result, output = ingest(source, "automated")
    assert code == 0, output[-3000:]
    bag = Path(result["aip_path"])
    mets = etree.parse(str(next(bag.glob("data/METS.*.xml"))))
    names = {
        n.text.removeprefix("%transferDirectory%objects/")
        for n in mets.iterfind(".//{http://www.loc.gov/premis/v3}originalName")
        if n.text.startswith("%transferDirectory%objects/") and n.text.endswith(".txt")
    }
    assert names == {"Résumé.txt", "line\\nbreak.txt", "caf\\xe9.txt"}
    stored = {p.name: p.read_bytes() for p in (bag / "data" / "objects").glob("*.txt")}
    assert stored == {"Resume.txt": b"cv", "line_break.txt": b"one", "caf_.txt": b"latin"}
    info = (bag / "bag-info.txt").read_text().splitlines()
    assert all(": " in line for line in info)  # one field per line, none forged
