"""ClamAV, through the clamd daemon when it answers and through clamscan otherwise.

Both scan many files per call: clamd in one session (``IDSESSION``, pipelined ``SCAN``
commands), clamscan with one ``--file-list`` per batch. The results name, for each file,
``OK``, the signature found, or the scanner's error.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from preservation.core.errors import ToolError
from preservation.core.settings import Settings
from preservation.tools.process import file_size, pool_map, require, run

OK, FOUND, ERROR = "OK", "FOUND", "ERROR"
SESSION_BATCH = 64  # below clamd's default MaxQueue of 100
#: Payloads at least this big are split over several clamscan processes.
SPLIT_BYTES = 512 * 2**20


@dataclass(frozen=True)
class ScanResult:
    status: str  # OK | FOUND | ERROR
    signature: str = ""


class Clamd:
    """A clamd daemon listening on a Unix socket."""

    program = "ClamAV (clamd)"

    def __init__(self, socket_path: str, timeout: int):
        self.socket_path, self.timeout = socket_path, timeout

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        return sock

    def _command(self, command: bytes) -> str:
        with self._connect() as sock:
            sock.sendall(b"z" + command + b"\0")
            return _read_all(sock).rstrip(b"\0").decode("utf-8", "replace")

    def alive(self) -> bool:
        try:
            return self._command(b"PING") == "PONG"
        except OSError:
            return False

    def version(self) -> tuple[str, str]:
        """(engine version, signature version) from clamd's VERSION answer."""
        try:
            answer = self._command(b"VERSION")
        except OSError as exc:
            raise ToolError(f"clamd stopped answering on {self.socket_path}: {exc}") from exc
        engine, _, definitions = answer.partition("/")
        # clamd may run on another host: it knows its databases, we do not.
        return engine.strip(), definitions or "unofficial databases only (no official version)"

    def scan(self, paths: Sequence[Path]) -> dict[Path, ScanResult]:
        results: dict[Path, ScanResult] = {}
        for start in range(0, len(paths), SESSION_BATCH):
            batch = paths[start : start + SESSION_BATCH]
            try:
                with self._connect() as sock:
                    sock.sendall(b"zIDSESSION\0")
                    for path in batch:
                        sock.sendall(b"zSCAN " + str(path).encode() + b"\0")
                    sock.sendall(b"zEND\0")
                    answer = _read_all(sock).decode("utf-8", "replace")
            except OSError as exc:
                raise ToolError(f"clamd stopped answering on {self.socket_path}: {exc}") from exc
            for reply in filter(None, answer.split("\0")):
                number, _, rest = reply.partition(": ")
                if not number.isdigit() or not 0 < int(number) <= len(batch):
                    raise ToolError(f"clamd answered something unexpected: {reply[:200]}")
                path = batch[int(number) - 1]
                results[path] = _parse_verdict(rest[len(str(path)) + 2 :])
        return results


class Clamscan:
    """The clamscan command, loading the signature database once per batch."""

    program = "ClamAV (clamscan)"

    def __init__(self, database: str | None, timeout: int, max_mb: int = 2047, workers: int = 1):
        self.database, self.timeout, self.max_mb = database, timeout, max_mb
        self.workers = workers

    def _base(self) -> list[str]:
        args = [require("clamscan")]
        if self.database:
            args.append(f"--database={self.database}")
        return args

    def version(self) -> tuple[str, str]:
        return _split_version(run(self._base() + ["--version"], 60).stdout.strip(), self.database)

    def scan(self, paths: Sequence[Path]) -> dict[Path, ScanResult]:
        """One clamscan over all ``paths``; over big payloads, one per worker, the files
        dealt out by size (clamscan is single-threaded: it scanned 2 GB at 75 MB/s here,
        and each process loads the signatures again, so small payloads stay in one)."""
        from preservation.tools.pixel_limit import bomb, signed_formats

        # ClamAV decodes every image whole to fuzzy-hash it (787 MB for a 156-megapixel
        # PNG): images past the pixel limit are scanned without that hash. ClamAV knows an
        # image by its first bytes, so only the formats those announce are looked at.
        formats = signed_formats()
        bombs = {p for p in paths if bomb(p, formats)}
        results = self._scan(sorted(bombs), ["--scan-image-fuzzy-hash=no"])
        return results | self._scan_split([p for p in paths if p not in bombs])

    def _scan_split(self, paths: Sequence[Path]) -> dict[Path, ScanResult]:
        # A file gone or unreadable is clamscan's to report, with the rest of its answers.
        sizes = {p: file_size(p, 0) for p in paths}
        if self.workers < 2 or sum(sizes.values()) < SPLIT_BYTES:
            return self._scan(paths)
        groups: list[list[Path]] = [[] for _ in range(min(self.workers, len(paths)))]
        loads = [0] * len(groups)
        for path in sorted(paths, key=sizes.get, reverse=True):
            lightest = loads.index(min(loads))
            groups[lightest].append(path)
            loads[lightest] += sizes[path]
        results: dict[Path, ScanResult] = {}
        for part in pool_map(self._scan, groups, len(groups)):
            results.update(part)
        return results

    def _scan(self, paths: Sequence[Path], options: Sequence[str] = ()) -> dict[Path, ScanResult]:
        if not paths:
            return {}
        with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as listing:
            listing.write("\n".join(str(p) for p in paths) + "\n")
            listing.flush()
            # Exit 1 means "virus found", 2 "some error": both are answers, read the lines.
            result = run(
                self._base()
                + [
                    "--no-summary",
                    "--stdout",
                    # Its defaults (100/400 MB) would skip bigger files and call them OK.
                    f"--max-filesize={self.max_mb}M",
                    f"--max-scansize={self.max_mb}M",
                    f"--file-list={listing.name}",
                    *options,
                ],
                self.timeout,
                ok_codes=(0, 1, 2),
            )
        wanted = {str(p): p for p in paths}
        results: dict[Path, ScanResult] = {}
        for line in result.stdout.splitlines():
            # "<path>: OK", "<path>: <signature> FOUND", "<path>: <message> ERROR";
            # signatures hold no ": ", paths may, so split at the last one.
            text, _, verdict = line.rpartition(": ")
            if text in wanted:
                results[wanted[text]] = _parse_verdict(verdict)
        if result.returncode == 2 and len(results) < len(paths):
            if "No supported database files found" in result.stderr or (
                "cl_load(): No such file or directory" in result.stderr
            ):
                raise ToolError(
                    f"ClamAV has no signature database in {self.database or '/var/lib/clamav'}: "
                    "run freshclam, or set CLAMAV_DATABASE to a folder of signatures"
                )
            raise ToolError("clamscan failed", result.stderr.strip().splitlines()[-5:])
        return results


def _parse_verdict(text: str) -> ScanResult:
    text = text.strip()
    # clamscan answers "Empty file" for a zero-byte file (clamd says OK): nothing to infect.
    if text in ("OK", "Empty file"):
        return ScanResult(OK)
    if text.endswith(" FOUND"):
        return ScanResult(FOUND, text[: -len(" FOUND")])
    return ScanResult(ERROR, text)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _split_version(answer: str, database: str | None) -> tuple[str, str]:
    # "ClamAV 1.4.6/27450/Thu Nov 19 09:33:09 2026" with official signatures; just
    # "ClamAV 1.4.6" when only unofficial databases are loaded.
    engine, _, definitions = answer.partition("/")
    if not definitions:
        folder = Path(database or "/var/lib/clamav")
        files = sorted(p.name for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
        definitions = f"unofficial database {folder} ({', '.join(files) or 'empty'})"
    return engine.strip(), definitions


# EICAR's test string, assembled at run time so no file of ours looks infected.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()


def build_test_database(folder: Path, extra_markers: dict[str, bytes] | None = None) -> Path:
    """A small signature database made with ClamAV's own sigtool: EICAR's MD5 signature,
    plus one body signature per ``extra_markers`` entry (name -> bytes).

    For tests and the offline demo, where freshclam cannot download the official
    databases; production points clamd and clamscan at freshclam's.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sample = folder / "eicar.sample"
    sample.write_bytes(EICAR)
    try:
        hdb = run([require("sigtool"), "--md5", str(sample)], 60).stdout
    finally:
        sample.unlink()
    (folder / "test.hdb").write_text(hdb.replace("eicar.sample", "Eicar-Test-Signature"))
    lines = []
    for name, marker in (extra_markers or {}).items():
        hexed = run(
            [require("sigtool"), "--hex-dump"], 60, input_text=marker.decode("latin-1")
        ).stdout.strip()
        lines.append(f"{name}:0:*:{hexed}\n")
    if lines:
        (folder / "test.ndb").write_text("".join(lines))
    return folder


def scanner(settings: Settings) -> Clamd | Clamscan:
    """clamd when it answers on its socket, clamscan otherwise."""
    daemon = Clamd(settings.clamd_socket, min(settings.tool_timeout, 600))
    if Path(settings.clamd_socket).exists() and daemon.alive():
        return daemon
    return Clamscan(
        settings.clamav_database,
        settings.tool_timeout,
        settings.virus_scan_max_mb,
        settings.workers,
    )
