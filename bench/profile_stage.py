#!/usr/bin/env python
"""Profile one micro-service on a benchmark corpus with py-spy (every thread, idle time
included, so time spent waiting on a tool's process shows as the call that waits).

Runs the stages before ``--stage`` unprofiled, attaches ``py-spy record`` to this process
for the one stage, and writes the raw collapsed stacks and a summary (the stage's
functions by inclusive and by own samples) to ``--out``:

    .venv/bin/python bench/profile_stage.py --corpus small --stage characterize_files

The corpus is generated as ``make bench`` generates it (same seed, same bytes).
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402
import bench_suite  # noqa: E402


def summarize(raw: Path, top: int = 25) -> str:
    """The functions of a py-spy collapsed-stack file by inclusive and by own samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if "profile.<locals>.before" in stack:
            continue  # the second the profiler takes to attach, not the stage
        samples = int(count)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1] for f in stack.split(";")]
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"{total} samples (all threads, idle included)", "", "inclusive:"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "own:"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines) + "\n"


class CommandTimes:
    """Time spent in each format-policy command (``format_tools.run``), all threads: what
    py-spy cannot name when a thread waits on a tool's process."""

    def __init__(self) -> None:
        from preservation.tools import format_tools

        self.module, self.original = format_tools, format_tools.run
        self.times: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        self.lock = threading.Lock()

    def install(self) -> None:
        def timed(command, *args, **kwargs):
            start = time.perf_counter()
            try:
                return self.original(command, *args, **kwargs)
            finally:
                with self.lock:
                    entry = self.times[command.key]
                    entry[0] += 1
                    entry[1] += time.perf_counter() - start

        self.module.run = timed

    def report(self) -> str:
        if not self.times:
            return ""
        lines = ["", "format-policy commands (calls, seconds summed over threads, s/call):"]
        for key, (calls, seconds) in sorted(self.times.items(), key=lambda i: -i[1][1]):
            lines.append(f"{key:28} {calls:6d} {seconds:8.1f} {seconds / calls:7.2f}")
        return "\n".join(lines) + "\n"

    def reset(self) -> None:
        self.times.clear()


def profile(corpus: str, stages: list[str], out: Path, scratch: Path | None) -> list[Path]:
    """Run the pipeline on ``corpus`` and profile each of ``stages``; returns the
    summaries' paths."""
    work = Path(tempfile.mkdtemp(prefix="bench-profile-", dir=scratch))
    try:
        source, _ = bench_suite.BUILDERS[corpus](work / "corpora")
        bench_ingest.use_test_clamav(work)
        out.mkdir(parents=True, exist_ok=True)
        spy: list[subprocess.Popen] = []
        counter = bench_ingest.SpawnCounter()
        counter.install()
        commands = CommandTimes()
        commands.install()
        reports: dict[str, str] = {}

        def before(service: str) -> None:
            commands.reset()
            if service in stages:
                raw = out / f"{corpus}-{service}.raw.txt"
                spy.append(
                    subprocess.Popen(
                        [
                            shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
                            "record",
                            "--pid",
                            str(os.getpid()),
                            "--idle",
                            "--threads",
                            "--rate",
                            "200",
                            "--format",
                            "raw",
                            "--output",
                            str(raw),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                )
                time.sleep(1)  # py-spy attaches before the stage starts

        def after(service: str) -> None:
            if service in stages and spy:
                spy[-1].send_signal(signal.SIGINT)
                spy[-1].wait(60)
                reports[service] = commands.report()

        last = max(stages, key=bench_ingest.STAGES.index)
        timed = bench_ingest.run_once(
            source,
            "automated",
            work / "home",
            counter,
            bench_suite.NORMALIZE[corpus],
            until=last,
            hooks=(before, after),
        )
        summaries = []
        for stage in stages:
            summary = out / f"{corpus}-{stage}.txt"
            summary.write_text(
                f"{corpus} corpus, stage {stage}: {timed[stage]['seconds']:.1f} s, "
                f"{timed[stage]['subprocesses']} subprocesses\n"
                + summarize(out / f"{corpus}-{stage}.raw.txt")
                + reports.get(stage, "")
            )
            summaries.append(summary)
        return summaries
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=bench_suite.CORPORA, default="small")
    parser.add_argument("--stage", required=True, help="stage names, comma-separated")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profiles")
    parser.add_argument("--scratch", type=Path, default=None)
    args = parser.parse_args(argv)
    stages = args.stage.split(",")
    unknown = [s for s in stages if s not in bench_ingest.STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; the stages are {list(bench_ingest.STAGES)}")
    for summary in profile(args.corpus, stages, args.out, args.scratch):
        print(summary.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
