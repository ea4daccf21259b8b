#!/usr/bin/env python
"""Where ClamAV's time goes: clamscan against clamd on the benchmark's corpora.

Scan for viruses uses clamd when it answers on ``CLAMD_SOCKET`` and clamscan otherwise
(``preservation.tools.clamav``). This times both, through those same classes, on the
``large`` corpus (4 incompressible files of 512 MB) and the ``small`` one (10,000 files of
1–20 KB), with the test signature database (``sigtool``, EICAR included: no official
database downloads here):

* ``clamscan_start``: clamscan on one empty file (loading the engine and signatures);
* ``clamscan_one``: one clamscan process over the whole corpus (single-threaded);
* ``clamscan_split``: what Scan for viruses does, one clamscan per worker over big payloads;
* ``clamd``: a clamd started here (``MaxThreads`` = the workers), the files sent in
  ``IDSESSION`` batches; its start (signatures loaded once) is timed apart.

Each figure is the median of ``--runs``, after the corpus is written out (``sync``).

    .venv/bin/python bench/bench_clamav.py [--runs 3] [--corpora large,small]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402
from bench_suite import build_large, build_small  # noqa: E402

from preservation.tools.clamav import Clamd, Clamscan, build_test_database  # noqa: E402

TIMEOUT = 3600


def start_clamd(work: Path, database: Path, threads: int) -> tuple[subprocess.Popen, Path, float]:
    """clamd in the foreground on a socket in ``work``; (process, socket, seconds to answer)."""
    socket_path = work / "clamd.sock"
    config = work / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                f"LocalSocket {socket_path}",
                f"DatabaseDirectory {database}",
                "Foreground yes",
                f"MaxThreads {threads}",
                # Its defaults (100/400 MB) would skip the large files and call them OK.
                "MaxFileSize 2047M",
                "MaxScanSize 2047M",
                f"LogFile {work / 'clamd.log'}",
                "",
            ]
        )
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [shutil.which("clamd") or "/usr/sbin/clamd", f"--config-file={config}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    daemon = Clamd(str(socket_path), TIMEOUT)
    while not (socket_path.exists() and daemon.alive()):
        if process.poll() is not None:
            raise SystemExit(f"clamd exited ({process.returncode}); see {work / 'clamd.log'}")
        time.sleep(0.05)
    return process, socket_path, time.perf_counter() - started


def timed(scan, paths: list[Path]) -> float:
    started = time.perf_counter()
    results = scan(paths)
    elapsed = time.perf_counter() - started
    unscanned = [p for p in paths if results.get(p) is None or results[p].status != "OK"]
    if unscanned:
        raise SystemExit(f"{len(unscanned)} file(s) not scanned clean, e.g. {unscanned[0]}")
    return elapsed


def measure(corpus: Path, payload: int, work: Path, runs: int, workers: int) -> dict:
    database = build_test_database(work / "db")
    files = bench_ingest.payload_files(corpus)
    empty = work / "empty.txt"
    empty.write_text("")
    one = Clamscan(str(database), TIMEOUT, workers=1)
    split = Clamscan(str(database), TIMEOUT, workers=workers)
    figures: dict[str, list[float]] = {
        "clamscan_start": [],
        "clamscan_one": [],
        "clamscan_split": [],
        "clamd_start": [],
        "clamd": [],
    }
    for _ in range(runs):
        figures["clamscan_start"].append(timed(one.scan, [empty]))
        figures["clamscan_one"].append(timed(one.scan, files))
        figures["clamscan_split"].append(timed(split.scan, files))
        process, socket_path, start = start_clamd(work, database, workers)
        try:
            figures["clamd_start"].append(start)
            figures["clamd"].append(timed(Clamd(str(socket_path), TIMEOUT).scan, files))
        finally:
            process.terminate()
            process.wait(30)
    medians = {name: round(statistics.median(values), 2) for name, values in figures.items()}
    scanning = {k: medians[k] for k in ("clamscan_one", "clamscan_split", "clamd")}
    return {
        "files": len(files),
        "bytes": payload,
        "seconds": medians,
        "mb_per_s": {k: round(payload / 1e6 / v, 1) for k, v in scanning.items() if v},
        "runs": runs,
    }


def markdown(results: dict) -> str:
    rows = [
        "| corpus | files | MB | clamscan start | clamscan, 1 process | clamscan, split "
        "| clamd start | clamd |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["corpora"].items():
        s, mb = r["seconds"], r["mb_per_s"]
        rows.append(
            f"| {name} | {r['files']:,} | {r['bytes'] / 1e6:,.0f} | {s['clamscan_start']:.2f} s "
            f"| {s['clamscan_one']:.1f} s ({mb['clamscan_one']:.0f} MB/s) "
            f"| {s['clamscan_split']:.1f} s ({mb['clamscan_split']:.0f} MB/s) "
            f"| {s['clamd_start']:.2f} s | {s['clamd']:.1f} s ({mb['clamd']:.0f} MB/s) |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpora", default="large,small")
    parser.add_argument("--scratch", type=Path, default=None)
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    from preservation.core.settings import load_settings

    workers = load_settings().workers
    builders = {"large": build_large, "small": build_small}
    work = Path(tempfile.mkdtemp(prefix="bench-clamav-", dir=args.scratch))
    results = {"workers": workers, "corpora": {}}
    try:
        for name in args.corpora.split(","):
            corpus, payload = builders[name](work / "corpora")
            os.sync()
            results["corpora"][name] = measure(corpus, payload, work, args.runs, workers)
            shutil.rmtree(corpus, ignore_errors=True)
            print(f"{name}: {results['corpora'][name]['seconds']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(markdown(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
