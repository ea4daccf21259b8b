"""docker-compose.yaml is a valid Compose file (checked by Debian's docker-compose 1.29
client, which validates against the Compose specification's schema) and runs exactly
the Airflow components ``preservation cluster up`` runs natively: the same commands and
environments, with the compose site's addresses and the secrets of .env.example."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from preservation.deploy import topology

REPO = Path(__file__).resolve().parents[2]


def env_example() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def compose_site(secrets: dict[str, str]) -> topology.Site:
    """The site docker-compose.yaml describes: services by their compose names."""
    database = f"postgresql+psycopg2://airflow:{secrets['POSTGRES_PASSWORD']}@postgres:5432/airflow"
    return topology.Site(
        database_url=database,
        broker_url="redis://redis:6379/0",
        api_host="0.0.0.0",
        api_port=8080,
        api_url="http://airflow-apiserver:8080",
        s3_endpoint="http://minio:9000",
        s3_access_key=secrets["MINIO_ROOT_USER"],
        s3_secret_key=secrets["MINIO_ROOT_PASSWORD"],
        jwt_secret=secrets["AIRFLOW_JWT_SECRET"],
        api_secret_key=secrets["AIRFLOW_API_SECRET_KEY"],
        dags_folder="/opt/airflow/dags",
        plugins_folder="/opt/airflow/plugins",
        preservation_home="/opt/airflow/preservation",
        transfer_bucket="transfers",
        aip_store="s3://aips/aips",
        clamd_socket="/run/clamav/clamd.sock",
        admin_password=secrets["PRESERVATION_ADMIN_PASSWORD"],
        sso=tuple((k, secrets[k]) for k in topology.SSO_SETTINGS if secrets.get(k)),
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    """The compose file as docker-compose resolves it (anchors merged, .env.example
    interpolated), after its validation against the Compose specification."""
    client = shutil.which("docker-compose")
    assert client, "docker-compose is missing: apt-get install docker-compose (make tools)"
    done = subprocess.run(
        [client, "--env-file", ".env.example", "-f", "docker-compose.yaml", "config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_the_compose_file_is_valid_and_has_the_whole_deployment(compose):
    assert set(compose["services"]) == {
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "clamd",
        *topology.COMPONENTS,
    }
    services = compose["services"]
    # Health-checked dependencies: Airflow waits for its database, broker and buckets,
    # and the components for the finished migration.
    for name in topology.COMPONENTS:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["minio-init"]["condition"] == "service_completed_successfully", name
        if name != topology.INIT:
            assert depends[topology.INIT]["condition"] == "service_completed_successfully"
            assert "healthcheck" in services[name], name
    # Workers and clamd share the processing directory.
    home = "/opt/airflow/preservation"
    # docker-compose 1.29 prints short syntax ("source:target[:mode]").
    mounts = {
        name: [v.split(":")[:2] for v in services[name]["volumes"]]
        for name in (topology.WORKER, "clamd")
    }
    shared = {name: [s for s, t in m if t == home] for name, m in mounts.items()}
    assert shared == {topology.WORKER: ["preservation"], "clamd": ["preservation"]}
    assert "mc mb --ignore-existing local/transfers local/aips" in " ".join(
        services["minio-init"]["command"]
    )


def test_every_airflow_service_runs_the_native_topologys_command_and_environment(compose):
    expected = topology.services(compose_site(env_example()))
    for name, service in expected.items():
        actual = compose["services"][name]
        assert tuple(actual["command"]) == service.command, name
        assert {k: str(v) for k, v in actual["environment"].items()} == service.environment, name


def test_secrets_are_required_from_the_environment_file_never_written_in(tmp_path):
    text = (REPO / "docker-compose.yaml").read_text()
    for secret in (
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_API_SECRET_KEY",
        "POSTGRES_PASSWORD",
        "PRESERVATION_ADMIN_PASSWORD",
    ):
        assert re.search(rf"\$\{{{secret}:\?", text), secret
    for value in env_example().values():
        if "change-me" in value:
            assert value not in text
    assert ".env" in (REPO / ".gitignore").read_text().split()
    # Without a .env, compose refuses to start rather than run with blank secrets.
    shutil.copy(REPO / "docker-compose.yaml", tmp_path)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    done = subprocess.run(
        [shutil.which("docker-compose"), "config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "in .env" in done.stderr, done.stderr


def test_the_image_installs_the_tools_the_makefile_installs():
    makefile = (REPO / "Makefile").read_text()
    packages = re.search(r"^APT_PACKAGES := (.*?)(?<!\\)\n", makefile, re.S | re.M)[1]
    wanted = set(packages.replace("\\\n", " ").split())
    dockerfile = (REPO / "Dockerfile").read_text()
    install = re.search(r"apt-get install -y --no-install-recommends (.*?) \\?\n", dockerfile)
    assert set(install[1].split()) == wanted
