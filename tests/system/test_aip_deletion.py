"""Deleting a stored AIP on the production topology, as two archivists do it: ann asks
(she starts aip_deletion with a reason, through Airflow's REST API as the UI does), and
the request waits in Required Actions, holding no worker slot, for someone to answer
through the human-in-the-loop API. ann approving her own request is refused; bob
approving the next one deletes the AIP from S3, leaves its tombstone in the index, tells
Slack once, and the audit trail says who did what, in order."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
import uuid

import pytest

from preservation.operations import aip_catalog
from tests.browser import api_token
from tests.system.conftest import FINISHED, upload_package

pytestmark = pytest.mark.system

DAG = "aip_deletion"
REASON = "Deposited twice by mistake: the other copy is the one to keep"


def rest(cluster, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{cluster.native.site.api_url}/api/v2{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def archivist(cluster, name: str) -> str:
    """A user with the Archivist role; returns a token of theirs."""
    password = secrets.token_urlsafe(16)
    # "--password=" because a token may begin with "-", which argparse takes for an option
    done = cluster.airflow(
        "users", "create", "--username", name, "--role", "Archivist", f"--password={password}",
        "--firstname", name.title(), "--lastname", "Archivist", "--email", f"{name}@localhost",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return api_token(cluster.native.site.api_url, name, password)


def ask(cluster, token: str, identifier: str) -> str:
    run = rest(
        cluster,
        token,
        "POST",
        f"/dags/{DAG}/dagRuns",
        {"logical_date": None, "conf": {"aip": identifier, "version": None, "reason": REASON}},
    )
    return run["dag_run_id"]


def waiting_for_an_answer(cluster, run_id: str) -> None:
    cluster.wait_for(
        "the request to wait in Required Actions",
        lambda: (
            cluster.query(
                "SELECT state FROM task_instance WHERE dag_id = %s AND run_id = %s "
                "AND task_id = 'approve_deletion'",
                (DAG, run_id),
            )
            == [("awaiting_input",)]
        ),
        timeout=180,
    )


def answer(cluster, token: str, run_id: str, choice: str) -> None:
    path = f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/approve_deletion/-1/hitlDetails"
    rest(cluster, token, "PATCH", path, {"chosen_options": [choice]})


def finished(cluster, run_id: str, dag_id: str = DAG) -> str:
    def state():
        rows = cluster.query(
            "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id)
        )
        return rows[0][0] if rows and rows[0][0] in FINISHED else None

    return cluster.wait_for(f"{run_id} to finish", state, timeout=300)


def test_an_aip_is_deleted_only_when_another_person_approves(airflow_cluster, session_slack):
    cluster = airflow_cluster
    mark = uuid.uuid4().hex[:8]
    name, identifier = f"DELETE_{mark}", f"PP/DELETE/{mark}"
    upload_package(cluster, name, identifier, {"letter.txt": b"Dear archivist"})
    stored = cluster.wait_for(
        "the AIP to be stored",
        lambda: cluster.aip_location().index.resolve(identifier),
        timeout=600,
    )
    location = cluster.aip_location()
    assert location.find(stored.aip_uuid)
    cluster.unpause(DAG)
    ann, bob = archivist(cluster, f"ann{mark}"), archivist(cluster, f"bob{mark}")

    # ann approves her own request: refused, and nothing is deleted.
    own = ask(cluster, ann, identifier)
    waiting_for_an_answer(cluster, own)  # awaiting input: no worker slot held
    answer(cluster, ann, own, "Approve")
    assert finished(cluster, own) == "failed"
    reasons = cluster.failure_reasons([own], DAG)
    assert (
        "cannot approve it too: another person must approve" in reasons[(own, "approve_deletion")]
    )
    assert location.find(stored.aip_uuid)

    # bob approves ann's next request: deleted everywhere, once.
    slack_before = len(session_slack.messages)
    second = ask(cluster, ann, identifier)
    waiting_for_an_answer(cluster, second)
    with pytest.raises(urllib.error.HTTPError):  # one answer only
        answer(cluster, bob, second, "Maybe")
    answer(cluster, bob, second, "Approve")
    assert finished(cluster, second) == "success"
    assert location.find(stored.aip_uuid) is None
    # Only the index's records of it are left (its tombstone among them).
    objects = cluster.s3().list_objects_v2(Bucket=cluster.aip_bucket, Prefix="aips/")
    left = [o["Key"] for o in objects.get("Contents", []) if stored.aip_uuid in o["Key"]]
    assert left and all(key.startswith("aips/index/") for key in left), left
    tombstone = location.index.tombstone(stored.aip_uuid)
    assert (tombstone.requested_by, tombstone.approved_by) == (f"ann{mark}", f"bob{mark}")
    assert tombstone.event["eventType"] == "deletion"
    [listed] = aip_catalog.list_aips(location, identifier)
    assert listed["status"].startswith("deleted") and REASON in listed["status"]
    told = [m for m in session_slack.messages[slack_before:] if identifier in m["text"]]
    assert len(told) == 1 and f"approved by *bob{mark}*" in told[0]["text"]

    trail = [(e.action, e.user) for e in aip_catalog.audit_trail(location, identifier)]
    ingested_by = trail[0][1]  # whoever the watcher's run names as starting it
    assert trail == [
        ("ingest started", ingested_by),
        ("stored", ingested_by),
        ("deletion requested", f"ann{mark}"),
        ("deletion refused", f"ann{mark}"),
        ("deletion requested", f"ann{mark}"),
        ("deletion approved", f"bob{mark}"),
        ("deleted", f"bob{mark}"),
    ]
