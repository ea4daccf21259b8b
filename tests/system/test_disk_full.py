"""A full disk on the production topology: the processing directory on a small
filesystem (a size-limited tmpfs the test mounts over the cluster's
``currentlyProcessing`` and remounts larger between the stages) too small for Receive
transfer, then for Normalize, then for Prepare AIP. Each stage checks its free space
before it writes and fails as a system fault naming the folder, the space it needs (its
estimate) and the space free; nothing is stored or indexed meanwhile and the source
stays. Given room, the retry goes on; the run failed at Prepare AIP completes once its
task is cleared."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from preservation.core.settings import load_settings
from tests import media
from tests.browser import api_token
from tests.system.conftest import upload_package

pytestmark = pytest.mark.system

MiB = 1024 * 1024
NEEDS = re.compile(r"needs about ([\d.]+) MiB")


def mount(folder: Path, size: int) -> None:
    options = f"size={size}"
    if folder.is_mount():
        subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)
    else:
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)


def try_log(cluster, run_id: str, task: str, attempt: int, map_index: int = -1) -> str:
    folder = cluster.airflow_home / "logs" / "dag_id=transfer_ingest" / f"run_id={run_id}"
    folder /= f"task_id={task}"
    if map_index >= 0:
        folder /= f"map_index={map_index}"
    return (folder / f"attempt={attempt}.log").read_text()


def failed_try(cluster, run_id: str, task: str, state: str = "up_for_retry") -> int:
    """The map index of a try of ``task`` that failed (waiting for its retry, or failed)."""
    rows = cluster.query(
        "SELECT map_index FROM task_instance WHERE dag_id = 'transfer_ingest' "
        "AND run_id = %s AND task_id = %s AND state = %s",
        (run_id, task, state),
    )
    return rows[0][0] if rows else None


def needed(log: str) -> int:
    return int(float(NEEDS.search(log)[1]) * MiB)


def test_a_disk_too_small_for_each_stage_fails_it_clearly_and_the_run_completes_given_room(
    airflow_cluster,
):
    cluster = airflow_cluster
    token = uuid.uuid4().hex[:8]
    name, identifier = f"DISKFULL_{token}", f"PP/DISKFULL/{token}"
    processing = load_settings(
        {"PRESERVATION_HOME": cluster.native.site.preservation_home}
    ).processing_directory
    processing.mkdir(parents=True, exist_ok=True)
    files = {
        "recordings/session.bin": bytes(range(256)) * (48 * 1024),  # 12 MiB
        # A plan whose preservation copy (an uncompressed TIFF) is some 18 MB.
        "plans/site plan.png": media.image("PNG", (3000, 2000)),
    }
    # Normalization is off in the drop box's configurations: this transfer is started
    # as the README shows, from its own bucket, with Archivematica's default one.
    source_bucket = f"manual-{token}"
    cluster.s3().create_bucket(Bucket=source_bucket)
    key = upload_package(cluster, name, identifier, files, bucket=source_bucket)
    run_id = f"diskfull_{token}"
    mount(processing, 4 * MiB)
    try:
        cluster.trigger(
            {run_id: {"transfer": f"s3://{source_bucket}/{key}", "processing_config": "default"}}
        )

        # Receive transfer: no room to unpack.
        cluster.wait_for(
            "Receive transfer to fail",
            lambda: failed_try(cluster, run_id, "receive_transfer") is not None,
            timeout=300,
        )
        log = try_log(cluster, run_id, "receive_transfer", 1)
        assert f"in {processing}" in log and "MiB free" in log, log[-2000:]
        receive = needed(log)
        assert receive >= 12 * MiB
        mount(processing, receive + 3 * MiB)  # 1 MiB of it kept spare

        # Normalize: the unpacked transfer fits, its preservation copies would not.
        [index] = cluster.wait_for(
            "Normalize to fail",
            lambda: (
                (found := failed_try(cluster, run_id, "normalize_files")) is not None and [found]
            ),
            timeout=300,
        )
        log = try_log(cluster, run_id, "normalize_files", 1, index)
        assert f"in {processing}" in log, log[-2000:]
        normalize = needed(log)
        assert normalize >= 18_000_000
        used = shutil.disk_usage(processing).used
        mount(processing, used + normalize + 8 * MiB)

        # Prepare AIP: no room for the package to come, and it stays so: the task fails
        # its every try, and the run fails.
        states = cluster.wait_for_runs([run_id], timeout=600)
        assert states == {run_id: "failed"}
        assert failed_try(cluster, run_id, "prepare_aip", "failed") is not None
        log = try_log(cluster, run_id, "prepare_aip", 1)
        assert f"in {processing}" in log and "needs about" in log, log[-2000:]
        # Nothing stored or indexed; the upload is still there.
        assert cluster.aip_location().index.versions(identifier) == []
        stored = cluster.s3().list_objects_v2(Bucket=cluster.aip_bucket, Prefix="aips/")
        assert [o["Key"] for o in stored.get("Contents", []) if name in o["Key"]] == []
        assert cluster.s3().head_object(Bucket=source_bucket, Key=key)["ContentLength"] > 0

        # Space freed, the task cleared: the run completes.
        mount(processing, 256 * MiB)
        clear(cluster, run_id, "prepare_aip")
        states = cluster.wait_for_runs([run_id], timeout=600)
        assert states == {run_id: "success"}, cluster.failure_reasons([run_id])
    finally:
        if processing.is_mount():
            subprocess.run(["umount", "--lazy", str(processing)], check=True)
    [stored] = cluster.aip_location().index.versions(identifier)
    location = cluster.aip_location()
    assert location.verify(location.url(stored), stored.sha256).success


def clear(cluster, run_id: str, task: str) -> None:
    """Clear a task and what follows it, as an operator does in the UI (the REST API)."""
    api = cluster.native.site.api_url
    password = (cluster.native.home / "admin-password").read_text().strip()
    token = api_token(api, "admin", password)
    body = {
        "dag_run_id": run_id,
        "task_ids": [task],
        "include_downstream": True,
        "only_failed": False,
        "dry_run": False,
    }
    request = urllib.request.Request(
        f"{api}/api/v2/dags/transfer_ingest/clearTaskInstances",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.status == 200
