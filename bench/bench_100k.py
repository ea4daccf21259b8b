#!/usr/bin/env python
"""100,000 files in one transfer through the real DAG: ``preservation ingest`` (Airflow's
in-process runner on the embedded default, every task as the DAG runs it), normalization
off (``born_digital``), on the benchmark's ``small`` kind of corpus (1–20 KB files of
seven kinds, three folders deep) at that size. ``make bench-100k``; it takes a while.

Reports the wall time from the command, the peak RSS of any one process (the runner
holds every task), each stage's time from Airflow's database, and of the stored AIP: its
METS (size, files, events, how long Generate AIP METS took, whether lxml and metsrw read
it) and whether the bag validates (bagit-python, every checksum). With
``--memory-limit-mb``, the ingest runs in a memory cgroup with that hard limit, as a
container's limit would hold it, and the report says how often the limit was reached and
whether the OOM killer took anything.

    .venv/bin/python bench/bench_100k.py [--files 100000] [--config born_digital]
        [--memory-limit-mb 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402
from bench_suite import build_small  # noqa: E402

METSRW = "metsrw==0.6.1"
METSRW_VENV = REPO / "var" / "bench" / METSRW.replace("==", "-")
PRESERVATION = str(REPO / ".venv" / "bin" / "preservation")


def ingest(
    transfer: Path, config: str, log: Path, limit: MemoryLimit | None = None
) -> tuple[float, float, dict, dict]:
    """(wall seconds, peak RSS MB of one process, the command's JSON outcome, the peak of
    each kind of process with its anonymous and file-backed parts); in ``limit``'s
    cgroup when one is given."""
    started = time.perf_counter()
    with subprocess.Popen(
        ["/usr/bin/time", "-v", PRESERVATION, "ingest", str(transfer)]
        + ["--processing-config", config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit.enter if limit else None,
    ) as process:
        sampler = RssSampler(process.pid)
        sampler.start()
        stdout, stderr = process.communicate()
        sampler.stop.set()
        sampler.join()
    wall = time.perf_counter() - started
    log.write_text(stdout + stderr)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)[1])
    outcome = stored_outcome(stdout, process.returncode, f"see {log}")
    return wall, rss_kb / 1024, outcome, sampler.peaks


def stored_outcome(stdout: str, returncode: int, detail: str) -> dict:
    """The outcome ``preservation ingest`` printed (its last line that is a JSON object:
    a profiler may print after it) of a run that stored its AIP; anything else ends the
    benchmark, with ``detail`` (where its log is, or its error output)."""
    outcome = {}
    for line in reversed(stdout.splitlines()):
        try:
            outcome = json.loads(line)
        except ValueError:
            continue
        if isinstance(outcome, dict):
            break
        outcome = {}
    if returncode != 0 or outcome.get("status") != "stored":
        raise SystemExit(
            f"the ingest did not store its AIP: {outcome.get('reason', outcome)} ({detail})"
        )
    return outcome


class MemoryLimit:
    """A memory cgroup with a hard limit (cgroup v2's ``memory.max``, or v1's
    ``memory.limit_in_bytes`` where the memory controller is still on v1) for the
    ingest and everything it starts, as a container's memory limit would hold it. Pages
    of files (a mapped METS, the page cache of what is written) count against it and are
    reclaimed at the limit; what cannot be reclaimed ends in the kernel's OOM killer,
    which ``report`` counts. Needs root and a writable cgroup file system: anything else
    is an error that says so, not a run without the limit."""

    def __init__(self, megabytes: int):
        self.megabytes = megabytes
        unified = Path("/sys/fs/cgroup")
        self.v2 = "memory" in _read(unified / "cgroup.controllers").split()
        root = unified if self.v2 else unified / "memory"
        self.path = root / f"bench-100k-{os.getpid()}"
        try:
            self.path.mkdir()
            limit = self.path / ("memory.max" if self.v2 else "memory.limit_in_bytes")
            limit.write_text(str(megabytes * 2**20))
        except OSError as error:
            raise SystemExit(
                f"cannot make a memory cgroup at {self.path} ({error}); run as root on a "
                "machine with a writable cgroup file system, or drop --memory-limit-mb "
                "(make bench-100k BENCH_100K_MEMORY_MB=)"
            ) from error

    def enter(self) -> None:
        """In the child, before it runs the command: join the cgroup."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def report(self) -> dict:
        """The limit, the cgroup's peak charge (page cache included), how often it was
        reached (pages reclaimed) and how many processes the OOM killer took."""
        if self.v2:
            events = _pairs(self.path / "memory.events")
            peak, hits, kills = _read(self.path / "memory.peak"), events["max"], events["oom_kill"]
        else:
            peak = _read(self.path / "memory.max_usage_in_bytes")
            hits = _read(self.path / "memory.failcnt")
            # Kernels before 4.13 do not count the kills: unknown, not 0.
            kills = _pairs(self.path / "memory.oom_control").get("oom_kill")
        return {
            "limit_mb": self.megabytes,
            "cgroup_peak_mb": round(int(peak) / 2**20),
            "limit_reached": int(hits),
            "oom_kills": None if kills is None else int(kills),
        }

    def remove(self) -> None:
        self.path.rmdir()


def _pairs(path: Path) -> dict[str, str]:
    """A cgroup file of ``key value`` lines."""
    return dict(line.split() for line in _read(path).splitlines())


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


class RssSampler(threading.Thread):
    """Every 0.2 s, the resident memory of each process under ``pid`` (its
    ``smaps_rollup``): the peak per kind of process (the runner, clamscan, exiftool…),
    split into anonymous memory (the program's own) and file-backed pages (a file it
    maps, which the kernel can drop). GNU time's maximum RSS counts both."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.stop, self.peaks = pid, threading.Event(), {}

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        while not self.stop.wait(0.2):
            try:
                processes = root.children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for process in processes:
                try:
                    kind = _kind(process.cmdline())
                    # smaps_rollup walks the page tables; /proc/<pid>/status's RssFile
                    # is a counter, and in one trial it said 11 MB while smaps showed
                    # 139 MB of a METS that Siegfried's Go thread had read through its
                    # mapping.
                    rollup = Path(f"/proc/{process.pid}/smaps_rollup").read_text()
                except (psutil.Error, OSError):
                    continue
                rss, anon = _kb(rollup, "Rss"), _kb(rollup, "Anonymous")
                file = rss - anon
                peak = self.peaks.setdefault(kind, {"rss_mb": 0, "anon_mb": 0, "file_mb": 0})
                if rss > peak["rss_mb"] * 1024:
                    peak.update(rss_mb=round(rss / 1024), file_mb=round(file / 1024))
                if round(file / 1024) > peak.get("file_peak_mb", 0):
                    peak.update(file_peak_mb=round(file / 1024), file_peak_at=time.time())
                if round(anon / 1024) > peak["anon_mb"]:
                    peak.update(anon_mb=round(anon / 1024), anon_peak_at=time.time())


def _kind(cmdline: list[str]) -> str:
    if any("ingest_runner" in part for part in cmdline):
        return "ingest runner (every task)"
    if len(cmdline) > 2 and cmdline[1] == "-c" and "multiprocessing" in cmdline[2]:
        return "Python worker pool"
    return Path(cmdline[0]).name if cmdline else "?"


def _kb(proc_text: str, field: str) -> int:
    """A ``Field:   123 kB`` line of a /proc file (smaps_rollup), in kB."""
    found = re.search(rf"^{field}:\s+(\d+) kB", proc_text, re.M)
    return int(found[1]) if found else 0


def stage_seconds(home: Path, run_id: str) -> dict[str, float]:
    """Each task's time (a mapped one: its chunks' total) from Airflow's database."""
    with sqlite3.connect(home / "airflow" / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, SUM(duration) FROM task_instance WHERE run_id = ? GROUP BY task_id",
            (run_id,),
        ).fetchall()
    return {task: round(seconds or 0.0, 2) for task, seconds in rows}


def task_spans(home: Path, run_id: str) -> list[tuple[str, float, float, str]]:
    """The run's finished task instances from Airflow's database, by start: (task id, with
    ``[map index]`` for a chunk; start and end in seconds since the epoch; state)."""
    with sqlite3.connect(home / "airflow" / "airflow.db") as db:
        rows = db.execute(
            "SELECT task_id, map_index, start_date, end_date, state FROM task_instance"
            " WHERE run_id = ? AND start_date IS NOT NULL AND end_date IS NOT NULL",
            (run_id,),
        ).fetchall()
    spans = [
        (
            task + (f"[{index}]" if index >= 0 else ""),
            _epoch(start),
            _epoch(end),
            state,
        )
        for task, index, start, end, state in rows
    ]
    return sorted(spans, key=lambda span: span[1])


def _epoch(stamp: str) -> float:
    # Airflow writes its times in UTC; SQLite keeps them without the zone.
    moment = datetime.fromisoformat(stamp)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def stage_at(home: Path, run_id: str, moment: float) -> str:
    """The task that was running at ``moment`` (seconds since the epoch), to say which
    stage a process's memory peaked in."""
    for task, begins, ends, _ in task_spans(home, run_id):
        if begins <= moment <= ends:
            return task.split("[")[0]
    return "between tasks"


def unpack(aip: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    if aip.suffix == ".7z":
        subprocess.run(["7z", "x", "-bd", "-y", f"-o{target}", str(aip)], check=True,
                       capture_output=True)  # fmt: skip
    else:
        subprocess.run(["tar", "-xf", str(aip), "-C", str(target)], check=True)
    [bag] = [p for p in target.iterdir() if p.is_dir()]
    return bag


def metsrw_python() -> Path:
    """The Python of metsrw's own pinned venv, made on first use."""
    python = METSRW_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(METSRW_VENV)], check=True)
        subprocess.run([str(METSRW_VENV / "bin" / "pip"), "install", "-q", METSRW], check=True)
    return python


_METSRW_READ = """
import json, sys, time, metsrw
started = time.perf_counter()
document = metsrw.METSDocument.fromfile(sys.argv[1])
print(json.dumps({"files": len(document.all_files()), "seconds": time.perf_counter() - started}))
"""


def read_with_metsrw(mets: Path, limit: int = 900, prelude: str = "") -> dict:
    """metsrw (Archivematica's METS library), pinned in a venv of its own, reads it;
    ``prelude`` is Python run first in that process (to change metsrw, say)."""
    try:
        done = subprocess.run(
            [str(metsrw_python()), "-c", prelude + _METSRW_READ, str(mets)],
            capture_output=True, text=True, timeout=limit,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        # metsrw 0.6.1's lookups by ID (get_file, above all) walk every entry per file:
        # quadratic in the files (bench_metsrw.py measures and profiles it).
        return {"error": f"not read in {limit} s (metsrw's lookups are quadratic)"}
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        return {"error": said[-1] if said else f"metsrw exited with code {done.returncode}"}
    return json.loads(done.stdout)


def parse_with_lxml(mets: Path):
    """(the METS's root element, seconds lxml took to parse it)."""
    from lxml import etree

    started = time.perf_counter()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.parse(str(mets), parser).getroot()
    return root, time.perf_counter() - started


def save(result: dict, out: Path) -> None:
    """Write ``result`` as JSON to ``out`` and print it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


def check_aip(aip: Path, work: Path, metsrw_limit: int) -> dict:
    import bagit

    started = time.perf_counter()
    bag = unpack(aip, work / "unpacked")
    unpacked = time.perf_counter() - started
    [mets] = (bag / "data").glob("METS.*.xml")
    root, lxml_seconds = parse_with_lxml(mets)
    ns = {"mets": "http://www.loc.gov/METS/", "premis": "http://www.loc.gov/premis/v3"}
    files = len(root.findall("mets:fileSec//mets:file", ns))
    events = len(root.findall(".//premis:event", ns))
    del root  # 8 GB of tree at 100,000 files: metsrw's own parse must not sit beside it
    started = time.perf_counter()
    valid = True
    try:
        bagit.Bag(str(bag)).validate(processes=os.cpu_count() or 1)
    except bagit.BagError as error:
        valid = str(error)
    return {
        "aip_bytes": aip.stat().st_size,
        "unpack_seconds": round(unpacked, 1),
        "mets_bytes": mets.stat().st_size,
        "mets_files": files,
        "mets_events": events,
        "lxml_read_seconds": round(lxml_seconds, 1),
        "metsrw": read_with_metsrw(mets, metsrw_limit),
        "bag_valid": valid,
        "bag_validate_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--config", default="born_digital")
    parser.add_argument("--scratch", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "100k.json")
    parser.add_argument(
        # metsrw's read is quadratic in the files (181 s at 10,000, hours at 100,000:
        # bench_metsrw.py), so a longer wait at 100,000 only delays the figures.
        "--metsrw-limit",
        type=int,
        default=60,
        help="seconds metsrw is given to read the METS",
    )
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="run the ingest in a memory cgroup with this hard limit (root)",
    )
    args = parser.parse_args(argv)
    if args.scratch:
        args.scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-100k-", dir=args.scratch))
    home = work / "home"
    os.environ["PRESERVATION_HOME"] = str(home)
    bench_ingest.use_test_clamav(work)
    limit = MemoryLimit(args.memory_limit_mb) if args.memory_limit_mb else None
    try:
        started = time.perf_counter()
        transfer, payload = build_small(work / "corpus", files=args.files)
        print(f"{args.files:,} files, {payload / 1e6:,.0f} MB made in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        os.sync()  # the corpus on disk before the clock starts, not written out during it
        ingest(REPO / "examples" / "demo-transfer", args.config, work / "warm-up.log")
        try:
            wall, rss, outcome, processes = ingest(
                transfer, args.config, work / "ingest.log", limit
            )
        except (SystemExit, ValueError, IndexError) as error:
            if limit and (report := limit.report())["oom_kills"]:
                raise SystemExit(f"the OOM killer ended the ingest: {report}") from error
            raise
        stages = stage_seconds(home, outcome["run_id"])
        for peak in processes.values():
            for part in ("anon", "file"):
                if f"{part}_peak_at" in peak:
                    peak[f"{part}_peak_stage"] = stage_at(
                        home, outcome["run_id"], peak.pop(f"{part}_peak_at")
                    )
        print(f"stored in {wall:.0f} s, peak RSS {rss:.0f} MB", flush=True)
        result = {
            "files": args.files,
            "bytes": payload,
            "config": args.config,
            "wall_seconds": round(wall, 1),
            "peak_rss_mb": round(rss),
            "peak_rss_by_process": processes,
            "stages": stages,
            "slowest_stage": max(stages, key=stages.get),
            **({"memory_limit": limit.report()} if limit else {}),
            **check_aip(Path(outcome["aip_path"]), work, args.metsrw_limit),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if limit:
            limit.remove()
    save(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
