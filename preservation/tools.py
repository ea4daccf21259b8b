"""Running external tools and hashing files: every call has a timeout, work is parallel."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from preservation.errors import ToolError

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 1024 * 1024


def require(tool: str) -> str:
    """The full path of ``tool``, or a ToolError naming the Debian package to install."""
    path = shutil.which(tool)
    if path is None:
        raise ToolError(f"{tool} is not installed (install it with `make tools`)")
    return path


def spawn(
    args: Sequence[str],
    timeout: int,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a program, capturing its output, in its own process group: on timeout the
    whole group is killed (a tool's children would otherwise keep running and hold its
    output open) and ``subprocess.TimeoutExpired`` is raised."""
    process = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
        env=env,
    )
    try:
        stdout, stderr = process.communicate(input_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(list(args), process.returncode, stdout, stderr)


def run(
    args: Sequence[str], timeout: int, ok_codes: Iterable[int] = (0,), input_text: str | None = None
) -> subprocess.CompletedProcess:
    """Run a tool and capture its output; a hang or an unexpected exit is a ToolError."""
    try:
        result = spawn(args, timeout, input_text)
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


def pool_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items`` in a pool of ``workers`` threads, results in order.

    Threads suffice: the work is in child processes, or in hashlib and libraries that
    release the GIL.
    """
    if workers < 2 or len(items) < 2:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(fn, items)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of one file, read in 1 MiB chunks (hashlib releases the GIL)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def digests(paths: Sequence[Path], workers: int, algorithm: str = "sha256") -> list[str]:
    """Digests of many files in parallel threads, in the order given."""
    return list(pool_map(lambda p: file_digest(p, algorithm), paths, workers))
