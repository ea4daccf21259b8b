#!/usr/bin/env python
"""``make bench``: the pipeline on three corpora, against the hashing floor and a peer,
and Airflow's own cost. See bench/README.md.

For each corpus (``small``: 10,000 files of 1–20 KB of seven kinds in nested folders;
``large``: 4 incompressible files of 512 MB; ``mixed``: 1,000 files of the kinds
normalization handles), generated deterministically under a scratch folder, a fresh
process runs every micro-service in the DAG's order through the library (what each DAG
task runs) ``--runs`` times (small and large 3, mixed 1) and reports the median wall
time, files/s, MB/s, its peak RSS and each stage's time. In the same process: one pass
of SHA-256 over the payload (hashlib, the physical floor) and bagit-python's
``make_bag`` + ``validate`` on a copy (a peer doing a subset of the work). Then a3m, the
lightweight Archivematica, and ``preservation ingest`` on the same 1,000 mixed files,
with and without normalization (bench_a3m.py). Then a native cluster (``preservation
cluster up``: Celery, PostgreSQL, Redis, moto S3) measures what an archivist waits for,
from the upload to the feedback log and to the AIP in the index (bench_drop_box.py).
Results: ``bench/results/<date>.json``, ``.md`` and ``.png``.

    .venv/bin/python bench/bench_suite.py [--runs N] [--corpora small,large,mixed]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_a3m  # noqa: E402  (a3m, the peer, on the same corpus)
import bench_drop_box  # noqa: E402  (what an archivist waits for, on the native cluster)
import bench_ingest  # noqa: E402  (the stage runner and the mixed corpus, shared)

CORPORA = ("small", "large", "mixed")
#: Runs per corpus unless ``--runs`` says: the mixed corpus goes through the normalization
#: tools for about a minute a run, and the a3m comparison times it again end to end;
#: one run of it keeps ``make bench`` within 20 minutes.
DEFAULT_RUNS = {"small": 3, "large": 3, "mixed": 1}
SMALL_KINDS = ("txt", "csv", "html", "png", "jpg", "wav", "pdf")
TARGETS = {
    "small_seconds": 60,
    "small_files_per_s": 170,
    "mets_seconds": 5,
    "large_floor_ratio": 5,
    "rss_mb": 1024,
    "upload_to_feedback_log_p95_s": 15,
    "upload_to_aip_indexed_p95_s": 45,
}


# -- corpora (deterministic: the same seed gives the same bytes) ---------------------------
def _small_body(kind: str, number: int, size: int, rng: random.Random) -> bytes:
    import io

    if kind in ("png", "jpg"):
        from PIL import Image

        side = max(8, int((size / 3) ** 0.5))
        picture = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        buffer = io.BytesIO()
        picture.save(buffer, "PNG" if kind == "png" else "JPEG", quality=90)
        return buffer.getvalue()
    if kind == "wav":
        import wave

        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as sound:
            sound.setnchannels(1)
            sound.setsampwidth(2)
            sound.setframerate(8000)
            sound.writeframes(rng.randbytes(max(2, size - 44) // 2 * 2))
        return buffer.getvalue()
    if kind == "pdf":
        text = rng.randbytes(size // 2).hex()[: size - 400]
        return _minimal_pdf(f"Record {number} {text}")
    words = [rng.randbytes(4).hex() for _ in range(size // 9)]
    if kind == "csv":
        return (
            "id,value,note\n" + "".join(f"{i},{w},row {i}\n" for i, w in enumerate(words))
        ).encode()[:size]
    if kind == "html":
        body = " ".join(words)
        head = f"<!DOCTYPE html><html><head><title>{number}</title></head>"
        return f"{head}<body><p>{body}</p></body></html>\n".encode()
    return (" ".join(words) + "\n").encode()


def _minimal_pdf(text: str) -> bytes:
    """A valid one-page PDF (xref offsets computed), its text in the content stream."""
    stream = f"BT /F1 8 Tf 20 800 Td ({text[:3000]}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def build_small(root: Path, files: int = 10_000, seed: int = 1) -> tuple[Path, int]:
    """``files`` files of 1–20 KB: text, CSV, HTML, PNG, JPEG, WAV, PDF, in folders three
    deep (10 × 10 × up to 100 files)."""
    rng = random.Random(seed)
    transfer = root / "small"
    total = 0
    for number in range(files):
        kind = SMALL_KINDS[number % len(SMALL_KINDS)]
        size = rng.randint(1024, 20 * 1024)
        folder = (
            transfer / f"series_{number % 10}" / f"box_{number // 10 % 10}" / f"f_{number // 1000}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        body = _small_body(kind, number, size, rng)
        (folder / f"item_{number:05d}.{kind}").write_bytes(body)
        total += len(body)
    _metadata(transfer)
    return transfer, total


def build_large(root: Path, count: int = 4, size: int = 512 * 2**20, seed: int = 2):
    """``count`` incompressible files of ``size`` bytes (a seeded PRNG's output)."""
    rng = random.Random(seed)
    transfer = root / "large"
    (transfer / "video").mkdir(parents=True)
    chunk = 16 * 2**20
    for number in range(count):
        with open(transfer / "video" / f"master_{number}.bin", "wb") as out:
            for _ in range(size // chunk):
                out.write(rng.randbytes(chunk))
    _metadata(transfer)
    return transfer, count * size


def build_mixed(root: Path, files: int = 1000) -> tuple[Path, int]:
    return bench_ingest.build_mixed_transfer(root / "mixed-work", files, seed=3)


def _metadata(transfer: Path) -> None:
    (transfer / "metadata").mkdir(exist_ok=True)
    (transfer / "metadata" / "metadata.csv").write_text(bench_ingest.METADATA_CSV)


BUILDERS = {"small": build_small, "large": build_large, "mixed": build_mixed}
NORMALIZE = {"small": False, "large": False, "mixed": True}


# -- references -----------------------------------------------------------------------------
def bagit_peer(transfer: Path, scratch: Path, workers: int) -> float:
    """Seconds for bagit-python's make_bag (sha256) + validate on a copy of the payload."""
    import bagit

    copy = scratch / "bagit-peer"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(transfer, copy)
    start = time.perf_counter()
    bag = bagit.make_bag(str(copy), checksums=["sha256"], processes=workers)
    bag.validate(processes=workers)
    elapsed = time.perf_counter() - start
    shutil.rmtree(copy, ignore_errors=True)
    return elapsed


# -- one corpus, in its own process (peak RSS is this process's) ----------------------------
def measure_corpus(corpus: str, source: Path, payload: int, runs: int, work: Path) -> dict:
    from preservation.core.settings import load_settings

    bench_ingest.use_test_clamav(work)
    files = bench_ingest.payload_files(source)
    counter = bench_ingest.SpawnCounter()
    walls, stage_runs, floors, peers = [], [], [], []
    for number in range(runs):
        home = work / f"home-{corpus}-{number}"
        # Each run starts with the disk's write-back done: the previous run's files, its
        # removal and the peers' copies are written out now, not in this run's stages.
        os.sync()
        start = time.perf_counter()
        stages = bench_ingest.run_once(source, "automated", home, counter, NORMALIZE[corpus])
        walls.append(time.perf_counter() - start)
        stage_runs.append({s: v["seconds"] for s, v in stages.items()})
        shutil.rmtree(home, ignore_errors=True)
        os.sync()
        floors.append(bench_ingest.sha256_floor(files))  # reads only: nothing to write back
        peers.append(bagit_peer(source, work, load_settings().workers))
        print(f"  {corpus} run {number + 1}: {walls[-1]:.1f} s", flush=True)
    wall = statistics.median(walls)
    stages = {s: statistics.median(r[s] for r in stage_runs) for s in stage_runs[0]}
    floor, peer = statistics.median(floors), statistics.median(peers)
    return {
        "corpus": corpus,
        "files": len(files),
        "bytes": payload,
        "normalize": NORMALIZE[corpus],
        "runs": runs,
        "wall_seconds": wall,
        "wall_seconds_all": walls,
        "files_per_s": len(files) / wall,
        "mb_per_s": payload / 1e6 / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tools_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "stages": stages,
        "slowest_stage": max(stages, key=stages.get),
        "sha256_floor_seconds": floor,
        "ratio_to_sha256_floor": wall / floor,
        # The large-file target leaves ClamAV out (its own figure: scan_for_viruses).
        "ratio_to_sha256_floor_without_scan": (wall - stages["scan_for_viruses"]) / floor,
        "bagit_peer_seconds": peer,
        "ratio_to_bagit_peer": wall / peer,
    }


# -- report -----------------------------------------------------------------------------------
def markdown(results: dict) -> str:
    rows = [
        "| corpus | files | MB | wall s | files/s | MB/s | peak RSS MB | × SHA-256 floor "
        "| × floor without the scan | × bagit peer | slowest stage |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["corpora"]:
        rows.append(
            f"| {r['corpus']}{' (normalize)' if r['normalize'] else ''} | {r['files']:,} | "
            f"{r['bytes'] / 1e6:,.0f} | {r['wall_seconds']:.1f} | {r['files_per_s']:.0f} | "
            f"{r['mb_per_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['ratio_to_sha256_floor']:.1f} | "
            f"{r['ratio_to_sha256_floor_without_scan']:.1f} | "
            f"{r['ratio_to_bagit_peer']:.1f} | {r['slowest_stage']} "
            f"({r['stages'][r['slowest_stage']]:.1f} s) |"
        )
    if "peer" in results:
        rows += ["", bench_a3m.markdown(results["peer"]).rstrip()]
    if "airflow" in results:
        a = results["airflow"]
        rows.append("")
        rows.append(
            f"Drop box ({a['executor']}), {a['uploads']} one-file uploads, nothing triggered "
            f"by hand: upload → feedback log p50 {a['upload_to_feedback_log_p50']:.1f} s, "
            f"p95 {a['upload_to_feedback_log_p95']:.1f} s; upload → AIP indexed p50 "
            f"{a['upload_to_aip_indexed_p50']:.1f} s, p95 {a['upload_to_aip_indexed_p95']:.1f} s; "
            f"{a['tasks_per_run']:.0f} tasks per run; "
            f"{a['per_task_overhead_seconds']:.2f} s of scheduling per task."
        )
    rows += [
        "",
        "Stage times (median s):",
        "",
        "| stage | " + " | ".join(r["corpus"] for r in results["corpora"]) + " |",
        "|---|" + "---|" * len(results["corpora"]),
    ]
    for stage in bench_ingest.STAGES:
        rows.append(
            f"| {stage} | "
            + " | ".join(f"{r['stages'].get(stage, 0):.2f}" for r in results["corpora"])
            + " |"
        )
    return "\n".join(rows) + "\n"


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = results["corpora"]
    stages = [s for s in bench_ingest.STAGES if any(r["stages"].get(s, 0) > 0.05 for r in corpora)]
    figure, axis = plt.subplots(figsize=(10, 5))
    left = [0.0] * len(corpora)
    colors = plt.get_cmap("tab20")
    for index, stage in enumerate(stages):
        widths = [r["stages"].get(stage, 0) for r in corpora]
        axis.barh(
            [r["corpus"] for r in corpora], widths, left=left, label=stage, color=colors(index % 20)
        )
        left = [a + b for a, b in zip(left, widths)]
    axis.set_xlabel("seconds (median)")
    axis.set_title("Stage times per corpus")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, help="runs per corpus (default: small and large 3, mixed 1)"
    )
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--no-airflow", action="store_true")
    parser.add_argument("--no-peer", action="store_true", help="leave a3m out")
    parser.add_argument("--uploads", type=int, default=10, help="drop box uploads timed")
    parser.add_argument("--scratch", type=Path, default=None, help="where corpora are built")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one corpus, this process
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--payload", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.one:
        result = measure_corpus(args.one, args.source, args.payload, args.runs, args.out.parent)
        args.out.write_text(json.dumps(result))
        return 0

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-suite-", dir=args.scratch))
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "targets": TARGETS,
        "corpora": [],
    }
    try:
        for corpus in args.corpora.split(","):
            t0 = time.perf_counter()
            source, payload = BUILDERS[corpus](work / "corpora")
            # The generator's dirty pages written out now, not during the first stage
            # that happens to write (2 GB of them cost Receive transfer 0.8 s or 3.4 s).
            os.sync()
            print(
                f"{corpus}: generated {payload / 1e6:,.0f} MB in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            out = work / f"{corpus}.json"
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    corpus,
                    "--source",
                    str(source),
                    "--payload",
                    str(payload),
                    "--runs",
                    str(args.runs or DEFAULT_RUNS[corpus]),
                    "--out",
                    str(out),
                ],
                check=True,
                cwd=HERE.parent,
            )
            results["corpora"].append(json.loads(out.read_text()))
            shutil.rmtree(source, ignore_errors=True)
        if not args.no_peer:
            results["peer"] = bench_a3m.measure(work)
        if not args.no_airflow:
            results["airflow"] = bench_drop_box.measure(work, args.uploads)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["total_seconds"] = time.perf_counter() - started
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / datetime.now(UTC).strftime("%Y-%m-%d")
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    stem.with_suffix(".md").write_text(table)
    chart(results, stem.with_suffix(".png"))
    print(table)
    print(f"results: {stem}.json, .md, .png ({results['total_seconds'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
