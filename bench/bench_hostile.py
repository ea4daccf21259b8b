#!/usr/bin/env python
"""Hostile and odd packages, timed: each family of issue 15 through ``preservation
validate-transfer`` and ``preservation ingest`` as a new user runs them (the embedded
default: Airflow on SQLite, every task in-process), with the wall time and the peak
resident memory of the whole process tree (the command, Airflow's runner, every tool).

The bounds these are held to: every package ends with its verdict or its AIP within a
minute (the embedded default spends about 15 s starting Airflow), and no process of the
tree goes past 1 GB. A result table goes to stdout and ``bench/results/<date>-hostile.json``.

    .venv/bin/python bench/bench_hostile.py
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.media import raw_zip  # noqa: E402  (the tests' zip writer: names byte for byte)

BIN = Path(sys.executable).parent
CSV = b"filename,dc.identifier\nobjects/,PP/BENCH/1\n"
METADATA = {"name": b"metadata/metadata.csv", "data": CSV}
BOUNDS = {"seconds": 60, "rss_mb": 1024}


def _zip_file(folder: Path, name: str, entries: list[dict]) -> Path:
    path = folder / name
    path.write_bytes(raw_zip(entries))
    return path


def _metadata_bomb(folder: Path) -> Path:
    path = folder / "metadata-bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", "a")
        with archive.open("metadata/metadata.csv", "w") as out:
            out.write(CSV)
            for _ in range(400):
                out.write(b"," * (1 << 20))  # 400 MB unpacked
    return path


def _nested_expansion(folder: Path) -> Path:
    """Three levels of zips of 40 MB each: each under the limit, together over it."""
    payload = os.urandom(40 << 20)
    inner = _in_memory_zip({"inner.bin": payload})
    middle = _in_memory_zip({"middle.bin": payload, "inner.zip": inner})
    return _zip_file(folder, "nested.zip", [{"name": b"outer.zip", "data": middle}, METADATA])


def _in_memory_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _pixel_bomb(folder: Path) -> Path:
    """A 156-megapixel PNG (13,000 x 12,000): small on disk, 2.8 GB once decoded as RGB."""
    from PIL import Image

    png = folder / "huge.png"
    Image.new("L", (13_000, 12_000), 200).save(png, optimize=False)
    return _zip_file(
        folder, "pixel-bomb.zip", [{"name": b"huge.png", "data": png.read_bytes()}, METADATA]
    )


def _fifo_folder(folder: Path) -> Path:
    source = folder / "fifo-folder"
    (source / "metadata").mkdir(parents=True)
    (source / "metadata" / "metadata.csv").write_bytes(CSV)
    (source / "a.txt").write_text("a")
    os.mkfifo(source / "pipe")
    return source


def families(folder: Path) -> dict[str, tuple[Path, dict]]:
    """name -> (package, extra environment)."""
    long_identifier = ("档案/" + "目录" * 80).encode()
    return {
        "CP437 names (Windows)": (
            _zip_file(
                folder,
                "cp437.zip",
                [
                    {"name": "Résumé.txt".encode("cp437"), "data": b"cv", "system": 0},
                    {"name": "Ärger\\Brief.txt".encode("cp437"), "data": b"b", "system": 0},
                    METADATA,
                ],
            ),
            {},
        ),
        "line break and bad UTF-8 in names": (
            _zip_file(
                folder,
                "names.zip",
                [
                    {"name": b"line\nbreak.txt", "data": b"1"},
                    {"name": b"caf\xe9.txt", "data": b"2", "flags": 0x800},
                    METADATA,
                ],
            ),
            {},
        ),
        "member twice": (
            _zip_file(
                folder,
                "twice.zip",
                [{"name": b"a.txt", "data": b"1"}, {"name": b"a.txt", "data": b"2"}, METADATA],
            ),
            {},
        ),
        "metadata.csv of 400 MB unpacked": (_metadata_bomb(folder), {}),
        "identifier with a line break": (
            _zip_file(
                folder,
                "forged.zip",
                [
                    {"name": b"a.txt", "data": b"a"},
                    {
                        "name": METADATA["name"],
                        "data": b'filename,dc.identifier\nobjects/,"A\nB"\n',
                    },
                ],
            ),
            {},
        ),
        "nested zips over the byte limit together": (
            _nested_expansion(folder),
            {"PRESERVATION_MAX_BYTES": str(100 << 20)},
        ),
        "folders 3,000 deep": (
            _zip_file(folder, "deep.zip", [{"name": ("d/" * 3000 + "f").encode()}, METADATA]),
            {},
        ),
        "tar named .zip": (_tar_named_zip(folder), {}),
        "folder holding a FIFO": (_fifo_folder(folder), {}),
        "156-megapixel PNG": (_pixel_bomb(folder), {}),
        "identifier of 730 bytes": (
            _zip_file(
                folder,
                "long-identifier.zip",
                [
                    {"name": b"a.txt", "data": b"a"},
                    {
                        "name": METADATA["name"],
                        "data": b"filename,dc.identifier\nobjects/," + long_identifier + b"\n",
                    },
                ],
            ),
            {},
        ),
    }


def _tar_named_zip(folder: Path) -> Path:
    import tarfile

    path = folder / "tar-named.zip"
    member = folder / "member.txt"
    member.write_text("a")
    with tarfile.open(path, "w") as archive:
        archive.add(member, "a.txt")
    return path


def measured(command: list[str], env: dict[str, str], timeout: int = 600) -> dict:
    """Run ``command`` under a small parent that reports the process tree's peak RSS."""
    probe = (
        "import resource, subprocess, sys, json, time;"
        "t = time.perf_counter();"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "print(json.dumps({'code': done.returncode, 'seconds': time.perf_counter() - t,"
        " 'rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,"
        " 'stdout': done.stdout[-4000:], 'stderr': done.stderr[-2000:]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return json.loads(done.stdout)


def main() -> int:
    from preservation.tools.clamav import build_test_database

    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    rows = []
    try:
        database = build_test_database(work / "clamav-db")
        base = {k: v for k, v in os.environ.items() if not k.startswith("PRESERVATION_")}
        base |= {
            "PRESERVATION_HOME": str(work / "home"),
            "CLAMAV_DATABASE": str(database),
            "CLAMD_SOCKET": str(work / "none.sock"),
            "PRESERVATION_TASK_RETRIES": "2",
        }
        for name, (package, extra) in families(work).items():
            env = {**base, **extra}
            checked = (
                measured([str(BIN / "preservation"), "validate-transfer", str(package)], env)
                if package.is_file()
                else None
            )
            ingested = measured(
                [
                    str(BIN / "preservation"),
                    "ingest",
                    str(package),
                    "--processing-config",
                    "automated",
                ],
                env,
            )
            result = json.loads(ingested["stdout"].strip().splitlines()[-1])
            verdict = (
                "stored"
                if result["status"] == "stored"
                else f"{result.get('failed_task')}: {result.get('reason', '').splitlines()[0][:90]}"
            )
            row = {
                "family": name,
                "validate_transfer": "accepts"
                if checked and checked["code"] == 0
                else ("refuses" if checked else "(a folder)"),
                "validate_seconds": checked["seconds"] if checked else None,
                "validate_rss_mb": checked["rss_mb"] if checked else None,
                "ingest": verdict,
                "ingest_seconds": ingested["seconds"],
                "ingest_rss_mb": ingested["rss_mb"],
            }
            rows.append(row)
            print(
                f"{name}: pre-flight {row['validate_transfer']}; ingest {verdict} in "
                f"{row['ingest_seconds']:.1f} s, peak RSS {row['ingest_rss_mb']:.0f} MB",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| family | pre-flight | ingest | s | peak RSS MB |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['family']} | {r['validate_transfer']} | {r['ingest']} | "
            f"{r['ingest_seconds']:.1f} | {r['ingest_rss_mb']:.0f} |"
        )
    over = [
        r["family"]
        for r in rows
        if r["ingest_seconds"] > BOUNDS["seconds"] or r["ingest_rss_mb"] > BOUNDS["rss_mb"]
    ]
    print(
        f"\nbounds ({BOUNDS['seconds']} s, {BOUNDS['rss_mb']} MB): "
        + ("all met" if not over else f"missed by {over}")
    )
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    (results / f"{stamp}-hostile.json").write_text(
        json.dumps({"date": stamp, "bounds": BOUNDS, "families": rows}, indent=2)
    )
    return 0 if not over else 1


if __name__ == "__main__":
    sys.exit(main())
