"""Shared fixtures: real tools, real files, nothing of ours mocked.

* ``clamav_database``: a ClamAV signature database built with ClamAV's own ``sigtool``
  (EICAR's MD5 signature and a body signature for a test marker string); production
  uses freshclam's official databases instead.
* ``clamd``: a real clamd daemon on a Unix socket, loading that database.
* ``home``: an isolated ``PRESERVATION_HOME`` whose scanner is clamscan with the test
  database (tests that want clamd request the ``clamd`` fixture too).
* ``make_transfer``: builds transfer packages (folder or zip) from a dict of files.
* ``new_package`` / ``run_until``: a Package for a source and the micro-services run in
  the DAG's order up to a given one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from preservation import pipeline
from preservation.core import processing_config
from preservation.core.errors import StepNotApplicable
from preservation.core.package import Package, PackageRef
from preservation.core.settings import load_settings
from preservation.pipeline import TRANSFER_INGEST
from preservation.tools.clamav import EICAR, build_test_database  # noqa: F401 (EICAR re-exported)

SHARED = Path(__file__).resolve().parents[2] / "shared"
SCHEMA = SHARED / "schemas" / "aip-mets.xsd"
TEST_MARKER = b"PRESERVATION-PIPELINE-TEST-MALWARE-MARKER"

STAGES = TRANSFER_INGEST

CATALOGUED_CSV = "filename,dc.identifier,dc.title\nobjects/,PP/MDM/A/3/1a,Papers\n"
ACCESSION_CSV = "filename,collection_reference,accession_number\nobjects/,SA/TIH,2314_2\n"


@pytest.fixture(scope="session")
def clamav_database(tmp_path_factory) -> Path:
    return build_test_database(
        tmp_path_factory.mktemp("clamav-db"), {"Preservation.Test.Marker": TEST_MARKER}
    )


@pytest.fixture(scope="session")
def clamd(tmp_path_factory, clamav_database) -> str:
    folder = tmp_path_factory.mktemp("clamd")
    sock = folder / "clamd.sock"
    conf = folder / "clamd.conf"
    conf.write_text(
        f"LocalSocket {sock}\nDatabaseDirectory {clamav_database}\nForeground true\n"
        f"User root\nLogFile {folder / 'clamd.log'}\nMaxQueue 100\n"
        # As deployments must: clamd's own limits (100/400 MB) would pass bigger files
        # unscanned; PRESERVATION_VIRUS_SCAN_MAX_MB decides instead.
        "MaxFileSize 2047M\nMaxScanSize 2047M\n"
    )
    process = subprocess.Popen(
        ["clamd", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not sock.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"clamd did not start: {(folder / 'clamd.log').read_text()}")
        time.sleep(0.1)
    yield str(sock)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture
def home(tmp_path, monkeypatch, clamav_database):
    """An isolated PRESERVATION_HOME; ClamAV runs as clamscan on the test database."""
    monkeypatch.setenv("PRESERVATION_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAMAV_DATABASE", str(clamav_database))
    monkeypatch.setenv("CLAMD_SOCKET", str(tmp_path / "no-clamd.sock"))
    monkeypatch.setenv("PRESERVATION_WORKERS", "2")
    return load_settings()


@pytest.fixture
def make_transfer(tmp_path):
    """Build a transfer: ``make_transfer({"a.txt": b"..."}, as_zip=True)``.

    ``metadata`` defaults to a catalogued metadata.csv; pass ``None`` to leave it out or
    a dict of extra metadata files. Values may be bytes, str or None (empty folder).
    """

    def build(
        files: dict[str, bytes | str | None],
        metadata: dict[str, str] | None | str = "",
        as_zip: bool = False,
        name: str | None = None,
    ) -> Path:
        name = name or f"transfer{uuid.uuid4().hex[:6]}"
        folder = tmp_path / "sources" / name
        entries = dict(files)
        if metadata == "":
            metadata = {"metadata.csv": CATALOGUED_CSV}
        for meta_name, text in (metadata or {}).items():
            entries[f"metadata/{meta_name}"] = text
        for rel, content in entries.items():
            path = folder / rel
            if content is None:
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        folder.mkdir(parents=True, exist_ok=True)
        if not as_zip:
            return folder
        archive = tmp_path / "sources" / f"{name}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.rglob("*")):
                rel = path.relative_to(folder).as_posix()
                zf.write(path, rel + ("/" if path.is_dir() else ""))
        shutil.rmtree(folder)
        return archive

    return build


@pytest.fixture
def new_package(home):
    """``new_package(source, config="automated")`` -> a Package for a fresh run."""
    made = []

    def build(source: Path | str, config: str = "automated", run_key: str | None = None):
        ref = PackageRef.for_run(str(source), run_key or f"test/{uuid.uuid4()}")
        package = Package(ref, load_settings(), processing_config.load(config), "tester")
        made.append(package)
        return package

    yield build
    for package in made:
        package.close()


def run_stage(package: Package, service: str, source: str | Path | None = None):
    """Run one micro-service as the DAG would; returns its result or the skip reason."""
    import importlib

    stage = pipeline.stage(service)
    module = importlib.import_module(stage.module)
    try:
        if "source" in stage.needs:
            return module.run(package, source=str(source))
        return module.run(package)
    except StepNotApplicable as reason:
        return reason


@pytest.fixture
def run_until():
    """``run_until(package, source, "create_sip")`` runs the stages up to and including it."""

    def run(package: Package, source, last: str):
        results = {}
        for service in STAGES[: STAGES.index(last) + 1]:
            results[service] = run_stage(package, service, source)
        return results

    return run


@pytest.fixture(scope="session")
def mets_schema():
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def pytest_configure(config):
    os.environ.setdefault("PRESERVATION_TASK_RETRIES", "0")


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory):
    """One Airflow home (SQLite metadata database) for the session, migrated once."""
    return tmp_path_factory.mktemp("airflow-home")


@pytest.fixture
def airflow_env(monkeypatch, airflow_home, home):
    """Airflow processes started by the test use the session's home and no retries."""
    from tests.airflow_support import isolate_airflow_env

    isolate_airflow_env(monkeypatch, airflow_home)
    return airflow_home


@pytest.fixture
def package_until(make_transfer, new_package, run_until):
    """``package_until(files, "prepare_aip")``: a package of a fresh transfer of ``files``,
    run (automated configuration unless ``config`` says) up to and including that stage."""

    def build(files: dict, last: str, config: str = "automated", **transfer_options):
        source = make_transfer(files, **transfer_options)
        package = new_package(source, config)
        run_until(package, source, last)
        return package

    return build


def start_moto(folder: Path, **environment: str) -> tuple[subprocess.Popen, str]:
    """moto's standalone S3 server on a free loopback port; returns (process, endpoint)."""
    import sys

    from preservation.deploy.cluster import free_port, s3_ready

    port = free_port()
    log = folder / f"moto-{port}.log"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **environment},
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not s3_ready(endpoint):
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"moto_server did not start: {log.read_text()}")
        time.sleep(0.2)
    return server, endpoint


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """moto's standalone S3 server on a free loopback port, for the whole session."""
    server, endpoint = start_moto(tmp_path_factory.mktemp("moto"))
    yield endpoint
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="session")
def moto_checking_credentials(tmp_path_factory):
    """A moto S3 server that checks credentials (IAM authentication on from the first
    request): an unknown access key is refused as AWS refuses it."""
    server, endpoint = start_moto(
        tmp_path_factory.mktemp("moto-auth"), INITIAL_NO_AUTH_ACTION_COUNT="0"
    )
    yield endpoint
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    """A fresh bucket on moto's server, and the Airflow connection ``aws_default`` (as an
    environment variable, as a deployment would set it) pointing at it."""
    import json

    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"transfers-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("PRESERVATION_TRANSFER_BUCKET", bucket)
    return client, bucket


class SlackRecorder:
    """A local HTTP server standing in for Slack's incoming webhook: records every
    message slack-sdk sends; ``fail_next`` makes the next requests fail with 503."""

    def __init__(self, token: str = "secret"):
        import http.server
        import threading

        recorder = self
        self.messages: list[dict] = []
        self.fail_next = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if recorder.fail_next > 0:
                    recorder.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b"service_unavailable")
                    return
                recorder.messages.append(__import__("json").loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/{token}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack(monkeypatch):
    """A recording Slack webhook, configured as the Airflow connection ``slack_default``
    (type slackwebhook, the webhook URL as its password), as a deployment would."""
    import json

    recorder = SlackRecorder()
    monkeypatch.setenv("PRESERVATION_NOTIFICATIONS", "slack")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_DEFAULT",
        json.dumps({"conn_type": "slackwebhook", "password": recorder.url}),
    )
    yield recorder
    recorder.close()


def sns_subscription(moto_endpoint: str):
    """An SNS topic on moto's server with an SQS queue subscribed (raw delivery); returns
    a function reading (and consuming) what was published, with ``.topic`` its ARN."""
    import json

    import boto3

    options = {
        "endpoint_url": moto_endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    sns, sqs = boto3.client("sns", **options), boto3.client("sqs", **options)
    name = f"stored-{uuid.uuid4().hex[:8]}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )

    def published() -> list[dict]:
        messages = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not batch:
                return messages
            for item in batch:
                messages.append(json.loads(item["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=item["ReceiptHandle"])

    published.sns = sns
    published.topic = topic
    return published


@pytest.fixture
def sns_queue(s3, moto_endpoint, monkeypatch):
    """An SNS subscription (:func:`sns_subscription`) set as ``PRESERVATION_SNS_TOPIC_ARN``."""
    published = sns_subscription(moto_endpoint)
    monkeypatch.setenv("PRESERVATION_SNS_TOPIC_ARN", published.topic)
    return published


class TcpProxy:
    """A TCP forwarder on loopback in front of a server; ``down()`` makes the server
    unreachable (connections refused, open ones cut), ``up()`` brings it back on the
    same port."""

    def __init__(self, target_port: int):
        import socket

        self.target_port = target_port
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.listener = None
        self.open: list = []
        self.up()

    def up(self) -> None:
        import socket
        import threading

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        import socket

        listener, self.listener = self.listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for connection in self.open:
            try:
                connection.close()
            except OSError:
                pass
        self.open.clear()

    def _accept(self, listener) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self.open += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source, target) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.close()
                except OSError:
                    pass
