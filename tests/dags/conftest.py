import pytest

from tests.airflow_support import isolate_airflow_env


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory):
    return tmp_path_factory.mktemp("airflow-home")


@pytest.fixture
def airflow_env(monkeypatch, airflow_home, home):
    isolate_airflow_env(monkeypatch, airflow_home)
    return airflow_home
