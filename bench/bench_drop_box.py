#!/usr/bin/env python
"""What an archivist waits for on the native cluster: from ``put_object`` of a one-file
package into the S3 transfer bucket to its feedback log, and to its AIP in the index.

Nothing is triggered by hand: the cluster's continuously running transfer_watcher (its
wait deferred to the triggerer) notices the upload by itself. Each upload is made while
the system is idle (the previous AIP indexed, the watcher waiting), as a lone archivist's
would be; the clock starts just before ``put_object`` and each end is polled every
0.1 s (the feedback log's key) and 0.25 s (the AIP index's transfer record). Reports the
p50 and p95 of both over ``--uploads`` uploads, and for each run the tasks and the time
between them that was not any task's own (Airflow's scheduling).

    .venv/bin/python bench/bench_drop_box.py [--uploads 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p95 of 10 values: the 10th)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def _poll(what: str, check, timeout: float, interval: float) -> float:
    """Seconds (monotonic clock) at which ``check`` first held."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic()


def measure(work: Path, uploads: int = 10) -> dict:
    """Start a native cluster under ``work``, time ``uploads`` one-file uploads, stop it."""
    import psycopg2

    from preservation.deploy import cluster as native
    from preservation.intake import transfer_package
    from preservation.intake.transfer_bucket import S3TransferSource
    from preservation.tools.clamav import build_test_database

    name = f"bench_{int(time.time())}"
    database = build_test_database(work / "clamav-db-airflow")
    cluster = native.up(
        work / "cluster",
        name=name,
        workers=2,
        extra_env={"CLAMAV_DATABASE": str(database), "CLAMD_SOCKET": str(work / "none.sock")},
    )
    site, s3 = cluster.site, cluster.s3()
    drop_box = S3TransferSource(s3, site.transfer_bucket)
    aip_bucket, aip_prefix = site.aip_bucket, site.aip_store.split("/", 3)[3]
    db = psycopg2.connect(dbname=cluster.database, host="127.0.0.1", user="postgres")
    db.autocommit = True

    def query(sql: str, *params):
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def watcher_waiting() -> bool:
        return bool(
            query(
                "SELECT 1 FROM task_instance WHERE dag_id = 'transfer_watcher' "
                "AND task_id = 'wait_for_uploads' AND state = 'deferred'"
            )
        )

    def exists(bucket: str, key: str) -> bool:
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return True
        except s3.exceptions.ClientError:
            return False

    to_log, to_indexed, tasks, gaps = [], [], [], []
    try:
        _poll("the watcher to wait for uploads", watcher_waiting, 180, 0.5)
        for number in range(uploads):
            folder, package = work / f"one-{number}", work / f"one-{number}.zip"
            folder.mkdir()
            (folder / "letter.txt").write_text(f"Dear Sir, letter {number}")
            transfer_package.build(folder, package, f"BENCH/ONE/{number}")
            key = f"born-digital/BENCH_ONE_{number}.zip"
            _poll("the watcher to wait for uploads", watcher_waiting, 180, 0.2)
            time.sleep(1)
            start = time.monotonic()
            s3.put_object(Bucket=site.transfer_bucket, Key=key, Body=package.read_bytes())
            upload = drop_box.upload(key)
            logged = _poll(
                f"the feedback log of {key}",
                lambda k=key: drop_box.feedback_logs(k),
                120,
                0.1,
            )
            record = f"{aip_prefix}/index/transfers/{upload.transfer_id}.json"
            indexed = _poll(
                f"the AIP of {key} in the index",
                lambda r=record: exists(aip_bucket, r),
                600,
                0.25,
            )
            to_log.append(logged - start)
            to_indexed.append(indexed - start)
            _poll(  # Store DIP and Clean up come after the index: the run's tasks in full
                "the run to finish",
                lambda r=upload.run_id: query(
                    "SELECT 1 FROM dag_run WHERE dag_id = 'transfer_ingest' AND run_id = %s "
                    "AND state IN ('success', 'failed')",
                    r,
                ),
                300,
                0.5,
            )
            rows = query(
                "SELECT ti.start_date, ti.end_date FROM task_instance ti "
                "WHERE ti.dag_id = 'transfer_ingest' AND ti.run_id = %s",
                upload.run_id,
            )
            [(run_start, run_end)] = query(
                "SELECT start_date, end_date FROM dag_run "
                "WHERE dag_id = 'transfer_ingest' AND run_id = %s",
                upload.run_id,
            )
            busy = sum((end - begin).total_seconds() for begin, end in rows if begin and end)
            tasks.append(len(rows))
            gaps.append(((run_end - run_start).total_seconds() - busy) / len(rows))
            print(
                f"  upload {number + 1}: feedback log after {to_log[-1]:.1f} s, "
                f"AIP indexed after {to_indexed[-1]:.1f} s",
                flush=True,
            )
    finally:
        db.close()
        native.down(work / "cluster", drop=True)
    return {
        "uploads": uploads,
        "upload_to_feedback_log_p50": statistics.median(to_log),
        "upload_to_feedback_log_p95": percentile(to_log, 0.95),
        "upload_to_aip_indexed_p50": statistics.median(to_indexed),
        "upload_to_aip_indexed_p95": percentile(to_indexed, 0.95),
        "upload_to_feedback_log_all": to_log,
        "upload_to_aip_indexed_all": to_indexed,
        "per_task_overhead_seconds": statistics.median(gaps),
        "tasks_per_run": statistics.median(tasks),
        "executor": "CeleryExecutor, 2 workers, PostgreSQL, Redis, moto S3",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-drop-box-") as work:
        result = measure(Path(work), args.uploads)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
