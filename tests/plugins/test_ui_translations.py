"""Airflow's UI names the watcher's runs in words: the English labels it fetches are
Airflow's own with the run type it lacks added, and nothing else it fetches changes."""

import json

from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from preservation_airflow.views.ui_translations import CompleteUiTranslations, shipped_ui

SHIPPED = shipped_ui()


def ui_server(base: str = "") -> TestClient:
    """Airflow's UI files served at <base>/static as its api-server serves them, behind
    the plugin's middleware."""
    app = Starlette()
    app.mount(f"{base}/static", StaticFiles(directory=SHIPPED, html=True))
    app.add_middleware(CompleteUiTranslations)
    return TestClient(app)


def test_the_english_labels_name_a_run_started_by_the_watcher():
    answer = ui_server().get("/static/i18n/locales/en/common.json")
    assert answer.status_code == 200
    labels = answer.json()
    assert labels["runTypes"]["operator_triggered"] == "Triggered by a Dag"


def test_every_label_airflow_ships_is_served_unchanged():
    shipped = json.loads((SHIPPED / "i18n/locales/en/common.json").read_text())
    served = ui_server().get("/static/i18n/locales/en/common.json").json()
    served["runTypes"].pop("operator_triggered")
    shipped["runTypes"].pop("operator_triggered", None)
    assert served == shipped


def test_the_other_files_of_the_ui_pass_through_untouched():
    client = ui_server()
    for name in ("i18n/locales/en/dags.json", "i18n/locales/de/common.json"):
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200
        assert answer.content == (SHIPPED / name).read_bytes()


def test_the_labels_are_completed_under_a_base_path_and_a_versioned_url():
    answer = ui_server("/archive").get("/archive/static/i18n/locales/en/common.json?v=3.3.2")
    assert answer.json()["runTypes"]["operator_triggered"] == "Triggered by a Dag"


def test_a_head_request_is_told_the_size_without_the_body():
    answer = ui_server().head("/static/i18n/locales/en/common.json")
    assert answer.status_code == 200
    assert int(answer.headers["content-length"]) > 0
    assert answer.content == b""


def test_without_a_built_ui_the_request_is_airflows_and_the_log_says_why(tmp_path, caplog):
    app = Starlette()
    app.mount("/static", StaticFiles(directory=tmp_path, html=True))
    app.add_middleware(CompleteUiTranslations, ui=tmp_path)
    answer = TestClient(app).get("/static/i18n/locales/en/common.json")
    assert answer.status_code == 404  # what Airflow's own static files answer
    assert "The UI's labels are served as Airflow ships them" in caplog.text
    assert "common.json" in caplog.text
