"""A newcomer's `make run`, with nothing configured: Airflow on this machine only, one
admin whose password is printed once, and no DAG run or task failing or retrying in its
first minutes (the drop box is a folder, Slack's messages go to a notifications log,
housekeeping cleans the embedded database), as a person sees it in Chromium."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from preservation.deploy.cluster import free_port
from tests.browser import api_token, chromium, log_in, shoot
from tests.system.conftest import REPO

pytestmark = pytest.mark.system

#: The scheduled DAGs whose first runs start as soon as `make run` is up.
SCHEDULED = ("transfer_watcher", "housekeeping", "fixity_audit", "transfer_monitor")
PASSWORD = re.compile(r"Password for user 'admin': (\S+)")


def get(url: str, token: str = "") -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as refused:
        return refused.code, b""
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """`make run` as the README says, with the shell of a newcomer: nothing of Airflow,
    AWS, Slack or ours set but where its files go and a free port."""
    home = tmp_path_factory.mktemp("fresh") / "var"
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "PRESERVATION", "AWS_", "CLAMAV", "SLACK"))
    }
    env.update(PRESERVATION_HOME=str(home), AIRFLOW__API__PORT=str(port))
    output = home.parent / "make-run.out"
    process = subprocess.Popen(
        ["make", "-s", "run"],
        cwd=REPO,
        env=env,
        stdout=open(output, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while get(f"{api}/api/v2/monitor/health")[0] != 200:
            assert process.poll() is None, output.read_text()[-5000:]
            assert time.monotonic() < deadline, output.read_text()[-5000:]
            time.sleep(2)
        yield {"api": api, "port": port, "home": home, "output": output, "env": env}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def states(home: Path, table: str) -> list[tuple]:
    with sqlite3.connect(home / "airflow" / "airflow.db", timeout=30) as db:
        if table == "dag_run":
            return db.execute("SELECT dag_id, run_id, state FROM dag_run").fetchall()
        return db.execute(
            "SELECT dag_id, task_id, run_id, state, try_number FROM task_instance"
        ).fetchall()


def test_make_run_listens_on_this_machine_only(make_run):
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    sockets = [line.split()[3] for line in listening.splitlines()]
    on_port = [s for s in sockets if s.rsplit(":", 1)[-1] == str(make_run["port"])]
    assert on_port == ["127.0.0.1:" + str(make_run["port"])], on_port


def test_nobody_gets_in_without_the_admin_password_printed_once(make_run):
    api = make_run["api"]
    for path in ("/api/v2/dags", "/api/v2/connections", "/packages/"):
        assert get(f"{api}{path}")[0] in (401, 403), path
    text = make_run["output"].read_text()
    [password] = PASSWORD.findall(text)  # printed once, at the first start
    assert "log in as admin" in text and "printed below, this once" in text
    # Only the password file and the terminal have it: no log under the home.
    for path in make_run["home"].rglob("*"):
        if path.is_file() and not path.name.startswith("simple_auth_manager_passwords"):
            assert password.encode() not in path.read_bytes(), path


def test_a_fresh_start_shows_nothing_red_in_its_first_minutes(make_run, tmp_path):
    home = make_run["home"]

    def first_runs_done() -> bool:
        runs = states(home, "dag_run")
        ended = {dag for dag, _, state in runs if state in ("success", "failed")}
        watching = any(dag == "transfer_watcher" and s == "running" for dag, _, s in runs)
        return set(SCHEDULED) - {"transfer_watcher"} <= ended and watching

    deadline = time.monotonic() + 360
    while not first_runs_done():
        assert time.monotonic() < deadline, states(home, "dag_run")
        time.sleep(5)
    time.sleep(30)  # and a while longer: a task retrying would show by now

    runs = states(home, "dag_run")
    assert [r for r in runs if r[2] == "failed"] == []
    tasks = states(home, "task_instance")
    red = [t for t in tasks if t[3] in ("failed", "up_for_retry", "upstream_failed")]
    assert red == [], red
    assert not [t for t in tasks if t[4] > 1], "no task needed a second try"
    for dag in SCHEDULED:
        assert any(r[0] == dag for r in runs), f"{dag} has not run"

    # What a person sees: the DAG list after logging in, and no failed run anywhere.
    [password] = PASSWORD.findall(make_run["output"].read_text())
    token = api_token(make_run["api"], "admin", password)
    status, body = get(f"{make_run['api']}/api/v2/dags/~/dagRuns?state=failed", token)
    assert status == 200 and json.loads(body)["total_entries"] == 0
    with chromium(tmp_path / "chromium") as driver:
        log_in(driver, make_run["api"], "admin", password)
        driver.get(f"{make_run['api']}/dags")
        deadline = time.monotonic() + 60
        while "transfer_monitor" not in driver.find_element("tag name", "body").text:
            assert time.monotonic() < deadline, driver.find_element("tag name", "body").text
            time.sleep(1)
        time.sleep(2)
        shoot(driver, "fresh-make-run-dags")
        page = driver.find_element("tag name", "body").text
        for dag in (*SCHEDULED, "transfer_ingest", "test_transfer"):
            assert dag in page


def test_slack_messages_of_the_embedded_default_go_to_its_notifications_log(make_run):
    text = make_run["output"].read_text()
    log = make_run["home"] / "notifications.log"
    assert f"Notifications (Slack's stand-in): {log.as_uri()}" in text
    # The weekly monitor's first report (nothing happened yet) is there, as Slack gets it.
    [report] = [json.loads(line) for line in log.read_text().splitlines()]
    assert report["text"] == "Nothing happened in Archivematica."
    assert report["blocks"][0]["type"] == "section"
