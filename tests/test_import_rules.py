"""The import rules of pyproject.toml's [tool.importlinter], checked by import-linter: the
domain library never imports Airflow, micro-services and the METS/PREMIS/BagIt writers
never import deployment, the writers never import the pipeline, and no micro-service
imports another (what stages share lives in shared modules: file_registry,
format_identification, virus_scanning, characterization, validation, file_renaming,
aip_package, derivatives, transfer_package, locations)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "plugins")])}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_code_keeps_every_import_rule():
    done = lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 4 kept, 0 broken." in done.stdout


def test_a_micro_service_importing_another_breaks_the_rules(tmp_path):
    for part in ("preservation", "plugins", "pyproject.toml"):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy
        copy(REPO / part, tmp_path / part)
    with open(tmp_path / "preservation" / "validate_files.py", "a") as module:
        module.write("\nfrom preservation import store_aip  # noqa: E402,F401\n")
    done = lint(tmp_path)
    assert done.returncode == 1
    assert "preservation.validate_files -> preservation.store_aip" in done.stdout
