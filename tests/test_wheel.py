"""Installed from its wheel (``pip install .``, not editable) into a fresh virtual
environment, the project ingests a transfer with ``preservation ingest``: the DAG files,
the Airflow adapters, the processing configurations and the format policy registry all
travel in the wheel, and nothing is read from this checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def built_wheel(tmp_path: Path) -> Path:
    # Built from a copy, so the checkout gets no build/ or egg-info of its own.
    source = tmp_path / "source"
    for part in ("preservation", "plugins", "dags"):
        shutil.copytree(REPO / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", source)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
        check=True,
        timeout=600,
    )
    [wheel] = dist.glob("preservation-*.whl")
    return wheel


def fresh_environment(tmp_path: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed. Its dependencies (Airflow and the rest) are
    those of the test's own environment, reached through a path file: installing Airflow
    again would take minutes, and the project's own code must come only from the wheel."""
    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=True)
    python = fresh / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A bare path line: the test environment's own path files (among them the editable
    # install of this checkout) are not read.
    Path(site, "test-environment-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    return fresh


def test_the_installed_wheel_ingests_a_transfer(tmp_path, home, make_transfer):
    fresh = fresh_environment(tmp_path, built_wheel(tmp_path))
    where = subprocess.run(
        [
            str(fresh / "bin" / "python"),
            "-c",
            "import preservation, preservation_airflow, preservation_dags;"
            "print(preservation.__file__, preservation_airflow.__file__,"
            " *preservation_dags.__path__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert all(path.startswith(str(fresh)) for path in where), where

    transfer = make_transfer({"letter.txt": b"Dear archivist", "sub/notes.txt": b"notes"})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(fresh / "bin" / "preservation"), "ingest", str(transfer)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "stored"
    stored = Path(result["aip_path"])
    assert stored.is_relative_to(home.aip_store) and stored.exists()
    # Installed, the plugins folder is the one-line loader made in PRESERVATION_HOME.
    assert (home.home / "airflow-plugins" / "preservation_plugin.py").is_file()
