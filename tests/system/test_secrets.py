"""Secrets stay secret: after an ingest, a watcher run, a rejected upload and a failed run
on the production topology, whose S3 secret key, Slack webhook token, JWT secret, API
secret key, admin password and OIDC client secret are distinctive, none of them appears
in any process log, task log, feedback log or Slack message."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.conftest import EICAR
from tests.media import zip_bytes
from tests.system.conftest import S3_SECRET, SLACK_TOKEN

pytestmark = pytest.mark.system


def test_no_log_or_message_shows_a_secret(airflow_cluster, session_slack):
    cluster = airflow_cluster
    site = cluster.native.site
    secrets = {
        "the S3 secret key": S3_SECRET,
        "the Slack webhook token": SLACK_TOKEN,
        "the JWT secret": site.jwt_secret,
        "the API secret key": site.api_secret_key,
        "the admin password": site.admin_password,
        "the OIDC client secret": cluster.oidc.client_secret,
    }
    assert site.s3_secret_key == S3_SECRET  # the deployment does run with them

    token = uuid.uuid4().hex[:8]
    client = cluster.s3()
    keys = {
        "stored": f"born-digital/SECRET_OK_{token}.zip",
        "failed": f"born-digital/SECRET_VIRUS_{token}.zip",
        "rejected": f"born-digital/SECRET_BROKEN_{token}.zip",
    }
    metadata = f"filename,dc.identifier\nobjects/,PP/SECRET/{token}\n"
    bodies = {
        "stored": zip_bytes({"a.txt": "a", "metadata/metadata.csv": metadata}),
        "failed": zip_bytes({"v.com": EICAR.decode(), "metadata/metadata.csv": metadata}),
        "rejected": b"not a zip",
    }
    for role, key in keys.items():
        client.put_object(Bucket=cluster.bucket, Key=key, Body=bodies[role])
    drop_box = cluster.drop_box()
    cluster.wait_for(
        "the feedback logs",
        lambda: all(drop_box.feedback_logs(key) for key in keys.values()),
        timeout=180,
    )
    for role in ("stored", "failed"):
        url = f"s3://{cluster.bucket}/{keys[role]}"
        runs = cluster.wait_for(f"the run of {role}", lambda u=url: cluster.ingest_runs_for(u), 120)
        cluster.wait_for_runs(list(runs), timeout=600)
    cluster.wait_for(
        "the failure alert", lambda: any(token in m["text"] for m in session_slack.messages), 120
    )

    places = {}
    for folder in (cluster.native.logs, cluster.airflow_home / "logs"):
        for path in folder.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=cluster.bucket):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".log"):
                body = client.get_object(Bucket=cluster.bucket, Key=item["Key"])["Body"]
                places[f"s3://{cluster.bucket}/{item['Key']}"] = body.read().decode()
    for n, message in enumerate(session_slack.messages):
        places[f"Slack message {n}"] = str(message)
    assert len([p for p in places if "/logs/dag_id=transfer_ingest/" in p]) > 10
    assert any(os.path.basename(p).startswith("airflow-apiserver") for p in places)

    leaks = [
        f"{what} in {place}"
        for place, text in places.items()
        for what, secret in secrets.items()
        if secret in text
    ]
    assert leaks == []
