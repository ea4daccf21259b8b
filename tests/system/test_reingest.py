"""Reingest on the production topology: an archivist starts aip_reingest for an AIP the
drop box stored in S3 (through Airflow's REST API, as the UI does), and the Celery worker
running the reingest is SIGKILLed twice, while it fetches the AIP and while it stores the
new version. The run ends as if nothing happened: one new version, stored beside the
first, whose METS is valid and carries the new metadata, and one "reingest" entry in the
audit trail."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from lxml import etree

from preservation.operations import aip_catalog
from tests import media
from tests.system.conftest import upload_package
from tests.system.test_aip_deletion import archivist, finished, rest
from tests.system.test_chaos import running_try

pytestmark = pytest.mark.system

DAG = "aip_reingest"
NS = {"mets": "http://www.loc.gov/METS/", "dc": "http://purl.org/dc/elements/1.1/"}


def kill_while_running(cluster, run_id: str, task_id: str) -> None:
    """SIGKILL the worker running ``task_id`` of the run, then start it again."""
    hit = cluster.wait_for(
        f"{task_id} to run",
        lambda: running_try(cluster, DAG, task_id, run_id, None),
        timeout=420,
        interval=0.05,
    )
    victim = cluster.kill_worker_running(hit["celery_id"])
    cluster.restart_worker(victim)


def test_a_reingest_whose_worker_is_killed_twice_makes_one_new_version(
    airflow_cluster, tmp_path, mets_schema
):
    cluster = airflow_cluster
    mark = uuid.uuid4().hex[:8]
    identifier = f"PP/REINGEST/{mark}"
    upload_package(
        cluster, f"REINGEST_{mark}", identifier, {"scan.png": media.image("PNG", (64, 48))}
    )
    first = cluster.wait_for(
        "the AIP to be stored", lambda: cluster.aip_location().index.resolve(identifier), 600
    )
    cluster.unpause(DAG)
    ann = archivist(cluster, f"ann{mark}")
    metadata = tmp_path / "metadata.csv"
    metadata.write_text(f"filename,dc.identifier,dc.title\nobjects/,{identifier},Reingested\n")

    run = rest(
        cluster,
        ann,
        "POST",
        f"/dags/{DAG}/dagRuns",
        {
            "logical_date": None,
            "conf": {"aip": identifier, "mode": "partial", "metadata_csv": str(metadata)},
        },
    )["dag_run_id"]
    kill_while_running(cluster, run, "reingest_aip")
    kill_while_running(cluster, run, "store_aip")
    assert finished(cluster, run, DAG) == "success", cluster.failure_reasons([run], DAG)

    location = cluster.aip_location()
    versions = location.index.versions(identifier)
    assert [v.version for v in versions] == [2, 1]
    second = versions[0]
    assert versions[1].aip_uuid == first.aip_uuid != second.aip_uuid
    assert location.find(first.aip_uuid) and location.find(second.aip_uuid)
    trail = [
        (e.action, e.user) for e in aip_catalog.audit_trail(location, identifier)
        if e.action in ("reingest", "stored")
    ]  # fmt: skip
    assert trail[1:] == [("reingest", f"ann{mark}"), ("stored", f"ann{mark}")]

    fetched = aip_catalog.get(location, second.aip_uuid, tmp_path / "get", user="test")
    subprocess.run(["7z", "x", "-bd", f"-o{tmp_path / 'x'}", str(fetched)], check=True)
    [bag] = (tmp_path / "x").iterdir()
    mets = etree.parse(str(bag / "data" / f"METS.{second.aip_uuid}.xml"))
    assert mets_schema.validate(mets), mets_schema.error_log
    assert mets.findtext(".//dc:title", namespaces=NS) == "Reingested"
    assert mets.find("mets:metsHdr", NS).get("LASTMODDATE")
