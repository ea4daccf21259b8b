"""The stuck-transfer watchdog, run as its schedule runs it (`dags test`) on the embedded
default: a transfer_ingest run going longer than its size allows is told to Slack once,
however often the watchdog runs."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.airflow_support import airflow_cli, ensure_airflow_database

pytestmark = pytest.mark.airflow


def test_a_run_going_too_long_is_told_to_slack_once(
    airflow_env, airflow_home, home, slack, make_transfer, monkeypatch
):
    monkeypatch.setenv("PRESERVATION_STUCK_AFTER_MINUTES", "0")  # any run is late
    ensure_airflow_database()
    source = make_transfer({"a.txt": "a"}, as_zip=True)
    assert airflow_cli("dags", "reserialize").returncode == 0  # the DAGs known to the database
    # A run nothing picks up (no scheduler here): queued, and late at once.
    run_id = f"stuck__{source.stem}"
    started = airflow_cli(
        "dags", "trigger", "transfer_ingest", "--run-id", run_id,
        "--conf", json.dumps({"transfer": str(source)}),
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        for _ in range(2):
            done = airflow_cli("dags", "test", "stuck_transfers", timeout=600)
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        told = [m for m in slack.messages if run_id in m["text"]]
        assert len(told) == 1
        assert "running far longer than expected" in told[0]["text"]
        assert str(source) in told[0]["text"] and "waiting to start" in told[0]["text"]
    finally:
        with sqlite3.connect(airflow_home / "airflow.db") as db:  # no run left queued
            db.execute("UPDATE dag_run SET state = 'failed' WHERE run_id = ?", (run_id,))
