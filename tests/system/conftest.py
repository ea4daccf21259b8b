"""The production topology as native processes: Airflow on the machine's PostgreSQL, the
Celery executor on its Redis, ``airflow api-server``, ``scheduler``, ``dag-processor``,
``triggerer`` and ``celery worker`` as subprocesses of the test session, and S3 (moto's
server, through the Airflow connection) as the transfer bucket and the AIP store.

One cluster per test session: a fresh PostgreSQL database (dropped at the end), a Celery
queue of its own on the Redis broker (so concurrent sessions on the same machine never
take each other's tasks), a tmp ``AIRFLOW_HOME`` and ``PRESERVATION_HOME``. Each process
runs in its own process group, logs to a file under the session's tmp folder, and is
terminated with its children at teardown; the logs' tails are attached to a failing
test's report.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 5
DAG_ID = "transfer_ingest"
WATCHER_ID = "transfer_watcher"
FINISHED = ("success", "failed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path} not written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Cluster:
    """A running Airflow deployment: its environment, database, queue and processes."""

    env: dict[str, str]
    database: str
    queue: str
    airflow_home: Path
    preservation_home: Path
    logs: Path
    bucket: str
    s3_endpoint: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def s3(self):
        """A boto3 client on the deployment's S3 (moto's server)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    # -- processes -------------------------------------------------------------------
    def airflow(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        """Run one Airflow CLI command against this deployment."""
        return subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: teardown ends its children too
        )
        log.close()

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow processes exited: {dead}\n{self.report()}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Children (gunicorn/uvicorn workers, Celery pool, task supervisors) too.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def report(self, lines: int = 60) -> str:
        parts = [f"logs kept in {self.logs} (task logs in {self.airflow_home / 'logs'})"]
        for name in self.processes:
            parts.append(f"----- {name} (last {lines} lines) -----")
            parts.append(tail(self.logs / f"{name}.log", lines))
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

    def celery_workloads(self) -> dict[str, str]:
        """Celery task id -> the workload the worker logged when it picked that task up."""
        found = re.finditer(
            r"\[([0-9a-f-]{36})\] Executing workload in Celery: (.*)", self.log("celery-worker")
        )
        return {match[1]: match[2] for match in found}

    def celery_results(self) -> dict[str, str]:
        """Celery task id -> status, as the worker wrote them to the result backend."""
        return dict(self.query("SELECT task_id, status FROM celery_taskmeta"))


def psql_admin(*command: str) -> None:
    subprocess.run(
        [*command, "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"]],
        check=True,
        capture_output=True,
        timeout=60,
    )


def delete_queue_keys(queue: str) -> None:
    """Remove this session's Celery queue (and kombu's bindings of it) from Redis."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    try:
        keys = list(client.scan_iter(f"*{queue}*"))  # the name is unique to the session
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="session")
def airflow_cluster(tmp_path_factory, clamav_database, moto_endpoint):
    tag = secrets.token_hex(4)
    bucket = f"systest-{tag}"
    root = tmp_path_factory.mktemp("celery-postgres")
    database = f"airflow_systest_{tag}"
    queue = f"preservation_systest_{tag}"
    port = free_port()
    airflow_home = root / "airflow-home"
    preservation_home = root / "preservation-home"
    logs = root / "process-logs"
    for folder in (airflow_home, preservation_home, logs):
        folder.mkdir()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PRESERVATION_"))}
    plugins = REPO / "plugins"
    pythonpath = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    pg = f"{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    env.update(
        {
            "PATH": os.pathsep.join([str(BIN), env.get("PATH", "/usr/bin:/bin")]),
            "PYTHONPATH": os.pathsep.join([str(plugins), *pythonpath]),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{pg}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            # The task supervisor notices a finished task at its next wake-up, at most one
            # heartbeat interval later (default 5 s): 1 s keeps 15 tasks from idling 75 s.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            # Every component that signs or checks the Task SDK's tokens must share these.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "PRESERVATION_HOME": str(preservation_home),
            "PRESERVATION_TASK_RETRIES": "2",
            "PRESERVATION_RETRY_DELAY": "5",
            "PRESERVATION_WORKERS": "2",
            "CLAMAV_DATABASE": str(clamav_database),
            "CLAMD_SOCKET": str(root / "no-clamd.sock"),
            # S3 (moto's server) through the Airflow connection, as in production: the
            # transfer bucket the watcher looks at, and the AIP store.
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
                }
            ),
            "PRESERVATION_TRANSFER_BUCKET": bucket,
            "PRESERVATION_AIP_STORE": f"s3://{bucket}/aips",
            "PRESERVATION_WATCH_MINUTES": "1440",
        }
    )
    cluster = Cluster(
        env, database, queue, airflow_home, preservation_home, logs, bucket, moto_endpoint
    )
    cluster.s3().create_bucket(Bucket=bucket)

    psql_admin("createdb", database)
    try:
        migrate = cluster.airflow("db", "migrate", timeout=300)
        (logs / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

        cluster.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port))
        cluster.start("dag-processor", "dag-processor")
        cluster.start("scheduler", "scheduler", "--skip-serve-logs")
        cluster.start("triggerer", "triggerer", "--skip-serve-logs")
        cluster.start(
            "celery-worker",
            *("celery", "worker", "--concurrency", "2", "--queues", queue),
            *("--celery-hostname", f"systest-{tag}@%h", "--skip-serve-logs"),
            *("--without-gossip", "--without-mingle"),
        )

        def api_healthy():
            try:
                url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
                with urllib.request.urlopen(url, timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        cluster.wait_for("the api-server", api_healthy, timeout=120)
        for dag_id in (DAG_ID, WATCHER_ID):
            cluster.wait_for(
                f"the dag-processor to serialize {dag_id}",
                lambda d=dag_id: cluster.query(
                    "SELECT 1 FROM serialized_dag WHERE dag_id = %s", (d,)
                ),
                timeout=120,
            )
        cluster.wait_for(
            "the Celery worker",
            lambda: " ready." in cluster.log("celery-worker"),
            timeout=120,
        )
        yield cluster
    finally:
        cluster.stop()
        try:
            delete_queue_keys(queue)
        finally:
            psql_admin("dropdb", "--if-exists", "--force", database)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    cluster = getattr(item, "funcargs", {}).get("airflow_cluster")
    if report.failed and cluster is not None:
        report.sections.append(("Airflow process logs", cluster.report()))
    return report
