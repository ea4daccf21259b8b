"""The micro-service operator turns library outcomes into Airflow task states."""

import pytest

from tests.airflow_support import airflow_cli, task_instances

pytestmark = pytest.mark.airflow


def test_a_run_that_names_no_transfer_fails_at_once_saying_how_to_trigger_it(airflow_env):
    from tests.airflow_support import ensure_airflow_database

    ensure_airflow_database()
    done = airflow_cli("dags", "test", "transfer_ingest")
    output = done.stdout + done.stderr
    assert 'The run names no transfer: trigger it with conf {"transfer"' in output
    run_id = next(
        line.split("run_id=")[1].split()[0].strip(",'\"")
        for line in output.splitlines()
        if "run_id=" in line
    )
    states = task_instances(airflow_env, run_id)
    assert states["receive_transfer"] == ("failed", 1)
    assert states["clean_up"][0] == "upstream_failed"
