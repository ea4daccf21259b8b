"""Running external tools and hashing files: every call has a timeout, work is parallel.

One process runner, :func:`spawn` (its own process group, killed whole on timeout), with
two policies: :func:`run` for a tool the pipeline cannot do without (a failure raises
ToolError) and :func:`run_argv` for a format tool run on one file or a batch (a failure
is that file's result, with the reason).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from preservation.core.errors import ToolError

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 1024 * 1024
MESSAGE_LIMIT = 2000

#: A file up to this size may share one tool process with others (FFmpeg's decode
#: batches, LibreOffice's conversions); a larger one runs alone, so that one slow file
#: does not hold many others to a single timeout.
TOGETHER_BYTES = 8 * 1024 * 1024


def file_size(path: Path, unreadable: int) -> int:
    """The size of ``path``, or ``unreadable`` when it is gone or cannot be read: the
    tool's own run on that file says why."""
    try:
        return path.stat().st_size
    except OSError:
        return unreadable


def runs_together(path: Path) -> bool:
    """Whether ``path`` is small enough to share a tool process (an unreadable file runs
    alone and gets the tool's own message)."""
    return file_size(path, TOGETHER_BYTES + 1) <= TOGETHER_BYTES


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


@dataclass(frozen=True)
class CommandResult:
    """What one command did to one file."""

    ok: bool
    message: str = ""
    stdout: str = ""


def clip(message: str) -> str:
    message = message.strip()
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT] + " […]"


def run_argv(
    argv: Sequence[str],
    timeout: int,
    ok_codes: Sequence[int] = (0,),
    fail_pattern: str = "",
    pattern_on_stdout: bool = False,
    env: dict[str, str] | None = None,
) -> CommandResult:
    """Run a program with a timeout; its failure is a result with the reason, not a raise."""
    name = Path(argv[0]).name
    try:
        done = spawn(argv, timeout, env=env)
    except subprocess.TimeoutExpired:
        return CommandResult(False, f"{name} did not finish within {timeout} s and was stopped")
    except OSError as exc:
        return CommandResult(False, f"{name} could not start: {exc}")
    text = (done.stderr.strip() + "\n" + done.stdout.strip()).strip()
    if done.returncode not in ok_codes:
        reason = (
            f"killed by signal {-done.returncode}"
            if done.returncode < 0
            else f"exit code {done.returncode}"
        )
        return CommandResult(False, clip(f"{name} failed ({reason}): {text}"))
    checked = done.stdout if pattern_on_stdout else text
    if fail_pattern and re.search(fail_pattern, checked, re.MULTILINE):
        return CommandResult(False, clip(text), done.stdout)
    return CommandResult(True, clip(text), done.stdout)
