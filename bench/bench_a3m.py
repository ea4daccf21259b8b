#!/usr/bin/env python
"""a3m as a peer: the same corpus through ``a3m`` (Archivematica in one process, from
PyPI, pinned, in a venv of its own) and through ``preservation ingest`` (Airflow's
in-process runner on the embedded default), each timed end to end as a person runs it,
without normalization and with it.

The corpus is the benchmark's ``mixed`` one (1,000 small files of the kinds
normalization handles, made with the real tools: images, sound, video, PDF, office
documents, text, XML), with its ``metadata/metadata.csv``. Our runs use the
``born_digital`` configuration (normalization off) and ``default`` (preservation and
access copies and thumbnails); a3m's ``normalize=no`` and ``normalize=yes`` (it makes
preservation copies only: no access copies, no thumbnails, no DIP).

    .venv/bin/python bench/bench_a3m.py [--files 1000] [--runs 1]
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
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402  (the mixed corpus)

A3M = "a3m==0.7.14"
#: a3m's own tools beyond ours (it unpacks its AIP with atool and lists it with tree).
A3M_TOOLS = {"atool": "atool", "tree": "tree"}
VENV = REPO / "var" / "bench" / A3M.replace("==", "-")
CASES = (  # (label, ours: processing configuration, a3m: normalize)
    ("without normalization", "born_digital", "no"),
    ("with normalization", "default", "yes"),
)


def a3m_venv() -> Path:
    """The pinned a3m, installed once in a venv of its own; its tools must be there."""
    missing = [package for tool, package in A3M_TOOLS.items() if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"a3m needs {', '.join(missing)}: apt-get install {' '.join(missing)} "
            "(make bench-tools does it)"
        )
    a3m = VENV / "bin" / "a3m"
    if not a3m.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", A3M], check=True)
    return a3m


def timed(command: list[str], env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed ({done.returncode}); see {log}")
    return seconds


def ours(transfer: Path, config: str, work: Path, label: str) -> float:
    # One home for all our runs: the first (a warm-up) made Airflow's database.
    env = {**os.environ, "PRESERVATION_HOME": str(work / "ours-home")}
    command = [str(REPO / ".venv" / "bin" / "preservation"), "ingest", str(transfer)]
    return timed([*command, "--processing-config", config], env, work / f"ours-{label}.log")


def theirs(a3m: Path, transfer: Path, normalize: str, work: Path, label: str) -> float:
    # a3m keeps its database and AIPs under ~/.local/share/a3m: one home for all its
    # runs, the first (a warm-up) made its database.
    home = work / "a3m-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    before = set(home.rglob("*.7z"))
    command = [str(a3m), "--name", f"bench-{label}", "--no-input", "-p", f"normalize={normalize}"]
    seconds = timed([*command, transfer.as_uri()], env, work / f"a3m-{label}.log")
    if not set(home.rglob("*.7z")) - before:
        raise SystemExit(f"a3m made no AIP; see {work / f'a3m-{label}.log'}")
    return seconds


def measure(work: Path, files: int = 1000, runs: int = 1) -> dict:
    """Median wall seconds of each tool on each case, and a3m's time over ours."""
    a3m = a3m_venv()
    bench_ingest.use_test_clamav(work)  # ours: clamscan with a built database
    transfer, payload = bench_ingest.build_mixed_transfer(work / "peer-corpus", files, seed=3)
    # Each tool's first run makes its database: a small transfer, not timed.
    warm_up, _ = bench_ingest.build_mixed_transfer(work / "warm-up", 10, seed=4)
    ours(warm_up, "born_digital", work, "warm-up")
    theirs(a3m, warm_up, "no", work, "warm-up")
    rows = []
    for label, config, normalize in CASES:
        mine = [ours(transfer, config, work, f"{config}-{n}") for n in range(runs)]
        peer = [theirs(a3m, transfer, normalize, work, f"{normalize}-{n}") for n in range(runs)]
        row = {
            "case": label,
            "files": files,
            "bytes": payload,
            "ours_config": config,
            "ours_seconds": statistics.median(mine),
            "a3m_seconds": statistics.median(peer),
        }
        row["a3m_over_ours"] = row["a3m_seconds"] / row["ours_seconds"]
        rows.append(row)
        print(
            f"{label}: preservation ingest {row['ours_seconds']:.1f} s, {A3M} "
            f"{row['a3m_seconds']:.1f} s ({row['a3m_over_ours']:.1f}x)",
            flush=True,
        )
    return {"peer": A3M, "runs": runs, "cases": rows}


def markdown(peer: dict) -> str:
    rows = [
        f"| {peer['cases'][0]['files']:,} mixed files | `preservation ingest` s | "
        f"{peer['peer']} s | a3m ÷ ours |",
        "|---|---|---|---|",
    ]
    for case in peer["cases"]:
        rows.append(
            f"| {case['case']} | {case['ours_seconds']:.1f} | {case['a3m_seconds']:.1f} | "
            f"{case['a3m_over_ours']:.1f}× |"
        )
    rows.append("")
    rows.append(
        "With normalization ours makes preservation copies, access copies and thumbnails "
        "(a DIP); a3m makes preservation copies only. Both end to end from the command, "
        f"median of {peer['runs']} run(s)."
    )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scratch", type=Path, default=None)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-a3m-", dir=args.scratch))
    try:
        peer = measure(work, args.files, args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(peer, indent=1))
    print(markdown(peer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
