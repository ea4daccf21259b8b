#!/usr/bin/env python
"""How metsrw's read time grows with the files in a METS: AIPs of the benchmark's
``small`` kind of corpus at a few sizes, each made by ``preservation ingest`` (the real
DAG, ``born_digital``), each METS read by metsrw (Archivematica's METS library, pinned
in a venv of its own), by the same metsrw with its file lookup indexed (what the
rest of its read costs), and by lxml. Fits the exponent of the growth, extrapolates it to
100,000 files, and profiles metsrw's read of the largest METS (cProfile, the
functions that take the most time of their own, with their callers).

    .venv/bin/python bench/bench_metsrw.py [--files 500 1000 2000 4000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_100k  # noqa: E402
import bench_ingest  # noqa: E402
from bench_suite import build_small  # noqa: E402

# metsrw with one change: get_file looks the entry up in a dict built once per document
# instead of walking every entry (and building the set of all of them) per call. What is
# left of the read time is then everything else metsrw does.
INDEXED = """
from metsrw.mets import METSDocument
def get_file(self, **wanted):
    if getattr(self, "_index", None) is None:
        self._index = {}
        for entry in self.all_files():
            self._index.setdefault((entry.file_uuid, entry.type), entry)
    if set(wanted) == {"file_uuid", "type"}:
        return self._index.get((wanted["file_uuid"], wanted["type"]))
    return next((e for e in self.all_files()
                 if all(v == getattr(e, k) for k, v in wanted.items())), None)
METSDocument.get_file = get_file
"""

PROFILE = """
import cProfile, pstats, sys, metsrw
profile = cProfile.Profile()
profile.enable()
metsrw.METSDocument.fromfile(sys.argv[1])
profile.disable()
stats = pstats.Stats(profile)
total = sum(row[2] for row in stats.stats.values())
rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:8]
for (path, line, name), (_, calls, own, cumulative, callers) in rows:
    caller = max(callers.items(), key=lambda c: c[1][2])[0] if callers else ("", 0, "")
    print(f"{own / total:6.1%} {calls:>12,} {name} ({path.rsplit('/', 1)[-1]}:{line})"
          f" <- {caller[2]} ({caller[0].rsplit('/', 1)[-1]}:{caller[1]})")
"""


def make_mets(files: int, work: Path) -> Path:
    """The AIP METS of a ``files``-file transfer, as ``preservation ingest`` stores it."""
    transfer, _ = build_small(work / "corpus", files=files)
    _, _, outcome, _ = bench_100k.ingest(transfer, "born_digital", work / "ingest.log")
    bag = bench_100k.unpack(Path(outcome["aip_path"]), work / "unpacked")
    [mets] = (bag / "data").glob("METS.*.xml")
    kept = work.parent / f"METS-{files}.xml"
    shutil.move(mets, kept)
    shutil.rmtree(work)
    return kept


def exponent(points: list[tuple[int, float]]) -> float:
    """The least-squares slope of log(seconds) against log(files)."""
    logs = [(math.log(n), math.log(s)) for n, s in points]
    return statistics.linear_regression(*zip(*logs)).slope


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--limit", type=int, default=1200, help="seconds per metsrw read")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "metsrw.json")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-metsrw-"))
    os.environ["PRESERVATION_HOME"] = str(work / "home")
    bench_ingest.use_test_clamav(work)
    sizes = []
    try:
        for files in sorted(args.files):
            mets = make_mets(files, work / f"run-{files}")
            _, lxml_seconds = bench_100k.parse_with_lxml(mets)
            size = {
                "files": files,
                "mets_bytes": mets.stat().st_size,
                "lxml_seconds": round(lxml_seconds, 2),
                "metsrw": bench_100k.read_with_metsrw(mets, args.limit),
                "metsrw_get_file_indexed": bench_100k.read_with_metsrw(
                    mets, args.limit, prelude=INDEXED
                ),
            }
            sizes.append(size)
            print(json.dumps(size), flush=True)
        timed = [(s["files"], s["metsrw"]["seconds"]) for s in sizes if "seconds" in s["metsrw"]]
        result = {"metsrw": bench_100k.METSRW, "sizes": sizes}
        if len(timed) >= 2:
            k = exponent(timed)
            n, seconds = timed[-1]
            result["exponent"] = round(k, 2)
            result["extrapolated_100k_hours"] = round(seconds * (100_000 / n) ** k / 3600, 1)
        largest = work / f"METS-{max(args.files)}.xml"
        profile = subprocess.run(
            [str(bench_100k.metsrw_python()), "-c", PROFILE, str(largest)],
            capture_output=True, text=True, timeout=args.limit * 2, check=True,
        )  # fmt: skip
        result["profile_of_largest"] = profile.stdout.splitlines()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bench_100k.save(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
