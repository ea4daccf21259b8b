"""The distributed deployment's Airflow components, defined once.

A deployment is PostgreSQL (Airflow's metadata database and Celery's result backend),
Redis (the Celery broker), S3 (the transfer bucket and the AIP store), a clamd, a
processing directory shared by the workers, and these Airflow components:
``airflow-init`` (``db migrate``, the roles and the bootstrap admin:
``python -m preservation_airflow.auth.access init``), ``airflow-apiserver``, ``airflow-scheduler``,
``airflow-dag-processor``, ``airflow-triggerer`` and any number of
``airflow-worker`` (Celery workers on the default and the heavy queue).

:func:`services` gives each component's ``airflow`` command and environment for a
:class:`Site` (where the shared services and folders are). ``docker-compose.yaml`` runs
them in containers; ``preservation cluster up`` runs the same commands with the same
environment as native processes (:mod:`preservation.deploy.cluster`); a test checks that the
compose file is what :func:`services` gives for the compose site. No Airflow import here.

Every deployment logs people in with Airflow's FAB auth manager (roles ``Archivist``,
``Operator``, ``Admin``; single sign-on by :data:`SSO_SETTINGS`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# Celery workers take the queue named by AIRFLOW__OPERATORS__DEFAULT_QUEUE for every
# task, and the heavy queue for the per-file stages (characterization, validation,
# normalization, transcription), so heavy stages can get workers and concurrency of
# their own.
DEFAULT_QUEUE = "preservation"
HEAVY_QUEUE = "preservation_heavy"
INIT, API_SERVER, SCHEDULER, DAG_PROCESSOR, TRIGGERER, WORKER = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
# Started in this order; a deployment has one of each but the workers.
COMPONENTS = (INIT, API_SERVER, DAG_PROCESSOR, SCHEDULER, TRIGGERER, WORKER)
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
FAB_CONFIG = "preservation_airflow/auth/webserver_config.py"  # under the plugins folder
#: How people log in (preservation_airflow/auth/webserver_config.py says what each means);
#: every component gets them, "" when unset.
SSO_SETTINGS = (
    "PRESERVATION_SSO",
    "PRESERVATION_SSO_ROLES",
    "PRESERVATION_SSO_DEFAULT_ROLE",
    "PRESERVATION_OIDC_ISSUER",
    "PRESERVATION_OIDC_CLIENT_ID",
    "PRESERVATION_OIDC_CLIENT_SECRET",
    "PRESERVATION_AZURE_TENANT_ID",
    "PRESERVATION_AZURE_CLIENT_ID",
    "PRESERVATION_AZURE_CLIENT_SECRET",
)


@dataclass(frozen=True)
class Site:
    """Where one deployment's shared services and folders are, and its few knobs."""

    database_url: str  # SQLAlchemy URL of the metadata database (psycopg2)
    broker_url: str  # redis://host:port/db
    api_host: str  # the api-server's bind address
    api_port: int
    api_url: str  # how the other components reach the api-server
    s3_endpoint: str  # "" for AWS itself
    s3_access_key: str
    s3_secret_key: str
    jwt_secret: str  # shared by every component (Task SDK tokens)
    api_secret_key: str
    admin_password: str  # the bootstrap admin's (PRESERVATION_ADMIN_PASSWORD)
    dags_folder: str
    plugins_folder: str
    preservation_home: str  # the processing directory is under it: shared by workers
    transfer_bucket: str
    aip_store: str  # location URL, s3://bucket/prefix
    clamd_socket: str
    default_queue: str = DEFAULT_QUEUE
    heavy_queue: str = HEAVY_QUEUE
    worker_concurrency: int = 2
    sns_topic_arn: str = ""
    environment: str = "production"  # PRESERVATION_ENVIRONMENT (Slack wording)
    retry_delay: int = 60  # seconds before a failed task's first retry
    s3_read_timeout: int = 60  # seconds an S3 answer may take before the call is retried
    sso: tuple[tuple[str, str], ...] = ()  # (name, value) of SSO_SETTINGS that are set

    @property
    def aip_bucket(self) -> str:
        """The bucket of the AIP store (``s3://<bucket>/<prefix>``)."""
        return self.aip_store.split("/")[2]


@dataclass(frozen=True)
class Service:
    """One Airflow component: the arguments after ``airflow`` (or a ``python`` command),
    and its environment."""

    name: str
    command: tuple[str, ...]
    environment: dict[str, str]


def s3_client_config(read_timeout: int = 60) -> dict:
    """botocore's settings for every S3 client of the deployment (the connection's
    ``config_kwargs``): a failed call (5xx, ``SlowDown``, a reset connection, no answer
    within ``read_timeout`` s) is retried five times with backoff before the task fails."""
    return {
        "retries": {"mode": "standard", "max_attempts": 5},
        "connect_timeout": 10,
        "read_timeout": read_timeout,
    }


def aws_connection(site: Site) -> str:
    """The ``aws_default`` connection as Airflow reads it from the environment (JSON)."""
    extra = {"region_name": "us-east-1"}
    if site.s3_endpoint:
        extra["endpoint_url"] = site.s3_endpoint
    extra["config_kwargs"] = s3_client_config(site.s3_read_timeout)
    return json.dumps(
        {
            "conn_type": "aws",
            "login": site.s3_access_key,
            "password": site.s3_secret_key,
            "extra": extra,
        },
        separators=(",", ":"),
    )


def environment(site: Site) -> dict[str, str]:
    """The environment every Airflow component of the deployment runs with."""
    env = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": site.dags_folder,
        "AIRFLOW__CORE__PLUGINS_FOLDER": site.plugins_folder,
        # The watcher starts transfer_ingest runs: neither may wait for a click.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Tasks reach the metadata only through the api-server (Task SDK).
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{site.api_url}/execution/",
        "AIRFLOW__API__BASE_URL": site.api_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": site.jwt_secret,
        "AIRFLOW__API__SECRET_KEY": site.api_secret_key,
        # Logins and roles: FAB, configured by our webserver_config.py from SSO_SETTINGS.
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
        "AIRFLOW__FAB__CONFIG_FILE": f"{site.plugins_folder}/{FAB_CONFIG}",
        "PYTHONPATH": site.plugins_folder,
        "PRESERVATION_ADMIN_PASSWORD": site.admin_password,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": site.database_url,
        "AIRFLOW__CELERY__BROKER_URL": site.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{site.database_url}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(site.worker_concurrency),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": site.default_queue,
        # A task supervisor notices its task has finished at its next heartbeat: 1 s
        # instead of 5 s keeps a 20-stage run from idling for over a minute.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        # A scheduler loop with nothing to do sleeps this long before looking again: the
        # next stage of a run waits for it after each task ends (default 1 s; 0.25 s made
        # a one-file run's 20-odd stages follow each other faster, bench/README.md).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        # The api-server builds the Execution API's routes at its first call (6-9 s on
        # two busy cores): Airflow's 5 s made the first tasks time out and be killed.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        # A worker that dies mid-task stops heartbeating; after this many seconds the
        # scheduler fails that try and the task is retried on another worker.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        # A scheduler that died (its database restarted under it) leaves the tasks it had
        # queued to its successor, which adopts them only at its orphan check: Airflow's
        # 300 s left the drop box's watcher queued, and new uploads unnoticed, for five
        # minutes after a PostgreSQL restart (tests/system/test_restarts.py).
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(site),
        # Only the housekeeping DAG's `airflow db clean` uses it: Airflow keeps tasks
        # away from the metadata database (their SQL_ALCHEMY_CONN is blanked).
        "PRESERVATION_METADATA_DB": site.database_url,
        "PRESERVATION_HOME": site.preservation_home,
        "PRESERVATION_TRANSFER_SOURCE": f"s3://{site.transfer_bucket}",
        "PRESERVATION_AIP_STORE": site.aip_store,
        "PRESERVATION_HEAVY_QUEUE": site.heavy_queue,
        "PRESERVATION_ENVIRONMENT": site.environment,
        "PRESERVATION_RETRY_DELAY": str(site.retry_delay),
        "CLAMD_SOCKET": site.clamd_socket,
    }
    sso = dict(site.sso)
    env.update({name: sso.get(name, "") for name in SSO_SETTINGS})
    if site.sns_topic_arn:
        env["PRESERVATION_SNS_TOPIC_ARN"] = site.sns_topic_arn
    return env


def commands(site: Site, worker_name: str = "worker") -> dict[str, tuple[str, ...]]:
    """Each component's arguments to ``airflow``. ``worker_name`` names a Celery worker
    (``<name>@<host>``): unique per worker on one host."""
    # Every component writes its logs to the shared logs folder, so none serves them.
    return {
        # Not an airflow command: the image's entrypoint runs `python …` as it is.
        INIT: ("python", "-m", "preservation_airflow.auth.access", "init"),
        API_SERVER: ("api-server", "--host", site.api_host, "--port", str(site.api_port)),
        DAG_PROCESSOR: ("dag-processor",),
        SCHEDULER: ("scheduler", "--skip-serve-logs"),
        TRIGGERER: ("triggerer", "--skip-serve-logs"),
        WORKER: (
            "celery",
            "worker",
            "--queues",
            f"{site.default_queue},{site.heavy_queue}",
            "--concurrency",
            str(site.worker_concurrency),
            "--celery-hostname",
            f"{worker_name}@%h",
            "--skip-serve-logs",
            # Airflow needs neither; both make every worker talk to every other one.
            "--without-gossip",
            "--without-mingle",
        ),
    }


def services(site: Site, worker_name: str = "worker") -> dict[str, Service]:
    """Every Airflow component of the deployment at ``site``."""
    env = environment(site)
    return {
        name: Service(name, command, dict(env))
        for name, command in commands(site, worker_name).items()
    }
