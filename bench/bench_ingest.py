#!/usr/bin/env python
"""Benchmark the transfer-to-AIP chain of micro-services on many small files.

Generates one transfer of ``--files`` files of ``--size`` bytes, then, ``--runs`` times,
runs every micro-service in the order the transfer_ingest DAG runs them (directly, no
Airflow) in a fresh ``PRESERVATION_HOME``, timing each. Reports, per stage, the median
time, files/s, MB/s for the stages that read every byte, and the subprocesses started;
and how far Assign file UUIDs is from a plain sha256 of the same bytes (the hashing
limit). See bench/README.md.

    .venv/bin/python bench/bench_ingest.py --files 10000 --runs 3
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from preservation import pipeline
from preservation.pipeline import TRANSFER_INGEST
from preservation.tools.clamav import build_test_database

STAGES = TRANSFER_INGEST
#: Stages that read every byte of the payload (MB/s is reported for them). store_aip reads
#: the bag twice (validated before it leaves, then read back from storage).
HASHING_STAGES = {
    "assign_file_uuids": 1,
    "verify_transfer_checksums": 1,
    "scan_for_viruses": 1,
    "store_aip": 2,
}
METADATA_CSV = "filename,dc.identifier,dc.title\nobjects/,BENCH/1,Benchmark transfer\n"
PER_FOLDER = 100


# -- counting subprocesses ----------------------------------------------------------------
class SpawnCounter:
    """Counts every subprocess started in this process (subprocess.run goes through Popen)."""

    def __init__(self) -> None:
        self.count = 0
        self.commands: list[str] = []
        self._lock = threading.Lock()
        self._original = subprocess.Popen.__init__

    def install(self) -> None:
        original, counter = self._original, self

        def counting_init(popen, args, *rest, **kwargs):
            with counter._lock:
                counter.count += 1
                first = args[0] if isinstance(args, (list, tuple)) else str(args).split()[0]
                counter.commands.append(Path(str(first)).name)
            return original(popen, args, *rest, **kwargs)

        subprocess.Popen.__init__ = counting_init

    def uninstall(self) -> None:
        subprocess.Popen.__init__ = self._original


# -- set-up ---------------------------------------------------------------------------------
def use_test_clamav(work: Path) -> None:
    """ClamAV as clamscan on a test signature database made in ``work``: the socket named
    does not exist, so the figures do not depend on a running clamd."""
    os.environ["CLAMAV_DATABASE"] = str(build_test_database(work / "clamav-db"))
    os.environ["CLAMD_SOCKET"] = str(work / "no-clamd.sock")


def build_transfer(root: Path, files: int, size: int, checksums: bool) -> tuple[Path, int]:
    """``files`` distinct text files of ``size`` bytes, 100 per folder, plus metadata/."""
    transfer = root / "bench_transfer"
    lines = []
    total = 0
    for number in range(files):
        rel = f"folder_{number // PER_FOLDER:04d}/file_{number:06d}.txt"
        path = transfer / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # Printable, distinct content: identified as text, never deduplicated.
        body = base64.b64encode(os.urandom(size))[: max(size - 1, 0)] + b"\n"
        body = body[:size]
        path.write_bytes(body)
        total += len(body)
        if checksums:
            lines.append(f"{hashlib.sha256(body).hexdigest()}  objects/{rel}\n")
    (transfer / "metadata").mkdir()
    (transfer / "metadata" / "metadata.csv").write_text(METADATA_CSV)
    if checksums:
        (transfer / "metadata" / "checksum.sha256").write_text("".join(lines))
    return transfer, total


MIXED = (  # (extension, share of 1,000): what a born-digital accession looks like
    ("png", 100),
    ("jpg", 100),
    ("gif", 50),
    ("bmp", 50),
    ("tif", 50),
    ("wav", 50),
    ("mp3", 50),
    ("mp4", 30),
    ("avi", 20),
    ("pdf", 100),
    ("docx", 20),
    ("txt", 200),
    ("csv", 100),
    ("xml", 80),
)


def build_mixed_transfer(root: Path, files: int, seed: int = 3) -> tuple[Path, int]:
    """``files`` small files of the kinds normalization handles, made with the real tools
    (images distinct per file; one audio, video, PDF and document sample reused); the
    text is the same for the same ``seed``."""
    import io
    import random

    rng = random.Random(seed)

    from PIL import Image

    transfer = root / "mixed_transfer"
    samples = _media_samples(root / "samples")
    kinds = [ext for ext, share in MIXED for _ in range(share)]
    total = 0
    for number in range(files):
        ext = kinds[number % len(kinds)]
        path = transfer / f"folder_{number // PER_FOLDER:04d}" / f"file_{number:06d}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if ext in ("png", "jpg", "gif", "bmp", "tif"):
            picture = Image.new("RGB", (64 + number % 64, 48), (number % 256, 80, 160))
            buffer = io.BytesIO()
            fmt = {"jpg": "JPEG", "tif": "TIFF"}.get(ext, ext.upper())
            (picture.convert("P") if ext == "gif" else picture).save(buffer, fmt)
            body = buffer.getvalue()
        elif ext in samples:
            body = samples[ext]
        elif ext == "xml":
            body = f"<record><id>{number}</id></record>\n".encode()
        else:
            body = f"line {number}, some text, {rng.randbytes(8).hex()}\n".encode() * 20
        path.write_bytes(body)
        total += len(body)
    (transfer / "metadata").mkdir()
    (transfer / "metadata" / "metadata.csv").write_text(METADATA_CSV)
    return transfer, total


def _media_samples(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True)
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
    pattern = ["-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25"]
    commands = {
        "wav": ["ffmpeg", "-v", "error", *tone],
        "mp3": ["ffmpeg", "-v", "error", *tone],
        "mp4": ["ffmpeg", "-v", "error", *pattern, *tone, "-shortest", "-pix_fmt", "yuv420p"],
        "avi": ["ffmpeg", "-v", "error", *pattern, *tone, "-shortest", "-c:v", "mpeg4"],
        "pdf": [
            "gs",
            "-q",
            "-dSAFER",
            "-sDEVICE=pdfwrite",
            "-o",
            "OUT",
            "-c",
            "/Helvetica findfont 20 scalefont setfont 72 700 moveto (Benchmark) show showpage",
        ],
    }
    samples = {}
    for ext, command in commands.items():
        out = folder / f"sample.{ext}"
        command = [str(out) if a == "OUT" else a for a in command]
        subprocess.run(command if ext == "pdf" else [*command, str(out)], check=True)
        samples[ext] = out.read_bytes()
    (folder / "sample.txt").write_text("A letter to the archive.\n")
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{folder}/profile",
            "--headless",
            "--convert-to",
            "docx",
            "--outdir",
            str(folder),
            str(folder / "sample.txt"),
        ],
        check=True,
        capture_output=True,
    )
    samples["docx"] = (folder / "sample.docx").read_bytes()
    return samples


def payload_files(transfer: Path) -> list[Path]:
    """The transfer's content files (``metadata/`` aside), sorted."""
    return sorted(
        p
        for p in transfer.rglob("*")
        if p.is_file() and p.relative_to(transfer).parts[0] != "metadata"
    )


def sha256_floor(paths: list[Path]) -> float:
    """Seconds for one pass of SHA-256 over every file (hashlib, one thread, streamed)."""
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb") as handle:
            hashlib.file_digest(handle, "sha256")
    return time.perf_counter() - start


def plain_sha256(paths: list[Path]) -> tuple[float, float]:
    """Seconds for a plain, single-threaded sha256 of the files (read from the page
    cache) and of the same bytes already in memory."""
    from_files = sha256_floor(paths)
    blobs = [p.read_bytes() for p in paths]
    start = time.perf_counter()
    for blob in blobs:
        hashlib.sha256(blob).hexdigest()
    in_memory = time.perf_counter() - start
    return from_files, in_memory


# -- one run ----------------------------------------------------------------------------------
def run_once(
    source: Path,
    config_name: str,
    home: Path,
    counter: SpawnCounter,
    normalize: bool = True,
    until: str | None = None,
    hooks: tuple | None = None,
) -> dict:
    """Every stage in the DAG's order (up to ``until``), each timed; ``hooks`` is a pair of
    callables called with the stage's name before and after it (a profiler's start/stop)."""
    from preservation.core import processing_config
    from preservation.core.errors import StepNotApplicable
    from preservation.core.package import Package, PackageRef
    from preservation.core.settings import load_settings

    os.environ["PRESERVATION_HOME"] = str(home)
    settings = load_settings()
    ref = PackageRef.for_run(str(source), f"bench/{home.name}")
    config = processing_config.load(config_name)
    if not normalize:
        config = dataclasses.replace(config, normalize="none", thumbnails=False)
    package = Package(ref, settings, config, "bench")
    stages = {}
    try:
        for service in STAGES:
            stage = pipeline.stage(service)
            module = importlib.import_module(stage.module)
            spawned = counter.count
            if hooks:
                hooks[0](service)
            start = time.perf_counter()
            try:
                given = {"source": str(source)} if "source" in stage.needs else {}
                result = module.run(package, **given)
                status = "ran"
            except StepNotApplicable as reason:
                result, status = reason, "skipped"
            elapsed = time.perf_counter() - start
            if hooks:
                hooks[1](service)
            stages[service] = {
                "seconds": elapsed,
                "status": status,
                "subprocesses": counter.count - spawned,
                "result": str(result)[:200],
            }
            if service == until:
                break
    finally:
        package.close()
    return stages


# -- report -----------------------------------------------------------------------------------
def summarize(runs: list[dict], files: int, payload: int, plain: list[tuple[float, float]]):
    summary = {}
    for service in STAGES:
        times = [r[service]["seconds"] for r in runs]
        median = statistics.median(times)
        entry = {
            "status": runs[-1][service]["status"],
            "median_s": median,
            "min_s": min(times),
            "max_s": max(times),
            "files_per_s": files / median if median else None,
            "subprocesses": runs[-1][service]["subprocesses"],
        }
        if service in HASHING_STAGES:
            entry["mb_per_s"] = HASHING_STAGES[service] * payload / 1e6 / median
        summary[service] = entry
    assign = statistics.median(r["assign_file_uuids"]["seconds"] for r in runs)
    plain_files = statistics.median(p[0] for p in plain)
    plain_memory = statistics.median(p[1] for p in plain)
    totals = [sum(s["seconds"] for s in r.values()) for r in runs]
    return {
        "stages": summary,
        "total_median_s": statistics.median(totals),
        "plain_sha256_files_s": plain_files,
        "plain_sha256_memory_s": plain_memory,
        "plain_sha256_mb_per_s": payload / 1e6 / plain_files,
        "hashing_limit_ratio": assign / plain_files,
        "hashing_limit_ratio_memory": assign / plain_memory,
        "subprocesses_per_run": sum(s["subprocesses"] for s in runs[-1].values()),
    }


def print_report(summary: dict, args, payload: int, workers: int, commands: list[str]) -> None:
    print(
        f"\n{args.files} files "
        f"({'mixed kinds' if args.corpus == 'mixed' else f'x {args.size} B'}) = "
        f"{payload / 1e6:.1f} MB payload; "
        f"configuration {args.config!r}; {args.runs} run(s); PRESERVATION_WORKERS={workers}; "
        f"{os.cpu_count()} CPU(s)\n"
    )
    print(
        f"{'stage':28} {'median s':>9} {'min s':>8} {'max s':>8} {'files/s':>10} "
        f"{'MB/s':>8} {'procs':>6}"
    )
    for service, s in summary["stages"].items():
        if s["status"] == "skipped":
            print(f"{service:28} {s['median_s']:9.3f} {'':>8} {'':>8} {'skipped':>10}")
            continue
        mb = f"{s['mb_per_s']:8.1f}" if "mb_per_s" in s else f"{'':>8}"
        print(
            f"{service:28} {s['median_s']:9.3f} {s['min_s']:8.3f} {s['max_s']:8.3f} "
            f"{s['files_per_s']:10.0f} {mb} {s['subprocesses']:6d}"
        )
    print(f"{'total':28} {summary['total_median_s']:9.3f}")
    print(
        f"\nplain sha256, one thread: {summary['plain_sha256_files_s']:.3f} s from files "
        f"({summary['plain_sha256_mb_per_s']:.1f} MB/s), "
        f"{summary['plain_sha256_memory_s']:.3f} s in memory"
    )
    print(
        f"hashing limit: assign_file_uuids takes {summary['hashing_limit_ratio']:.1f}x a plain "
        f"sha256 of the same files ({summary['hashing_limit_ratio_memory']:.1f}x of the "
        "bytes in memory)"
    )
    spawned = summary["subprocesses_per_run"]
    if args.corpus == "mixed":
        # Normalization runs a converter per file for formats no library converts
        # (audio, video, PDF, office documents): report the count per stage, no verdict.
        print(f"subprocesses per run: {spawned} ({', '.join(sorted(set(commands)))})")
        return
    print(
        f"subprocesses per run: {spawned} for {args.files} files "
        f"({', '.join(sorted(set(commands))) or 'none'}); per-file work is batched"
        # Batched: a few tool calls per stage, however many files (one per file would be
        # at least as many calls as files).
        if spawned <= 2 * len(STAGES) < args.files
        else f"subprocesses per run: {spawned} for {args.files} files: NOT batched"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10000, help="files in the transfer")
    parser.add_argument("--size", type=int, default=1024, help="bytes per file")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--config", default="automated", help="processing configuration")
    parser.add_argument(
        "--no-checksums",
        action="store_true",
        help="do not send metadata/checksum.sha256 (verify_transfer_checksums is then skipped)",
    )
    parser.add_argument(
        "--corpus",
        choices=("text", "mixed"),
        default="text",
        help="text: distinct text files of --size bytes; mixed: images, audio, video, PDF, "
        "documents, text and XML made with the real tools",
    )
    parser.add_argument(
        "--no-normalize", action="store_true", help="turn normalization and thumbnails off"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    from preservation.core import processing_config

    config = processing_config.load(args.config)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    counter = SpawnCounter()
    try:
        use_test_clamav(work)
        os.environ.setdefault("PRESERVATION_TASK_RETRIES", "0")
        checksums = config.accept_checksum_files and not args.no_checksums
        started = time.perf_counter()
        if args.corpus == "mixed":
            source, payload = build_mixed_transfer(work / "sources", args.files)
        else:
            source, payload = build_transfer(work / "sources", args.files, args.size, checksums)
        print(f"generated {args.files} files in {time.perf_counter() - started:.1f} s: {source}")
        originals = payload_files(source)

        counter.install()
        runs, plain = [], []
        for number in range(1, args.runs + 1):
            home = work / f"home-{number}"
            stages = run_once(source, args.config, home, counter, not args.no_normalize)
            plain.append(plain_sha256(originals))
            runs.append(stages)
            total = sum(s["seconds"] for s in stages.values())
            print(f"run {number}: {total:.2f} s")
            shutil.rmtree(home, ignore_errors=True)
        counter.uninstall()

        from preservation.core.settings import load_settings

        summary = summarize(runs, args.files, payload, plain)
        print_report(summary, args, payload, load_settings().workers, counter.commands)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {"arguments": vars(args) | {"json": str(args.json)}, **summary}, indent=2
                )
            )
    finally:
        counter.uninstall()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
