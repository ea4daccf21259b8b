"""The embedded default deployment: Airflow on SQLite under ``PRESERVATION_HOME``.

Builds the environment the Airflow CLI and the ingest runner need (no Airflow import
here: this library never imports Airflow). Values already set in the environment win,
so a platform engineer can point the same commands at PostgreSQL or another DAG folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from preservation.core.settings import Settings
from preservation.deploy.airflow_files import dags_folder, plugins_folder


def airflow_environment(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment variables for running Airflow on the embedded default."""
    env = dict(os.environ if base is None else base)
    env["PRESERVATION_HOME"] = str(settings.home)
    env.setdefault("AIRFLOW_HOME", str(settings.airflow_home))
    if "AIRFLOW__CORE__DAGS_FOLDER" not in env:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder())
    if "AIRFLOW__CORE__PLUGINS_FOLDER" not in env:
        env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins_folder(settings.home))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    # Loopback unless told otherwise: the UI and its API are for this machine's user.
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    port = env.setdefault("AIRFLOW__API__PORT", "8080")
    env.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://127.0.0.1:{port}/execution/")
    # The api-server builds the Execution API's routes at its first call, 6-9 s on two
    # busy cores at a fresh start: with Airflow's 5 s, the first tasks timed out and were
    # killed, and needed a second try.
    env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "30")
    # dag.test and the standalone scheduler run a few tasks at a time on one machine, and
    # each chunk already uses every core: more chunks buy nothing here but each mapped
    # task's own start (a 100,000-file transfer: 20 chunks per stage, not 64).
    env.setdefault("PRESERVATION_CHUNK_FILES", "5000")
    # Slack is not set up here: its messages go to a notifications log instead.
    env.setdefault("PRESERVATION_NOTIFICATIONS", (settings.home / "notifications.log").as_uri())
    # Airflow keeps task processes away from its database; housekeeping's `airflow db
    # clean` is given it by name.
    env.setdefault(
        "PRESERVATION_METADATA_DB",
        env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        or f"sqlite:///{Path(env['AIRFLOW_HOME']).resolve()}/airflow.db",
    )
    # `airflow standalone` starts its components as `airflow …` from PATH.
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [bin_dir, *[p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir]]
    )
    plugins = env["AIRFLOW__CORE__PLUGINS_FOLDER"]
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([plugins, *[p for p in paths if p != plugins]])
    return env
