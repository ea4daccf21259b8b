#!/usr/bin/env python
"""Where the seconds of one ``preservation ingest`` go: Airflow's fixed cost against the
tasks' work, from the run's task instances in Airflow's database and a py-spy profile
of both processes.

Builds the benchmark's ``mixed`` corpus (``--files`` of them), ingests a 10-file warm-up
untimed (it makes Airflow's database), then runs ``preservation ingest`` twice: once
alone, for the timeline, and once under ``py-spy record --subprocesses`` (which pauses
the processes at each sample, so that run's wall time is not the run's), for the phases.
Writes to ``--out``:

- ``ingest-<files>.raw.txt``: the second run's collapsed stacks (py-spy's raw format);
- ``ingest-<files>.txt``: the first run's timeline (the command's start to the first
  task, each task instance's start and end as Airflow's database keeps them, the gaps
  between them, the tail) and the second run's CPU seconds by
  phase of the runner (importing Airflow, the Execution API's import, routes and
  answers, the DAG parsed and written, dag.test's loop, the task runner, our operators).

    .venv/bin/python bench/profile_ingest.py [--files 1000] [--config born_digital]

py-spy samples busy threads only, so a phase's seconds are CPU on that phase (a thread
waiting on a tool's process or a socket counts nothing); the timeline is wall time.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402  (the mixed corpus, ClamAV's test database)
from bench_100k import stored_outcome, task_spans  # noqa: E402

RATE = 100  # samples per second asked of py-spy (its own count is reported beside)
#: Phases of the runner process: a sample belongs to the first phase one of whose frames is
#: the function named (qualified name, or its last part after a dot) in a file whose path
#: starts as given ("" for any file). The in-process Execution API answers on an event
#: loop thread and anyio's worker threads.
PHASES = (
    ("Execution API: routes built at its first call (Cadwyn)", "Cadwyn._cadwyn_initialize", ""),
    ("Execution API: requests answered (start, XCom, state)", "WorkerThread.run", ""),
    ("Execution API: requests answered (start, XCom, state)", "BaseEventLoop.run_forever", ""),
    ("the task supervisor's socket loop", "_handle_socket_comms", ""),
    (
        "Execution API: imported, one version kept",
        "_one_execution_api_version",
        "preservation_airflow/",
    ),
    ("our operators' own work (the micro-services)", "execute", "preservation_airflow/operators/"),
    ("Airflow's task runner around them (run_task_in_process)", "run_task_in_process", ""),
    ("dag.test's loop: DagRun.update_state", "DagRun.update_state", ""),
    ("dag.test: the DAG folder parsed again and written (sync_bag_to_db)", "sync_bag_to_db", ""),
    ("dag.test: the rest (run created, task instances read)", "DAG.test", ""),
    ("the DAG's file parsed (DagBag)", "DagBag.__init__", ""),
    ("outcome read from the database", "outcome", "preservation_airflow/"),
    ("importing Airflow (the runner's own imports)", "_find_and_load", ""),
    ("the runner's main, the rest", "main", "preservation_airflow/"),
    ("our operators' worker threads (hashing, waiting on tools)", "_worker", "concurrent/"),
    ("the runner's module level (its exit)", "<module>", "preservation_airflow/"),
)
RUNNER = "preservation_airflow.commands.ingest_runner"
#: Leaf frames of a thread that waits (on a socket, a lock, a queue): py-spy took some of
#: these as busy; they are counted apart, not as the phase above them.
WAITS = {
    "EpollSelector.select",
    "_PollLikeSelector.select",
    "Condition.wait",
    "Queue.get",
    "Event.wait",
    "Popen._wait",
    "Popen._communicate",
    "time.sleep",
}
WAITING = "threads waiting (select, lock, queue), sampled as busy"
CHILDREN = "the runner's Python children"
OTHER = "other threads"


def _frame(text: str) -> tuple[str, str]:
    """A py-spy frame ``function (file:line)`` as (function, file)."""
    function, _, where = text.partition(" (")
    return function, where.rsplit(":", 1)[0]


def _is(frame: tuple[str, str], function: str, file: str) -> bool:
    name, path = frame
    return (name == function or name.endswith("." + function)) and path.startswith(file)


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
        inside = [_frame(f) for f in frames[2:]]
        if len(frames) > 2 and frames[2].startswith("process "):
            phase = CHILDREN
        elif inside and inside[-1][0] in WAITS:
            phase = WAITING
        else:
            phase = next(
                (
                    name
                    for name, function, file in PHASES
                    if any(_is(f, function, file) for f in inside)
                ),
                OTHER,
            )
        seconds[phase] += n
    return seconds, command


def timeline(spans: list[tuple[str, float, float, str]], started: float, ended: float) -> dict:
    """Wall seconds of the run from its task instances' start and end (Airflow's
    database, ``bench_100k.task_spans``) and the command's own start and end."""
    if not spans:
        raise SystemExit("the run has no finished task instance")
    gaps = [max(b[1] - a[2], 0.0) for a, b in zip(spans, spans[1:])]
    slowest = sorted(spans, key=lambda span: span[2] - span[1], reverse=True)[:8]
    return {
        "task_instances": len(spans),
        "before_first_task_s": spans[0][1] - started,
        "in_tasks_s": sum(end - start for _, start, end, _ in spans),
        "between_tasks_s": sum(gaps),
        "after_last_task_s": ended - max(end for _, _, end, _ in spans),
        "slowest": [(task, end - start, state) for task, start, end, state in slowest],
    }


def report(files: int, config: str, wall: float, times: dict, cpu, command: float, spy: str) -> str:
    lines = [
        f"`preservation ingest` of {files:,} mixed files ({config}): {wall:.1f} s wall, "
        f"{times['task_instances']} task instances; "
        f"the phases from a second run, {spy}",
        "",
        "| wall time, from the run's task instances in Airflow's database | s |",
        "|---|---|",
        f"| the command's start to the first task's start | {times['before_first_task_s']:.2f} |",
        f"| inside the task instances (start to new state) | {times['in_tasks_s']:.2f} |",
        f"| between one task's end and the next one's start | {times['between_tasks_s']:.2f} |",
        f"| the last task's end to the command's end | {times['after_last_task_s']:.2f} |",
        "",
        "| slowest task instances (start to new state) | s | state |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {seconds:.2f} | {state} |" for name, seconds, state in times["slowest"]]
    lines += [
        "",
        f"| CPU time of the second run, py-spy (busy samples at {RATE}/s) | s |",
        "|---|---|",
        f"| the `preservation` command (starts the runner, waits) | {command:.2f} |",
    ]
    names = dict.fromkeys(name for name, _, _ in PHASES)  # in order, each once
    lines += [f"| {name} | {cpu[name]:.2f} |" for name in names if cpu[name]]
    lines += [
        f"| {other} | {cpu[other]:.2f} |" for other in (OTHER, CHILDREN, WAITING) if cpu[other]
    ]
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
        # The timeline from a run nobody watches; the phases from a second run under py-spy
        # (which pauses the processes at each sample: its wall time is not the run's).
        os.sync()  # the corpus and the warm-up's files written back before the clock
        started = time.time()
        clock = time.perf_counter()
        plain = subprocess.run(
            [*command, str(transfer), *config], env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - clock
        ended = time.time()
        outcome = stored_outcome(plain.stdout, plain.returncode, plain.stderr[-2000:])
        times = timeline(task_spans(work / "home", outcome["run_id"]), started, ended)
        os.sync()
        clock = time.perf_counter()
        profiled = subprocess.run(
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
        profiled_wall = time.perf_counter() - clock
        stored_outcome(profiled.stdout, profiled.returncode, profiled.stderr[-2000:])
    summary = re.search(r"Samples: \d+ Errors: \d+", profiled.stdout + profiled.stderr)
    cpu, outer = phases(raw)
    spied = f"{profiled_wall:.1f} s under py-spy, {summary[0] if summary else 'no summary'}"
    text = report(args.files, args.config, wall, times, cpu, outer, spied)
    (args.out / f"ingest-{args.files}.txt").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
