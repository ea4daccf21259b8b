"""The metadata database and the Celery broker restarted while packages are in the
pipeline (this machine's PostgreSQL and Redis, as a platform engineer's maintenance or a
crash would): every run resumes or retries and finishes, no task is left "running" or
"queued" for ever, a package uploaded just after a PostgreSQL restart is noticed, and
each package is stored once. Redis here keeps nothing on disk, so a restart also loses
the messages of tasks queued at that moment: the scheduler sends them again after
``[scheduler] task_queued_timeout``."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests import media
from tests.system.conftest import upload_package, wait_until

pytestmark = pytest.mark.system


def restart_postgresql() -> None:
    """``pg_ctlcluster … restart``: every connection of every component is dropped."""
    started = "SELECT pg_postmaster_start_time()"
    before = _psql(started)
    listed = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True)
    version, name = listed.stdout.split()[:2]
    subprocess.run(["pg_ctlcluster", version, name, "restart", "-m", "fast"], check=True)
    assert _psql(started) != before, "PostgreSQL did not restart"


def _psql(sql: str) -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def restart_redis() -> None:
    """Shut Redis down (keeping nothing, as this machine's Redis keeps nothing on disk)
    and start it again with the settings it ran with, whoever started it."""
    settings = {
        key: _redis("CONFIG", "GET", key).splitlines()[1:2] or [""]
        for key in ("bind", "port", "dir", "logfile", "pidfile", "save", "appendonly")
    }
    before = _server_run_id()
    _redis("SHUTDOWN", "NOSAVE", check=False)  # the connection closes: no answer
    arguments = [
        part for key, [value] in settings.items() for part in (f"--{key}", *(value.split() or [""]))
    ]
    subprocess.run(["redis-server", *arguments, "--daemonize", "yes"], check=True)
    wait_until("Redis to answer", lambda: _redis("PING", check=False) == "PONG", 30, 0.2)
    assert _server_run_id() != before, "Redis did not restart"


def _redis(*command: str, check: bool = True) -> str:
    done = subprocess.run(["redis-cli", *command], capture_output=True, text=True, check=check)
    return done.stdout.strip()


def _server_run_id() -> str:
    info = _redis("INFO", "server")
    return next(line for line in info.splitlines() if line.startswith("run_id:"))


RESTARTS = {"postgresql": restart_postgresql, "redis": restart_redis}


def running_stages(cluster, run_ids) -> list[str]:
    rows = cluster.query(
        "SELECT task_id FROM task_instance WHERE dag_id = 'transfer_ingest' "
        "AND run_id = ANY(%s) AND state = 'running'",
        (list(run_ids),),
    )
    return [task for (task,) in rows]


@pytest.mark.parametrize("service", sorted(RESTARTS))
def test_a_restart_mid_run_lets_every_run_finish_with_each_package_stored_once(
    airflow_cluster, service
):
    cluster = airflow_cluster
    token = uuid.uuid4().hex[:8]
    content = {
        "reports/annual report.pdf": media.pdf(),
        "photos/harbour.png": media.image("png"),
        "sound/interview.wav": media.wav(),
        "letters/letter.txt": b"Dear archivist,\n",
    }
    packages = {
        upload_package(
            cluster, f"RESTART_{service}_{token}_{n}", f"PP/RESTART/{token}/{n}", content
        ): f"PP/RESTART/{token}/{n}"
        for n in range(2)
    }
    uploads = cluster.wait_for(
        "the watcher to start both runs",
        lambda: (
            (found := [cluster.drop_box().upload(key) for key in packages])
            and all(found)
            and len(cluster.run_states([u.run_id for u in found])) == len(found)
            and found
        ),
        timeout=300,
    )
    run_ids = [u.run_id for u in uploads]
    # Mid-run: past the first stages, a task of a run running.
    cluster.wait_for(
        "a stage after Receive transfer to run",
        lambda: set(running_stages(cluster, run_ids)) - {"receive_transfer", "plan_file_chunks"},
        timeout=300,
        interval=0.2,
    )
    RESTARTS[service]()

    if service == "postgresql":
        # The scheduler dies with its database, and the task it had just queued waits
        # for its successor's orphan check (Airflow's 300 s once kept the drop box's
        # watcher queued and new uploads unnoticed for five minutes; now 30 s). A
        # message never sent waits for task_queued_timeout (180 s here), hence 240 s.
        # Redis is left out: it loses the queued messages themselves, which are sent
        # again only after task_queued_timeout (600 s in production).
        late = upload_package(
            cluster, f"RESTART_{service}_{token}_late", f"PP/RESTART/{token}/late", content
        )
        packages[late] = f"PP/RESTART/{token}/late"
        uploads.append(
            cluster.wait_for(
                "the watcher to start a run for the package uploaded after the restart",
                lambda: (
                    (upload := cluster.drop_box().upload(late))
                    and cluster.run_states([upload.run_id])
                    and upload
                ),
                timeout=240,
            )
        )
    run_ids = [u.run_id for u in uploads]

    states = cluster.wait_for_runs(run_ids, timeout=900)
    assert set(states.values()) == {"success"}, cluster.failure_reasons(run_ids)
    stuck = cluster.query(
        "SELECT run_id, task_id, state FROM task_instance WHERE dag_id = 'transfer_ingest' "
        "AND run_id = ANY(%s) AND state IN ('running', 'queued', 'scheduled')",
        (run_ids,),
    )
    assert stuck == []
    index = cluster.aip_location().index
    for upload in uploads:
        assert list(cluster.ingest_runs_for(upload.url)) == [upload.run_id]
        [stored] = index.versions(packages[upload.key])
        assert index.transfer_stored(upload.transfer_id) == stored
        head = cluster.s3().head_object(Bucket=cluster.bucket, Key=upload.key)
        assert head["ETag"] == upload.etag
    # Every component of the deployment is still up (a dead one would have failed the
    # waits above).
    cluster.check_alive()
