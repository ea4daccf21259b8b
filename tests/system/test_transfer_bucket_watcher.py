"""The production path on the production topology: an archivist uploads a zip to the S3
transfer bucket, the transfer_watcher DAG (its sensor deferred to the triggerer) starts
one transfer_ingest run for it, Celery workers run it, and the AIP lands in its S3 space,
found by identifier. Nothing is triggered by hand but the watcher."""

from __future__ import annotations

import uuid

import pytest

from preservation.transfer_bucket import uploads
from tests.preservation.test_transfer_bucket import package
from tests.system.conftest import FINISHED

pytestmark = pytest.mark.system


def test_an_upload_becomes_one_run_and_an_aip_in_its_space_found_by_identifier(
    airflow_cluster,
):
    cluster = airflow_cluster
    client, bucket = cluster.s3(), cluster.bucket
    # An identifier of its own: the session's other system tests store into the same bucket.
    identifier = f"PP/SYSTEST/{uuid.uuid4().hex[:8]}"
    good_key, bad_key = "born-digital/PP_SYSTEST.zip", "born-digital/not-a-zip.zip"
    metadata = f"filename,dc.identifier,dc.title\nobjects/,{identifier},Letters\n"
    client.put_object(
        Bucket=bucket,
        Key=good_key,
        Body=package({"letter.txt": "Dear Sir", "metadata/metadata.csv": metadata}),
    )
    client.put_object(Bucket=bucket, Key=bad_key, Body=b"not a zip")
    [upload] = [u for u in uploads(client, bucket) if u.key == good_key]

    cluster.watch()
    states = cluster.wait_for(
        "the transfer_ingest run of the upload",
        lambda: (
            (r := cluster.ingest_runs_for(upload.url))
            and all(s in FINISHED for s in r.values())
            and r
        ),
        timeout=420,
    )
    assert states == {upload.run_id: "success"}, cluster.failure_reasons(list(states))

    # The same upload seen again by the watcher: no second run.
    cluster.watch()
    assert cluster.ingest_runs_for(upload.url) == {upload.run_id: "success"}
    assert cluster.ingest_runs_for(f"s3://{bucket}/{bad_key}") == {}

    # The AIP is in the born-digital space, found by its identifier.
    location = cluster.aip_location()
    [stored] = location.index.versions(identifier)
    assert stored.space == "born-digital" and stored.key.startswith("aips/born-digital/")
    assert location.verify(location.url(stored), stored.sha256).success
    # ...and by the transfer id tagged on the upload (what the weekly monitor asks).
    assert location.index.transfer_stored(upload.transfer_id) == stored

    # Feedback logs next to the uploads; the source stays for the weekly monitor.
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert any(k.startswith(f"{good_key}.success.") for k in keys)
    [failed_log] = [k for k in keys if k.startswith(f"{bad_key}.failed.")]
    assert (
        "File is not a zip file"
        in client.get_object(Bucket=bucket, Key=failed_log)["Body"].read().decode()
    )
    assert {good_key, bad_key} <= keys
