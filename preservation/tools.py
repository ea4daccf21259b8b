"""Running external tools and hashing files: every call has a timeout, work is parallel."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from preservation.errors import ToolError

CHUNK = 1024 * 1024


def require(tool: str) -> str:
    """The full path of ``tool``, or a ToolError naming the Debian package to install."""
    path = shutil.which(tool)
    if path is None:
        raise ToolError(f"{tool} is not installed (install it with `make tools`)")
    return path


def run(
    args: Sequence[str], timeout: int, ok_codes: Iterable[int] = (0,), input_text: str | None = None
) -> subprocess.CompletedProcess:
    """Run a tool and capture its output; a hang or an unexpected exit is a ToolError."""
    try:
        result = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            errors="replace",
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{args[0]} did not finish within {timeout} s and was stopped") from exc
    except FileNotFoundError as exc:
        raise ToolError(f"{args[0]} is not installed (install it with `make tools`)") from exc
    if result.returncode not in set(ok_codes):
        raise ToolError(
            f"{Path(args[0]).name} failed with exit code {result.returncode}",
            [line for line in (result.stderr or result.stdout).strip().splitlines()[-10:]],
        )
    return result


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of one file, read in 1 MiB chunks (hashlib releases the GIL)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def digests(paths: Sequence[Path], workers: int, algorithm: str = "sha256") -> list[str]:
    """Digests of many files in parallel threads, in the order given."""
    if len(paths) < 2 or workers < 2:
        return [file_digest(p, algorithm) for p in paths]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: file_digest(p, algorithm), paths, chunksize=64))
