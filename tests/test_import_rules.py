"""The import rules of pyproject.toml's [tool.importlinter], checked by import-linter: the
domain library never imports Airflow, nothing in it imports deployment (``deploy/``), the
METS/PREMIS/BagIt writers (``metadata/``) never import the pipeline or a micro-service, no
micro-service imports another (what they share lives in ``shared/``), and each layer of the
library imports only the layers below it."""

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


def copy_of_the_code(to: Path) -> None:
    for part in ("preservation", "plugins", "pyproject.toml"):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copy
        copy(REPO / part, to / part)


def test_the_code_keeps_every_import_rule():
    done = lint(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def lint_with(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess:
    """import-linter's verdict on a copy of the code with ``line`` added to ``module``."""
    copy_of_the_code(tmp_path)
    with open(tmp_path / module, "a") as source:
        source.write(f"\n{line}  # noqa: E402,F401\n")
    return lint(tmp_path)


def test_a_micro_service_importing_another_breaks_the_rules(tmp_path):
    done = lint_with(
        tmp_path,
        "preservation/services/validate_files.py",
        "from preservation.services import store_aip",
    )
    assert done.returncode == 1
    assert "preservation.services.validate_files -> preservation.services.store_aip" in done.stdout


def test_a_metadata_writer_reaching_up_to_a_micro_service_breaks_the_layers(tmp_path):
    done = lint_with(
        tmp_path, "preservation/metadata/mets.py", "from preservation.services import store_aip"
    )
    assert done.returncode == 1
    assert "preservation.metadata.mets -> preservation.services.store_aip" in done.stdout
    assert "Contracts: 2 kept, 3 broken." in done.stdout
