"""The preservation plugin for Airflow's UI: the Packages page (every transfer by name,
stage, reason and AIP) in the navigation, a Package tab on every run's page, and the
label Airflow's UI lacks for the runs the transfer watcher starts.

The page is a FastAPI app the api-server mounts at ``/packages``, built on its first
request (every other Airflow component loads plugins too, and has no use for it).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from preservation_airflow.views.ui_translations import CompleteUiTranslations


class _Packages:
    """The packages app, imported when the api-server first serves it."""

    app = None

    async def __call__(self, scope, receive, send):
        if _Packages.app is None:
            from preservation_airflow.views.packages_view import app

            _Packages.app = app
        await _Packages.app(scope, receive, send)


class PreservationPlugin(AirflowPlugin):
    name = "preservation"
    fastapi_apps = [{"app": _Packages(), "url_prefix": "/packages", "name": "Packages"}]
    fastapi_root_middlewares = [
        {"middleware": CompleteUiTranslations, "name": "The UI's missing run-type label"}
    ]
    external_views = [
        {
            "name": "Packages",
            "href": "/packages/",
            "url_route": "packages",
            "destination": "nav",
            "nav_top_level": True,
        },
        {
            "name": "Package",
            "href": "/packages/dag/{DAG_ID}/run/{RUN_ID}",
            "url_route": "package",
            "destination": "dag_run",
        },
    ]
