#!/usr/bin/env python
"""Where the seconds of one ``preservation ingest`` go: Airflow's fixed cost against the
tasks' work, from the run's own Airflow log and a py-spy profile of both processes.

Builds the benchmark's ``mixed`` corpus (``--files`` of them), ingests a 10-file warm-up
untimed (it makes Airflow's database), then runs ``preservation ingest`` once under
``py-spy record --subprocesses`` and writes to ``--out``:

- ``ingest-<files>.raw.txt``: the collapsed stacks (py-spy's raw format, busy samples);
- ``ingest-<files>.txt``: the timeline (the command's start to the first task, the tasks
  as the Execution API saw them start and end, the gaps between them, the tail) and the
  CPU seconds of each phase of the runner (importing Airflow, the Execution API's import
  and routes, the DAG parsed and written, dag.test's loop, the task runner).

    .venv/bin/python bench/profile_ingest.py [--files 1000] [--config born_digital]

py-spy samples busy threads only, so a phase's seconds are CPU on that phase (a thread
waiting on a tool's process or a socket counts nothing); the timeline is wall time.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402  (the mixed corpus, ClamAV's test database)

RATE = 100  # samples per second
#: Phases of the runner process, the first whose marker is in a sample's stack wins; the
#: markers are function names of ingest_runner, Airflow, Cadwyn, anyio and asyncio (the
#: in-process Execution API answers on an event loop thread and anyio's worker threads).
PHASES = (
    ("Execution API: routes built at its first call (Cadwyn)", "Cadwyn._cadwyn_initialize"),
    ("Execution API: requests answered (start, XCom, finish)", "WorkerThread.run"),
    ("Execution API: requests answered (start, XCom, finish)", "BaseEventLoop.run_forever"),
    ("the task supervisor's socket loop (its waits included)", "_handle_socket_comms"),
    ("Execution API: imported, one version kept", "_one_execution_api_version"),
    ("operators' own work (the micro-services, in the task)", "Operator.execute (preservation"),
    ("Airflow's task runner around them (run_task_in_process)", "run_task_in_process"),
    ("dag.test's loop: DagRun.update_state", "DagRun.update_state"),
    ("dag.test: DAG written to the database", "sync_bag_to_db"),
    ("dag.test: the rest (run created, task instances read)", "DAG.test"),
    ("DAG file parsed (DagBag)", "DagBag.__init__"),
    ("outcome read from the database", "outcome (preservation_airflow"),
    ("importing Airflow (the runner's first import)", "main (preservation_airflow"),
    ("operators' worker threads (hashing, waiting on tools)", "_worker (concurrent"),
    ("the runner's module level (its exit)", "ingest_runner"),
)
RUNNER = "preservation_airflow.commands.ingest_runner"
#: Leaf frames of a thread that waits (on a socket, a lock, a queue): py-spy took some of
#: these as busy; they are counted apart, not as the phase above them.
WAITS = (
    "EpollSelector.select",
    "_PollLikeSelector.select",
    "Condition.wait",
    "Queue.get",
    "Event.wait",
    "Popen._wait",
    "Popen._communicate",
    "time.sleep",
)
WAITING = "threads waiting (select, lock, queue), sampled as busy"
API_EVENT = re.compile(r"^(\S+Z) .*?(Task started|Task instance state updated)")


def phases(raw: Path) -> tuple[collections.Counter, float]:
    """CPU seconds per phase of the runner, and the command's own (the outer process)."""
    seconds: collections.Counter[str] = collections.Counter()
    command = 0.0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count) / RATE
        frames = stack.split(";")
        if len(frames) < 2 or RUNNER not in frames[1]:
            command += n  # frames[0] names the outer process, frames[1] its child's
            continue
        if len(frames) > 2 and frames[2].startswith("process "):
            phase = "the runner's Python children"
        elif frames[-1].split(" (")[0] in WAITS:
            phase = WAITING
        else:
            inside = ";".join(frames[2:])
            phase = next((name for name, marker in PHASES if marker in inside), "other threads")
        seconds[phase] += n
    return seconds, command


def timeline(log: Path, started: datetime, ended: datetime) -> dict:
    """Wall seconds from the Execution API's log lines: each task instance starts with
    "Task started" and one "state updated", and ends with its second "state updated"."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        match = API_EVENT.match(line)
        if match:
            events.append((datetime.fromisoformat(match[1].replace("Z", "+00:00")), match[2]))
    spans, start, updates = [], None, 0
    for moment, kind in events:
        if kind == "Task started":
            start, updates = moment, 0
        elif start is not None:
            updates += 1
            if updates == 2:
                spans.append((start, moment))
                start = None
    if not spans:
        raise SystemExit(f"no task instance found in {log}")
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    return {
        "task_instances": len(spans),
        "before_first_task_s": (spans[0][0] - started).total_seconds(),
        "in_tasks_s": sum((b - a).total_seconds() for a, b in spans),
        "between_tasks_s": sum(g.total_seconds() for g in gaps),
        "after_last_task_s": (ended - spans[-1][1]).total_seconds(),
        "slowest_tasks": sorted(((b - a).total_seconds() for a, b in spans), reverse=True)[:5],
    }


def report(files: int, config: str, wall: float, times: dict, cpu, command: float) -> str:
    lines = [
        f"`preservation ingest` of {files:,} mixed files ({config}): {wall:.1f} s wall, "
        f"{times['task_instances']} task instances",
        "",
        "| wall time, from the run's Airflow log | s |",
        "|---|---|",
        f"| the command's start to the first task's start | {times['before_first_task_s']:.2f} |",
        f"| inside the task instances (start to finish) | {times['in_tasks_s']:.2f} |",
        f"| between one task's finish and the next one's start | {times['between_tasks_s']:.2f} |",
        f"| the last task's finish to the command's end | {times['after_last_task_s']:.2f} |",
        "",
        "| CPU time, py-spy (busy samples) | s |",
        "|---|---|",
        f"| the `preservation` command (starts the runner, waits) | {command:.2f} |",
    ]
    names = dict.fromkeys(name for name, _ in PHASES)  # in order, each once
    lines += [f"| {name} | {cpu[name]:.2f} |" for name in names if cpu[name]]
    for other in ("other threads", "the runner's Python children", WAITING):
        if cpu[other]:
            lines.append(f"| {other} | {cpu[other]:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--config", default="born_digital", help="processing configuration")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profiles")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=str(REPO / ".venv" / "bin")) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is missing: make install puts it in .venv")
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / f"ingest-{args.files}.raw.txt"
    with tempfile.TemporaryDirectory(prefix="profile-ingest-") as scratch:
        work = Path(scratch)
        bench_ingest.use_test_clamav(work)
        transfer, _ = bench_ingest.build_mixed_transfer(work / "corpus", args.files, seed=3)
        warm_up, _ = bench_ingest.build_mixed_transfer(work / "warm-up", 10, seed=4)
        env = {**os.environ, "PRESERVATION_HOME": str(work / "home")}
        command = [str(REPO / ".venv" / "bin" / "preservation"), "ingest"]
        config = ["--processing-config", args.config]
        subprocess.run(
            [*command, str(warm_up), *config], env=env, check=True, stdout=subprocess.DEVNULL
        )
        os.sync()  # the corpus and the warm-up's files written back before the clock
        started = datetime.now(UTC)
        clock = time.perf_counter()
        done = subprocess.run(
            [
                spy,
                "record",
                "--subprocesses",
                "--rate",
                str(RATE),
                "--format",
                "raw",
                "--output",
                str(raw),
                "--",
                *command,
                str(transfer),
                *config,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - clock
        ended = datetime.now(UTC)
        # py-spy prints its own lines too; the command's outcome is its last JSON line.
        lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
        outcome = json.loads(lines[-1]) if lines else {}
        if done.returncode != 0 or outcome.get("status") != "stored":
            raise SystemExit(f"the ingest did not store its AIP: {outcome or done.stderr[-2000:]}")
        times = timeline(Path(outcome["log"]), started, ended)
    cpu, outer = phases(raw)
    text = report(args.files, args.config, wall, times, cpu, outer)
    (args.out / f"ingest-{args.files}.txt").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
