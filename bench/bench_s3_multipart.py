"""Store a large AIP package on S3 (multipart, SHA-256 checksums, conditional write) and
read it back, reporting MB/s and this process's peak RSS: the package is streamed in
64 MiB parts, never held whole in memory.

    python bench/bench_s3_multipart.py --size-gb 2 [--endpoint http://127.0.0.1:PORT]

Without ``--endpoint`` it starts moto's S3 server on a free loopback port.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import boto3

from preservation.storage.s3_storage import PART_SIZE, S3Location
from preservation.tools.process import file_digest


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2)
            return server, endpoint
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto_server did not start: {log.read_text()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--endpoint")
    parser.add_argument("--work", default=tempfile.gettempdir())
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    work = Path(tempfile.mkdtemp(prefix="bench-s3-", dir=args.work))
    server = None
    endpoint = args.endpoint
    if not endpoint:
        server, endpoint = start_moto(work / "moto.log")
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        aip_uuid = str(uuid.uuid4())
        package = work / f"Bench-{aip_uuid}.7z"
        size = int(args.size_gb * 1024**3)
        with open(package, "wb") as handle:  # incompressible, written in 16 MiB blocks
            for _ in range(0, size, 16 * 1024**2):
                handle.write(os.urandom(16 * 1024**2))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        sha256 = file_digest(package)
        hashed = time.perf_counter()
        location = S3Location(client, bucket, "aips")
        stored = location.store(package, aip_uuid, [])
        uploaded = time.perf_counter()
        report = location.verify(stored, sha256)
        verified = time.perf_counter()
        mb = package.stat().st_size / 1e6
        result = {
            "size_mb": round(mb),
            "parts": -(-package.stat().st_size // PART_SIZE),
            "hash_s": round(hashed - started, 1),
            "upload_s": round(uploaded - hashed, 1),
            "upload_mb_s": round(mb / (uploaded - hashed), 1),
            "verify_s": round(verified - uploaded, 1),
            "verify_mb_s": round(mb / (verified - uploaded), 1),
            "verified": report.success,
            "peak_rss_mb_before_store": round(rss_before / 1024),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
        print(json.dumps(result, indent=2))
        return 0 if report.success else 1
    finally:
        if server:
            server.terminate()
            server.wait(timeout=60)
        for path in sorted(work.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        work.rmdir()


if __name__ == "__main__":
    sys.exit(main())
