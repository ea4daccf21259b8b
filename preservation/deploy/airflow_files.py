"""Where Airflow finds the DAG files and the preservation plugin.

A source checkout has them as ``dags/`` and ``plugins/``. Installed from a wheel, the DAG
files are the package ``preservation_dags`` and the adapters the package
``preservation_airflow`` (both in the wheel); the plugins folder is then one file under
``PRESERVATION_HOME`` that loads the plugin from the package. ``AIRFLOW__CORE__DAGS_FOLDER``
and ``AIRFLOW__CORE__PLUGINS_FOLDER``, when set, win over both.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from preservation.core.errors import ConfigurationInvalid

CHECKOUT = Path(__file__).resolve().parents[2]
PLUGIN_LOADER = (
    '"""Loads the preservation plugin from the installed package."""\n\n'
    "from preservation_airflow.plugin import PreservationPlugin  # noqa: F401\n"
)


def dags_folder() -> Path:
    """The folder of the preservation DAG files."""
    if (CHECKOUT / "dags" / "transfer_ingest.py").is_file():
        return CHECKOUT / "dags"
    return _installed("preservation_dags")


def plugins_folder(home: Path) -> Path:
    """A plugins folder that loads the preservation plugin (made under ``home`` for an
    installed wheel)."""
    if (CHECKOUT / "plugins" / "preservation_plugin.py").is_file():
        return CHECKOUT / "plugins"
    _installed("preservation_airflow")
    folder = home / "airflow-plugins"
    loader = folder / "preservation_plugin.py"
    if not loader.is_file() or loader.read_text() != PLUGIN_LOADER:
        folder.mkdir(parents=True, exist_ok=True)
        loader.write_text(PLUGIN_LOADER)
    return folder


def _installed(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationInvalid(
            f"The package {package!r} is not installed: install this project (pip install .) "
            "or run it from a source checkout"
        )
    return Path(next(iter(spec.submodule_search_locations)))
