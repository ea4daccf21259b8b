"""Archivematica's decision points on the production topology, with the processing
configuration that asks them (`reviewed`), answered as archivists answer them: through
the human-in-the-loop API behind Airflow's Required Actions. A question waits holding no
worker slot (every worker killed meanwhile changes nothing) and shows what was found; a
rejected transfer ends with who rejected it and its upload kept; a chosen normalization
is the one made; an unanswered question takes the configuration's answer once its time
is up. Each answer is in the audit trail."""

from __future__ import annotations

import uuid

import pytest

from preservation.operations import aip_catalog
from tests import media
from tests.browser import chromium, shoot
from tests.system.conftest import DAG_ID, upload_package
from tests.system.test_aip_deletion import archivist, finished, rest

pytestmark = pytest.mark.system


def start(cluster, token: str, bucket: str, key: str, minutes: int) -> str:
    conf = {
        "transfer": f"s3://{bucket}/{key}",
        "processing_config": "reviewed",
        "decision_timeout_minutes": minutes,
    }
    run = rest(
        cluster, token, "POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf}
    )
    return run["dag_run_id"]


def question(cluster, token: str, run_id: str, task: str) -> dict:
    """The question ``task`` asks, once it waits for an answer."""
    cluster.wait_for(
        f"{task} to wait for an answer",
        lambda: (
            cluster.query(
                "SELECT state FROM task_instance "
                "WHERE dag_id = %s AND run_id = %s AND task_id = %s",
                (DAG_ID, run_id, task),
            )
            == [("awaiting_input",)]
        ),
        timeout=600,
    )
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task}/-1/hitlDetails"
    return rest(cluster, token, "GET", path)


def answer(cluster, token: str, run_id: str, task: str, choice: str) -> None:
    path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task}/-1/hitlDetails"
    rest(cluster, token, "PATCH", path, {"chosen_options": [choice]})


def approve_in_the_ui(cluster, token: str, run_id: str, tmp_path) -> None:
    """The package's page says what waits and links to it; Airflow's Required Actions
    shows the question and what was found; a click on Approve answers it."""
    from selenium.webdriver.common.by import By

    api = cluster.native.site.api_url
    with chromium(tmp_path / "profile") as browser:
        browser.get(f"{api}/api/v2/version")
        browser.add_cookie({"name": "_token", "value": token, "path": "/"})
        browser.get(f"{api}/packages/run/{run_id}")
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Approve transfer: waiting for an answer" in body
        shoot(browser, "decision-waiting-package-page")
        browser.find_element(By.LINK_TEXT, "answer it in Required Actions").click()

        def question_shown():
            text = browser.find_element(By.TAG_NAME, "body").text
            return "Approve this transfer for ingest?" in text and "2 file(s)" in text

        cluster.wait_for("Required Actions to show the question", question_shown, 60, 0.5)
        shoot(browser, "decision-required-actions")
        [approve] = [
            b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Approve"
        ]
        approve.click()
        cluster.wait_for(
            "the answer to be taken",
            lambda: (
                cluster.query(
                    "SELECT state FROM task_instance "
                    "WHERE dag_id = %s AND run_id = %s AND task_id = 'approve_transfer'",
                    (DAG_ID, run_id),
                )
                in ([("success",)], [("running",)], [("queued",)], [("scheduled",)])
            ),
            60,
            0.5,
        )
        shoot(browser, "decision-answered")


def test_each_decision_is_answered_by_a_person_or_by_its_time_out(
    airflow_cluster, session_slack, tmp_path
):
    cluster = airflow_cluster
    mark = uuid.uuid4().hex[:8]
    cluster.unpause(DAG_ID)
    ann, bob = archivist(cluster, f"ann{mark}"), archivist(cluster, f"bob{mark}")
    files = {"scan.png": media.image("PNG", (64, 48)), "notes.txt": b"notes"}
    # Started by hand as the README shows, from a bucket of its own (the drop box's
    # watcher would start its own runs of whatever lands in the transfer bucket).
    bucket = f"asked-{mark}"
    cluster.s3().create_bucket(Bucket=bucket)

    # ann rejects a transfer after its checks: the run ends saying so; the upload stays.
    rejected_key = upload_package(cluster, f"ASK_NO_{mark}", f"PP/ASK/NO/{mark}", files, bucket)
    rejected = start(cluster, ann, bucket, rejected_key, minutes=60)
    asked = question(cluster, ann, rejected, "approve_transfer")
    assert "2 file(s)" in asked["body"] and "Portable Network Graphics" in asked["body"]
    assert asked["options"] == ["Approve", "Reject"]
    answer(cluster, ann, rejected, "approve_transfer", "Reject")
    assert finished(cluster, rejected, DAG_ID) == "failed"
    reasons = cluster.failure_reasons([rejected])
    assert "Approve transfer: rejected (answered by ann" in reasons[(rejected, "approve_transfer")]
    assert cluster.s3().head_object(Bucket=bucket, Key=rejected_key)
    assert cluster.aip_location().index.versions(f"PP/ASK/NO/{mark}") == []

    # bob approves, ann chooses access copies only, nobody reviews the AIP: stored.
    identifier = f"PP/ASK/YES/{mark}"
    key = upload_package(cluster, f"ASK_YES_{mark}", identifier, files, bucket)
    run = start(cluster, bob, bucket, key, minutes=1)
    question(cluster, bob, run, "approve_transfer")
    # Every worker killed while the question waits: it waits on, nothing is lost.
    for worker in cluster.native.worker_names():
        cluster.native.kill(worker)
        del cluster.native.processes[worker]
    for worker in cluster.native.worker_names():
        cluster.restart_worker(worker)
    # bob answers as a person does: from the packages page to Required Actions, a click.
    approve_in_the_ui(cluster, bob, run, tmp_path)
    choices = question(cluster, ann, run, "choose_normalization")["options"]
    assert choices == ["preservation_and_access", "preservation", "access", "none"]
    answer(cluster, ann, run, "choose_normalization", "access")
    question(cluster, ann, run, "review_aip")  # and then nobody answers
    assert finished(cluster, run, DAG_ID) == "success"
    [stored] = cluster.aip_location().index.versions(identifier)  # one AIP, one version

    decided = [
        (e.user, e.detail)
        for e in aip_catalog.audit_trail(cluster.aip_location(), identifier)
        if e.action == "decision"
    ]
    assert decided == [
        (f"bob{mark}", f"Approve transfer: Approve (answered by bob{mark})"),
        (f"ann{mark}", f"Choose normalization: access (answered by ann{mark})"),
        ("reviewed", "Review AIP: Store (timed out by reviewed)"),
    ]
    asked_in_slack = [m["text"] for m in session_slack.messages if f"/{mark}" in m["text"]]
    assert sum("Store this AIP?" in text for text in asked_in_slack) == 1
