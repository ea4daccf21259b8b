"""The distributed deployment as native processes: ``preservation cluster up|down|status``.

Runs the components of :mod:`preservation.deploy.topology` (the ones ``docker-compose.yaml``
runs in containers) as processes of this machine: Airflow's metadata database on the
local PostgreSQL, the Celery executor on the local Redis, the api-server, scheduler,
dag-processor, triggerer and N Celery workers, and moto's S3 server (unless an S3
endpoint is given) holding the transfer and AIP buckets.

Everything a cluster owns lives under its home folder: ``cluster.json`` (the state:
site, process ids, mode 0600 as it holds the deployment's secrets), ``airflow-home/``
(task logs under ``logs/``), ``preservation-home/`` (the processing directory every
worker shares) and ``process-logs/<component>.log``. Each process runs in a process
group of its own, so ``down`` ends it with its children (Celery's pool, task
supervisors, gunicorn workers): SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from preservation.deploy import airflow_files, topology

BIN = Path(sys.executable).parent
STATE = "cluster.json"
PG_ADMIN = ("-h", "127.0.0.1", "-p", "5432", "-U", "postgres")
REDIS_DB = 5


class ClusterError(RuntimeError):
    """The cluster could not start or stop; the message names the process and its log."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (or a note that it was never written)."""
    if not path.exists():
        return f"({path} not written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait(what: str, check, timeout: float, alive=lambda: None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        alive()
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


@dataclass
class Cluster:
    """A native deployment: its home, site, Airflow environment and processes."""

    home: Path
    name: str
    site: topology.Site
    env: dict[str, str]
    workers: int
    processes: dict[str, int] = field(default_factory=dict)  # component -> pid (= pgid)

    @property
    def database(self) -> str:
        return self.site.database_url.rsplit("/", 1)[1]

    @property
    def logs(self) -> Path:
        return self.home / "process-logs"

    @property
    def airflow_home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    def worker_names(self) -> list[str]:
        return [f"worker-{n}" for n in range(1, self.workers + 1)]

    def save(self) -> None:
        state = self.home / STATE
        data = {
            "name": self.name,
            "workers": self.workers,
            "site": asdict(self.site),
            "env": self.env,
            "processes": self.processes,
        }
        state.touch(mode=0o600)
        state.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, home: Path) -> Cluster:
        """The cluster whose state is in ``home`` (raises ClusterError if none)."""
        home = Path(home).resolve()
        try:
            data = json.loads((home / STATE).read_text())
        except FileNotFoundError:
            raise ClusterError(f"no cluster in {home} (no {STATE}); start one with up") from None
        return cls(
            home,
            data["name"],
            topology.Site(**data["site"]),
            data["env"],
            data["workers"],
            data["processes"],
        )

    # -- processes ---------------------------------------------------------------
    def command(self, component: str) -> list[str]:
        """The process a component runs: ``moto_server`` or ``airflow <topology args>``."""
        if component == "moto":
            port = self.site.s3_endpoint.rsplit(":", 1)[1]
            return [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", port]
        worker = component if component.startswith("worker-") else "worker"
        service = topology.WORKER if component.startswith("worker-") else component
        args = topology.commands(self.site, worker)[service]
        if args[0] == "python":
            return [str(BIN / "python"), *args[1:]]
        # Started again whenever it exits, as compose's `restart: always` does.
        return [
            str(BIN / "python"),
            "-m",
            "preservation.deploy.supervise",
            "--",
            str(BIN / "airflow"),
            *args,
        ]

    def start(self, component: str) -> None:
        """Start one component in a process group of its own, logging to its file."""
        with (self.logs / f"{component}.log").open("ab") as log:
            process = subprocess.Popen(
                self.command(component),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes[component] = process.pid
        self.save()

    def alive(self, component: str) -> bool:
        pid = self.processes.get(component)
        if pid is None:
            return False
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)  # our child: reap it if it has ended
            if waited:
                return False
        except ChildProcessError:
            pass  # started by another process (a later `status`): signal 0 tells
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def restarts(self) -> dict[str, int]:
        """How many times each component exited and was started again (its log's
        supervise lines)."""
        from preservation.deploy.supervise import MARK

        counts = {}
        for component in self.processes:
            log = self.logs / f"{component}.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            counts[component] = sum(1 for line in text.splitlines() if line.startswith(MARK))
        return counts

    def check_alive(self) -> None:
        dead = [c for c in self.processes if not self.alive(c)]
        if dead:
            logs = "\n".join(f"----- {c} -----\n{tail(self.logs / f'{c}.log')}" for c in dead)
            raise ClusterError(f"{', '.join(dead)} exited; logs in {self.logs}\n{logs}")

    def kill(self, component: str, sig: int = signal.SIGKILL) -> None:
        """Signal a component's whole process group (its children too)."""
        pid = self.processes[component]
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace: float = 30) -> list[str]:
        """Stop every process (SIGTERM, then SIGKILL after ``grace`` s); returns the
        components that had to be killed."""
        for component in self.processes:
            self.kill(component, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(self.alive(c) for c in self.processes) and time.monotonic() < deadline:
            time.sleep(0.2)
        killed = [c for c in self.processes if self.alive(c)]
        groups = set(self.processes.values())
        for component in self.processes:
            # Children outlive a leader that exited on SIGTERM: end the group in any case.
            self.kill(component, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (left := self.group_members(groups)) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:
            raise ClusterError(f"processes {left} survived SIGKILL")
        self.processes.clear()
        self.save()
        return killed

    def group_members(self, groups: set[int] | None = None) -> list[int]:
        """Live processes (zombies aside) in the cluster's process groups."""
        groups = set(self.processes.values()) if groups is None else groups
        members = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                # pid (comm) state ppid pgrp …: comm may hold spaces, so split after ")".
                state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(pgrp) in groups and state != "Z":
                members.append(int(entry.name))
        return members

    def s3(self):
        """A boto3 S3 client on the cluster's S3, with its credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.site.s3_endpoint or None,
            region_name="us-east-1",
            aws_access_key_id=self.site.s3_access_key,
            aws_secret_access_key=self.site.s3_secret_key,
        )

    def airflow(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
        """Run one Airflow CLI command against the cluster (output captured)."""
        return subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    # -- readiness ---------------------------------------------------------------
    def api_healthy(self) -> bool:
        try:
            url = f"{self.site.api_url}/api/v2/monitor/health"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def worker_ready(self, worker: str) -> bool:
        return " ready." in (self.logs / f"{worker}.log").read_text(errors="replace")


def s3_ready(endpoint: str) -> bool:
    """Whether moto's S3 server answers at ``endpoint``."""
    try:
        urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2)
        return True
    except OSError:
        return False


def _psql(*args: str) -> str:
    done = subprocess.run(
        [*args, *PG_ADMIN], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode:
        raise ClusterError(f"{' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


ADMIN_PASSWORD_FILE = "admin-password"


def admin_password(home: Path, env) -> str:
    """The bootstrap admin's password: ``PRESERVATION_ADMIN_PASSWORD``, else one made at
    the first start and kept in ``<home>/admin-password`` (readable by its owner only;
    never printed)."""
    if env.get("PRESERVATION_ADMIN_PASSWORD"):
        return env["PRESERVATION_ADMIN_PASSWORD"]
    kept = home / ADMIN_PASSWORD_FILE
    if not kept.exists():
        kept.touch(mode=0o600)
        kept.write_text(secrets.token_urlsafe(18))
    return kept.read_text().strip()


def up(
    home: Path,
    name: str = "preservation",
    workers: int = 2,
    api_port: int | None = None,
    s3_endpoint: str = "",
    s3_credentials: tuple[str, str] = ("testing", "testing"),
    retry_delay: int = 60,
    extra_env: dict[str, str] | None = None,
    timeout: float = 180,
) -> Cluster:
    """Start a native deployment under ``home`` and wait until its api-server answers
    and every Celery worker is ready. ``name`` names the database (``airflow_<name>``),
    the Celery queues (``<name>``, ``<name>_heavy``) and the buckets
    (``<name>-transfers``, ``<name>-aips``), so several clusters share one PostgreSQL,
    Redis and S3 without taking each other's work."""
    home = Path(home).resolve()
    if (home / STATE).exists() and Cluster.load(home).processes:
        raise ClusterError(f"a cluster already runs from {home}; stop it with down first")
    for folder in ("airflow-home", "preservation-home", "process-logs"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    port = api_port or free_port()
    slug = name.replace("_", "-").lower()
    own_s3 = not s3_endpoint
    settings = {**os.environ, **(extra_env or {})}
    site = topology.Site(
        admin_password=admin_password(home, settings),
        sso=tuple((k, settings[k]) for k in topology.SSO_SETTINGS if settings.get(k)),
        database_url=f"postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_{name}",
        broker_url=f"redis://127.0.0.1:6379/{REDIS_DB}",
        api_host="127.0.0.1",
        api_port=port,
        api_url=f"http://127.0.0.1:{port}",
        s3_endpoint=s3_endpoint or f"http://127.0.0.1:{free_port()}",
        s3_access_key=s3_credentials[0],
        s3_secret_key=s3_credentials[1],
        jwt_secret=secrets.token_urlsafe(32),
        api_secret_key=secrets.token_urlsafe(32),
        dags_folder=str(airflow_files.dags_folder()),
        plugins_folder=str(airflow_files.plugins_folder(home / "preservation-home")),
        preservation_home=str(home / "preservation-home"),
        transfer_bucket=f"{slug}-transfers",
        aip_store=f"s3://{slug}-aips/aips",
        clamd_socket=os.environ.get("CLAMD_SOCKET", "/var/run/clamav/clamd.ctl"),
        default_queue=name,
        heavy_queue=f"{name}_heavy",
        environment="local",
        retry_delay=retry_delay,
        s3_read_timeout=int(settings.get("PRESERVATION_S3_READ_TIMEOUT") or 60),
        sns_topic_arn=(extra_env or {}).get("PRESERVATION_SNS_TOPIC_ARN", ""),
    )
    # Process plumbing beside the topology's configuration: the venv's airflow on PATH,
    # our plugins importable, one AIRFLOW_HOME for the logs every component writes.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PRESERVATION_"))}
    env.update(topology.environment(site))
    env.update(extra_env or {})
    env["AIRFLOW_HOME"] = str(home / "airflow-home")
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "/usr/bin:/bin")])
    env["PYTHONPATH"] = os.pathsep.join(
        [site.plugins_folder, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    )
    cluster = Cluster(home, name, site, env, workers)
    cluster.save()
    try:
        if own_s3:
            cluster.start("moto")
            _wait("moto's S3 server", lambda: s3_ready(site.s3_endpoint), 60, cluster.check_alive)
        client = cluster.s3()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for bucket in {site.transfer_bucket, site.aip_bucket} - existing:
            client.create_bucket(Bucket=bucket)
        try:
            _psql("createdb", cluster.database)
        except ClusterError as error:
            if "already exists" not in str(error):  # a restarted cluster keeps its history
                raise
        with (cluster.logs / f"{topology.INIT}.log").open("wb") as log:
            init = subprocess.run(
                cluster.command(topology.INIT),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=600,
                check=False,
            )
        if init.returncode:
            raise ClusterError(
                f"airflow-init (database, roles, admin) failed:\n"
                f"{tail(cluster.logs / 'airflow-init.log')}"
            )
        for component in (
            topology.API_SERVER,
            topology.DAG_PROCESSOR,
            topology.SCHEDULER,
            topology.TRIGGERER,
        ):
            cluster.start(component)
        for worker in cluster.worker_names():
            cluster.start(worker)
        _wait("the api-server", cluster.api_healthy, timeout, cluster.check_alive)
        for worker in cluster.worker_names():
            _wait(
                f"Celery {worker}",
                lambda w=worker: cluster.worker_ready(w),
                timeout,
                cluster.check_alive,
            )
    except BaseException:
        cluster.stop(grace=10)
        raise
    return cluster


def down(home: Path, drop: bool = False) -> list[str]:
    """Stop the cluster under ``home``; with ``drop``, also drop its database and its
    Celery queues. Returns the components that needed SIGKILL."""
    cluster = Cluster.load(home)
    killed = cluster.stop()
    if drop:
        import redis

        client = redis.Redis.from_url(cluster.site.broker_url)
        try:
            keys = [
                k
                for queue in (cluster.site.default_queue, cluster.site.heavy_queue)
                for k in client.scan_iter(f"*{queue}*")
            ]
            if keys:
                client.delete(*keys)
        finally:
            client.close()
        _psql("dropdb", "--if-exists", "--force", cluster.database)
    return killed


def status(home: Path) -> dict[str, str]:
    """Each component's pid, whether it runs, and how often it was started again."""
    cluster = Cluster.load(home)
    restarts = cluster.restarts()
    return {
        c: f"pid {pid} {'running' if cluster.alive(c) else 'exited'}"
        + (f", restarted {restarts[c]} times" if restarts.get(c) else "")
        for c, pid in cluster.processes.items()
    }
