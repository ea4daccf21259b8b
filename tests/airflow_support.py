"""Running the real transfer_ingest DAG from tests: the preservation CLI and Airflow's CLI.

One Airflow home (SQLite metadata database) per test session, migrated once; each test
gets its own PRESERVATION_HOME (processing directory and AIP store).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def isolate_airflow_env(monkeypatch, airflow_home: Path) -> None:
    """Drop any AIRFLOW_* settings of the developer's shell; use the session's home."""
    for name in list(os.environ):
        if name.startswith("AIRFLOW"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_HOME", str(airflow_home))
    monkeypatch.setenv("PRESERVATION_TASK_RETRIES", "0")


def ingest(path: Path | str, config: str = "default", timeout: int = 600) -> tuple[int, dict, str]:
    """Run ``preservation ingest``; returns (exit code, last-line JSON, whole output)."""
    done = subprocess.run(
        [str(BIN / "preservation"), "ingest", str(path), "--processing-config", config],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, json.loads(lines[-1]), done.stdout + done.stderr


def task_instances(airflow_home: Path, run_id: str) -> dict[str, tuple[str, int]]:
    """(state, try_number) of each task of a transfer_ingest run, from Airflow's database
    (for a mapped task, its first chunk's)."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, state, try_number FROM task_instance "
            "WHERE dag_id = 'transfer_ingest' AND run_id = ? AND map_index IN (-1, 0) "
            "ORDER BY map_index",
            (run_id,),
        ).fetchall()
    return {task: (state, tries) for task, state, tries in rows}


def airflow_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """The Airflow CLI on the embedded default, as ``preservation airflow`` runs it."""
    return subprocess.run(
        [str(BIN / "preservation"), "airflow", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


#: Airflow's own ``main`` (airflow/__main__.py) given one command after another in one
#: process: Airflow is imported once, not once per command (each ``tasks test`` in a
#: process of its own cost about 10 s here, mostly that import). Each command's output
#: ends with a marker line, so a command that never ran (the loop left early, even with
#: exit code 0) is seen.
_COMMANDS_IN_ONE_PROCESS = """
import json, sys
from airflow.__main__ import main

marker = sys.argv[2]
for number, argv in enumerate(json.loads(sys.argv[1])):
    sys.argv = ["airflow", *argv]
    main()
    print(f"{marker}{number}", flush=True)
"""
_MARKER = "=== airflow_cli_each: done with command "


def airflow_cli_each(*commands: list[str], timeout: int = 900) -> list[str]:
    """Airflow CLI ``commands`` run in turn in one process on the embedded default;
    returns each command's output (stdout and stderr). Fails unless every command ran and
    the process ended 0."""
    from preservation.core.settings import load_settings
    from preservation.deploy.embedded import airflow_environment

    done = subprocess.run(
        # -P: nothing imported from the working directory, as from the `airflow` script.
        [sys.executable, "-P", "-c", _COMMANDS_IN_ONE_PROCESS, json.dumps(commands), _MARKER],
        env=airflow_environment(load_settings()) | {"PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    outputs, rest = [], done.stdout
    for number in range(len(commands)):
        before, found, rest = rest.partition(f"{_MARKER}{number}\n")
        if not found:
            raise AssertionError(
                f"command {number} ({' '.join(commands[number])}) never finished "
                f"(exit code {done.returncode}): {(before or rest)[-3000:]}"
            )
        outputs.append(before)
    assert done.returncode == 0, rest[-3000:]
    return outputs


def ensure_airflow_database() -> None:
    """Migrate the session's metadata database once (as ``preservation ingest`` does)."""
    from preservation.core.settings import load_settings
    from preservation.deploy.cli import ensure_database
    from preservation.deploy.embedded import airflow_environment

    with open(os.devnull, "w") as log:
        ensure_database(airflow_environment(load_settings()), log)
