"""The production topology as native processes, started as a platform engineer would
without Docker: ``preservation cluster up`` (:mod:`preservation.deploy.cluster`, the components
of ``docker-compose.yaml``) on the machine's PostgreSQL and Redis, with the Celery
executor, two Celery workers, the api-server, scheduler, dag-processor and triggerer, and
S3 (moto's server, reached through the Airflow connection and a fault proxy that passes
all until a test injects faults: tests/s3_faults.py) as the transfer bucket and AIP store.

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
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from preservation.deploy import cluster as native_cluster
from tests.conftest import sns_subscription
from tests.s3_faults import FaultProxy

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
DAG_ID = "transfer_ingest"
FINISHED = ("success", "failed")


@dataclass
class SystemCluster:
    """Test helpers around a running native cluster (``preservation.deploy.cluster.Cluster``)."""

    native: native_cluster.Cluster
    sns: object  # reads what SNS published (tests.conftest.sns_subscription)
    oidc: OIDCProvider  # where people log in
    faults: FaultProxy  # S3 as the deployment reaches it, failing when a test says so

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
        """A boto3 client on the deployment's S3: moto's server itself, never faulted."""
        import boto3

        site = self.native.site
        return boto3.client(
            "s3",
            endpoint_url=self.faults.upstream,
            region_name="us-east-1",
            aws_access_key_id=site.s3_access_key,
            aws_secret_access_key=site.s3_secret_key,
        )

    def drop_box(self):
        """The transfer bucket as the watcher sees it."""
        from preservation.intake.transfer_bucket import S3TransferSource

        return S3TransferSource(self.s3(), self.bucket)

    def aip_location(self):
        from preservation.storage.s3_storage import S3Location

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
        restarted = {c: n for c, n in self.native.restarts().items() if n}
        if restarted:
            parts.append(f"components started again after exiting: {restarted}")
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
        return wait_until(what, check, timeout, interval, alive=self.check_alive)

    def kill_worker_running(self, celery_id: str) -> str:
        """SIGKILL the Celery worker that took Celery task ``celery_id`` (the worker, its
        pool and the task's supervisor); returns its name."""
        [victim] = [w for w in self.native.worker_names() if celery_id in self.celery_workloads(w)]
        self.native.kill(victim)
        del self.native.processes[victim]
        return victim

    def restart_worker(self, worker: str) -> None:
        """Start a killed worker again and wait until it is ready (the session's other
        tests get both workers back)."""
        ready = self.log(worker).count(" ready.")
        self.native.start(worker)
        self.wait_for(
            f"{worker} to restart", lambda: self.log(worker).count(" ready.") > ready, 120
        )

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

    def run_started_for(self, key: str, timeout: float = 300):
        """The upload at ``key`` of the transfer bucket, once the watcher has started its
        transfer_ingest run."""
        return self.wait_for(
            f"the watcher to start the run of {key}",
            lambda: (
                (found := self.drop_box().upload(key)) and self.run_states([found.run_id]) and found
            ),
            timeout,
        )

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

    def failure_reasons(self, run_ids, dag_id: str = DAG_ID) -> dict[tuple[str, str], str]:
        """(run, task) -> the ``failure_reason`` XCom of each task that failed."""
        rows = self.query(
            "SELECT run_id, task_id, value::text FROM xcom "
            "WHERE dag_id = %s AND run_id = ANY(%s) AND key = 'failure_reason'",
            (dag_id, list(run_ids)),
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


def upload_package(
    cluster, name: str, identifier: str, files: dict[str, bytes], bucket: str = ""
) -> str:
    """Zip ``files`` with a metadata.csv naming ``identifier``, put it under
    ``born-digital/`` in the transfer bucket (or ``bucket``); returns its key."""
    from tests.media import zip_bytes

    metadata = f"filename,dc.identifier,dc.title\nobjects/,{identifier},{name}\n"
    key = f"born-digital/{name}.zip"
    body = zip_bytes({**files, "metadata/metadata.csv": metadata})
    cluster.s3().put_object(Bucket=bucket or cluster.bucket, Key=key, Body=body)
    return key


def wait_until(what: str, check, timeout: float, interval: float = 1.0, alive=None):
    """``check()``'s first true value, polled every ``interval`` s; TimeoutError after
    ``timeout`` s (``alive()`` raises first if a process it watches has died)."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


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


#: Distinctive secrets the system cluster runs with: no log may ever show them
#: (tests/system/test_secrets.py).
SECRET_MARK = secrets.token_hex(8)
S3_SECRET = f"s3-secret-{SECRET_MARK}"
SLACK_TOKEN = f"slack-token-{SECRET_MARK}"


@pytest.fixture(scope="session")
def session_slack():
    """A recording Slack webhook for the whole system session, its URL holding a secret
    token, as Slack's webhook URLs do."""
    from tests.conftest import SlackRecorder

    recorder = SlackRecorder(token=SLACK_TOKEN)
    yield recorder
    recorder.close()


#: The single sign-on users of the test OIDC provider, and their groups.
SSO_USERS = {
    "ada": ["preservation-archivists"],
    "otto": ["preservation-operators"],
    "nemo": ["visitors"],
}
SSO_ROLES = {"preservation-archivists": "Archivist", "preservation-operators": "Operator"}


@dataclass
class OIDCProvider:
    issuer: str
    client_id: str
    client_secret: str
    process: subprocess.Popen


def start_oidc_provider(folder: Path, api_url: str) -> OIDCProvider:
    """node's oidc-provider (tests/oidc) on a free loopback port, with one client: the
    deployment whose UI is at ``api_url``."""
    node = shutil.which("node")
    assert node, "node is missing: the SSO tests need Node.js (apt-get install nodejs)"
    assert (REPO / "tests/oidc/node_modules/oidc-provider").is_dir(), "run make install-test"
    issuer = f"http://127.0.0.1:{native_cluster.free_port()}"
    client_secret = secrets.token_urlsafe(24)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": "preservation-airflow",
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_REDIRECT_URI": f"{api_url}/auth/oauth-authorized/oidc",
        "OIDC_USERS": json.dumps(SSO_USERS),
    }
    log = open(folder / "oidc-provider.log", "wb")
    process = subprocess.Popen(
        [node, "provider.mjs"], cwd=REPO / "tests/oidc", env=env, stdout=log, stderr=log
    )
    discovery = f"{issuer}/.well-known/openid-configuration"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(discovery, timeout=2):
                break
        except OSError:
            assert process.poll() is None, (folder / "oidc-provider.log").read_text()
            assert time.monotonic() < deadline, "the OIDC provider did not start"
            time.sleep(0.3)
    return OIDCProvider(issuer, "preservation-airflow", client_secret, process)


#: How long the cluster's S3 clients wait for an answer (and the fault proxy's stalls,
#: which outlast it).
S3_READ_TIMEOUT = 5


@pytest.fixture(scope="session")
def airflow_cluster(tmp_path_factory, clamav_database, moto_endpoint, session_slack):
    tag = secrets.token_hex(4)
    home = tmp_path_factory.mktemp("cluster")
    # The deployment reaches S3 through the fault proxy; without rules it passes all.
    faults = FaultProxy(moto_endpoint, stall_seconds=S3_READ_TIMEOUT + 2)
    sns = sns_subscription(moto_endpoint)
    api_port = native_cluster.free_port()
    oidc = start_oidc_provider(home.parent, f"http://127.0.0.1:{api_port}")
    slack_connection = json.dumps(
        {"conn_type": "slackwebhook", "password": session_slack.url}, separators=(",", ":")
    )
    settings = {
        "AIRFLOW_CONN_SLACK_DEFAULT": slack_connection,
        "PRESERVATION_TASK_RETRIES": "2",
        "PRESERVATION_WORKERS": "2",
        "CLAMAV_DATABASE": str(clamav_database),
        "CLAMD_SOCKET": str(home / "no-clamd.sock"),
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "PRESERVATION_S3_READ_TIMEOUT": str(S3_READ_TIMEOUT),
        # The machine's Redis keeps nothing on disk: the messages of tasks queued when
        # it restarts (tests/system/test_restarts.py) are sent again after this.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "180",
        # ... at the next check, every 30 s rather than 120 s, so a message lost that way
        # costs at most 210 s (the late upload of test_restarts.py waits 240 s).
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "30",
        # A SIGKILLed worker's task is failed (and retried) once its supervisor has not
        # heartbeaten for this long, looked for this often: 30 s and 5 s instead of the
        # deployment's 60 s and Airflow's 10 s, so the five kills of the chaos, workers and
        # reingest tests cost half as much waiting. A live supervisor heartbeats every
        # second (AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL), so 30 s is no false alarm.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        # Stages keep 1 MiB spare on the processing disk (tests/system/test_disk_full.py).
        "PRESERVATION_DISK_RESERVE_MB": "1",
        # Packages over 5 MiB go up in parts (tests/system/test_s3_faults.py fails them).
        "PRESERVATION_S3_PART_SIZE": str(5 * 1024 * 1024),
        "PRESERVATION_SNS_TOPIC_ARN": sns.topic,
        # People log in through the OIDC provider; their groups give their roles.
        "PRESERVATION_SSO": "oidc",
        "PRESERVATION_OIDC_ISSUER": oidc.issuer,
        "PRESERVATION_OIDC_CLIENT_ID": oidc.client_id,
        "PRESERVATION_OIDC_CLIENT_SECRET": oidc.client_secret,
        "PRESERVATION_SSO_ROLES": json.dumps(SSO_ROLES, separators=(",", ":")),
        # What-if runs: PRESERVATION_SYSTEST_ENV="KEY=VALUE …" adds settings to the cluster
        # (for example a watcher that looks only every 5 minutes, which the tests reject).
        **dict(
            item.split("=", 1) for item in os.environ.get("PRESERVATION_SYSTEST_ENV", "").split()
        ),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PRESERVATION_"))}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": S3_SECRET})
    up = ["cluster", "up", "--home", str(home), "--name", f"systest_{tag}", "--workers", "2"]
    up += ["--api-port", str(api_port), "--s3-endpoint", faults.url]
    up += ["--retry-delay", "5", *(f"--env={k}={v}" for k, v in settings.items())]
    try:
        preservation_cli(*up, env=env)
        cluster = SystemCluster(native_cluster.Cluster.load(home), sns, oidc, faults)
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
        oidc.process.terminate()
        oidc.process.wait(timeout=30)
        faults.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    cluster = getattr(item, "funcargs", {}).get("airflow_cluster")
    if report.failed and cluster is not None:
        report.sections.append(("Airflow process logs", cluster.report()))
    return report
