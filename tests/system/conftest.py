"""The production topology as native processes, started as a platform engineer would
without Docker: ``preservation cluster up`` (:mod:`preservation.cluster`, the components
of ``docker-compose.yaml``) on the machine's PostgreSQL and Redis, with the Celery
executor, two Celery workers, the api-server, scheduler, dag-processor and triggerer, and
S3 (moto's server, through the Airflow connection) as the transfer bucket and AIP store.

One cluster per test session, named for the session: its own PostgreSQL database, Celery
queues and buckets (so concurrent sessions on the same machine never take each other's
tasks), under the session's tmp folder. ``preservation cluster down --drop`` stops it at
the end, and the session checks that no process of it is left. The components' logs'
tails are attached to a failing test's report.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from preservation import cluster as native_cluster
from tests.conftest import sns_subscription

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
DAG_ID = "transfer_ingest"
FINISHED = ("success", "failed")


@dataclass
class SystemCluster:
    """Test helpers around a running native cluster (:class:`preservation.cluster.Cluster`)."""

    native: native_cluster.Cluster
    sns: object  # reads what SNS published (tests.conftest.sns_subscription)

    @property
    def env(self) -> dict[str, str]:
        return self.native.env

    @property
    def database(self) -> str:
        return self.native.database

    @property
    def queue(self) -> str:
        return self.native.site.default_queue

    @property
    def heavy_queue(self) -> str:
        return self.native.site.heavy_queue

    @property
    def bucket(self) -> str:
        """The transfer bucket."""
        return self.native.site.transfer_bucket

    @property
    def aip_bucket(self) -> str:
        return self.native.site.aip_bucket

    @property
    def airflow_home(self) -> Path:
        return self.native.airflow_home

    def s3(self):
        """A boto3 client on the deployment's S3 (moto's server)."""
        return self.native.s3()

    def drop_box(self):
        """The transfer bucket as the watcher sees it."""
        from preservation.transfer_bucket import S3TransferSource

        return S3TransferSource(self.s3(), self.bucket)

    def aip_location(self):
        from preservation.s3_storage import S3Location

        return S3Location(self.s3(), self.aip_bucket, "aips")

    # -- processes -------------------------------------------------------------------
    def airflow(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        """Run one Airflow CLI command against this deployment."""
        return self.native.airflow(*args, timeout=timeout)

    def check_alive(self) -> None:
        self.native.check_alive()

    def log(self, name: str) -> str:
        path = self.native.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def report(self, lines: int = 60) -> str:
        parts = [f"logs kept in {self.native.logs} (task logs in {self.airflow_home / 'logs'})"]
        for path in sorted(self.native.logs.glob("*.log")):
            parts.append(f"----- {path.stem} (last {lines} lines) -----")
            parts.append(native_cluster.tail(path, lines))
        return "\n".join(parts)

    # -- metadata database -----------------------------------------------------------
    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg2.connect(dbname=self.database, **PG) as db, db.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        db.close()
        return rows

    def wait_for(self, what: str, check, timeout: float, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def unpause(self, dag_id: str) -> None:
        if self.query("SELECT is_paused FROM dag WHERE dag_id = %s", (dag_id,)) != [(False,)]:
            done = self.airflow("dags", "unpause", dag_id)
            assert done.returncode == 0, done.stdout + done.stderr

    def trigger(self, runs: dict[str, dict]) -> None:
        """Trigger transfer_ingest once per ``run_id: conf``, with the Airflow CLI."""
        self.unpause(DAG_ID)
        started = {
            run_id: subprocess.Popen(
                [str(BIN / "airflow"), "dags", "trigger", DAG_ID, "--run-id", run_id]
                + ["--conf", json.dumps(conf), "--output", "json"],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for run_id, conf in runs.items()
        }
        for run_id, process in started.items():
            output, _ = process.communicate(timeout=120)
            assert process.returncode == 0, f"trigger {run_id} failed:\n{output}"

    def ingest_runs_for(self, url: str) -> dict[str, str]:
        """run id -> state of the transfer_ingest runs started for an upload."""
        rows = self.query(
            "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND conf::text LIKE %s",
            (DAG_ID, f'%"{url}"%'),
        )
        return dict(rows)

    def run_states(self, run_ids) -> dict[str, str]:
        rows = self.query(
            "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND run_id = ANY(%s)",
            (DAG_ID, list(run_ids)),
        )
        return dict(rows)

    def wait_for_runs(self, run_ids, timeout: float = 300) -> dict[str, str]:
        def finished():
            states = self.run_states(run_ids)
            done = len(states) == len(run_ids) and all(s in FINISHED for s in states.values())
            return states if done else None

        return self.wait_for(f"runs {list(run_ids)} to finish", finished, timeout)

    def task_instances(self, run_id: str) -> dict[str, dict]:
        """Task instances by task id (a mapped task's chunks after the first: ``id[n]``)."""
        rows = self.query(
            "SELECT task_id, map_index, state, try_number, queue, external_executor_id, "
            "hostname FROM task_instance WHERE dag_id = %s AND run_id = %s",
            (DAG_ID, run_id),
        )
        keys = ("state", "try_number", "queue", "external_executor_id", "hostname")
        return {
            (task if index <= 0 else f"{task}[{index}]"): dict(zip(keys, rest))
            for task, index, *rest in rows
        }

    def failure_reasons(self, run_ids) -> dict[tuple[str, str], str]:
        """(run, task) -> the ``failure_reason`` XCom of each task that failed."""
        rows = self.query(
            "SELECT run_id, task_id, value::text FROM xcom "
            "WHERE dag_id = %s AND run_id = ANY(%s) AND key = 'failure_reason'",
            (DAG_ID, list(run_ids)),
        )
        return {(run, task): value for run, task, value in rows}

    def celery_workloads(self, worker: str | None = None) -> dict[str, str]:
        """Celery task id -> the workload a worker (default: any) logged when it picked
        that task up."""
        workers = [worker] if worker else self.native.worker_names()
        pattern = re.compile(r"\[([0-9a-f-]{36})\] Executing workload in Celery: (.*)")
        return {
            match[1]: match[2] for name in workers for match in pattern.finditer(self.log(name))
        }

    def celery_results(self) -> dict[str, str]:
        """Celery task id -> status, as the worker wrote them to the result backend."""
        return dict(self.query("SELECT task_id, status FROM celery_taskmeta"))


def preservation_cli(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "preservation"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 0, f"preservation {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def airflow_cluster(tmp_path_factory, clamav_database, moto_endpoint):
    tag = secrets.token_hex(4)
    home = tmp_path_factory.mktemp("cluster")
    sns = sns_subscription(moto_endpoint)
    settings = {
        "PRESERVATION_TASK_RETRIES": "2",
        "PRESERVATION_WORKERS": "2",
        "CLAMAV_DATABASE": str(clamav_database),
        "CLAMD_SOCKET": str(home / "no-clamd.sock"),
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "PRESERVATION_SNS_TOPIC_ARN": sns.topic,
        # What-if runs: PRESERVATION_SYSTEST_ENV="KEY=VALUE …" adds settings to the cluster
        # (for example a watcher that looks only every 5 minutes, which the tests reject).
        **dict(
            item.split("=", 1) for item in os.environ.get("PRESERVATION_SYSTEST_ENV", "").split()
        ),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PRESERVATION_"))}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    up = ["cluster", "up", "--home", str(home), "--name", f"systest_{tag}", "--workers", "2"]
    up += ["--api-port", str(native_cluster.free_port()), "--s3-endpoint", moto_endpoint]
    up += ["--retry-delay", "5", *(f"--env={k}={v}" for k, v in settings.items())]
    try:
        preservation_cli(*up, env=env)
        cluster = SystemCluster(native_cluster.Cluster.load(home), sns)
        for dag_id in (DAG_ID, "transfer_watcher"):
            cluster.wait_for(
                f"the dag-processor to serialize {dag_id}",
                lambda d=dag_id: cluster.query(
                    "SELECT 1 FROM serialized_dag WHERE dag_id = %s", (d,)
                ),
                timeout=120,
            )
        yield cluster
    finally:
        state = native_cluster.Cluster.load(home) if (home / "cluster.json").exists() else None
        if state is not None:
            preservation_cli("cluster", "down", "--home", str(home), "--drop", env=env)
            # A clean stop: nothing of the cluster runs on.
            assert state.group_members() == [], "processes left after cluster down"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    cluster = getattr(item, "funcargs", {}).get("airflow_cluster")
    if report.failed and cluster is not None:
        report.sections.append(("Airflow process logs", cluster.report()))
    return report
