"""Running the format policy registry's commands: versions, availability, batches.

A command either runs an external program (argv with ``{input}``, ``{output}``,
``{work_dir}``, ``{stem}`` placeholders; a private working folder per call; a timeout) or
calls a function in-process. A failing, hung or crashing tool becomes a ``CommandResult``
with the reason for that file, never an exception: the other files go on.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import logging
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from preservation.core.settings import Settings
from preservation.tools.batch_tools import BATCH_FILES, RUNNERS
from preservation.tools.fpr import Command, Tool
from preservation.tools.process import (
    CommandResult,
    clip,
    pool_map,
    run_argv,
    runs_together,
    spawn,
)

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


def available(tool: Tool) -> bool:
    """Whether ``tool`` can run here (its program on PATH, or its library importable)."""
    if tool.executable:
        return shutil.which(tool.executable) is not None
    if tool.python_distribution:
        return _installed(tool.python_distribution)
    return True


@lru_cache(maxsize=64)
def _installed(distribution: str) -> bool:
    # Asked per file; reading the installed packages' metadata each time showed in
    # validation's profile. What is installed does not change while a task runs.
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def missing_message(tool: Tool) -> str:
    """How to say a tool is missing, and how to install it."""
    if tool.debian_package:
        return f"{tool.name} is not installed (apt-get install {tool.debian_package})"
    return f"{tool.name} is not installed (pip install {tool.python_distribution})"


@lru_cache(maxsize=64)
def version(tool: Tool) -> str:
    """The tool's version, asked once per process ("unknown" when it will not say)."""
    if tool.python_distribution is not None:
        if not tool.python_distribution:
            return platform.python_version()
        try:
            return importlib.metadata.version(tool.python_distribution)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"
    if not tool.version or not available(tool):
        return "unknown"
    try:
        out = spawn(tool.version, 60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    if tool.version_pattern:
        match = re.search(tool.version_pattern, text)
        return match.group(1) if match else "unknown"
    return text.splitlines()[0].strip() if text else "unknown"


def event_detail(command: Command) -> str:
    """PREMIS eventDetail naming the program, its version and the registry command."""
    return (
        f'program="{command.tool.name}"; version="{version(command.tool)}"; command="{command.key}"'
    )


def _function(name: str) -> Callable:
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


def run(command: Command, source: Path, output: Path | None, timeout: int) -> CommandResult:
    """Run ``command`` on ``source``; a made file lands at ``output`` only when complete.

    Messages name the file by its name, not by the processing directory's path."""
    result = _run(command, source, output, timeout)
    return CommandResult(result.ok, result.message.replace(str(source), source.name), result.stdout)


def _run(command: Command, source: Path, output: Path | None, timeout: int) -> CommandResult:
    if not available(command.tool):
        return CommandResult(False, missing_message(command.tool))
    if command.function and output is None:
        # An in-process check writes nothing: no working folder to make and remove per
        # file (measured: a third of validating 10,000 small files).
        return _call(command.function, source, None)
    with tempfile.TemporaryDirectory(prefix="fpr-") as work:
        work_dir = Path(work)
        suffix = output.suffix if output else ""
        staged = work_dir / f"out{suffix}"
        values = {
            "input": str(source),
            "output": str(staged),
            "work_dir": str(work_dir),
            "stem": source.stem,
        }
        if command.function:
            result = _call(command.function, source, staged)
        else:
            result = run_argv(
                [_fill(a, values) for a in command.argv],
                timeout,
                fail_pattern=command.fail_pattern,
                pattern_on_stdout=command.output == "stdout",
                # A private HOME per call: tools that keep state there (MediaConch's
                # SQLite database, LibreOffice's profile) would block each other.
                env={**os.environ, "HOME": str(work_dir)},
            )
        if not result.ok or output is None:
            return result
        made = Path(_fill(command.output, values)) if command.output != "stdout" else None
        if made is None or not made.is_file() or made.stat().st_size == 0:
            return CommandResult(
                False, clip(f"{command.tool.name} made no output file. {result.message}")
            )
        _land(made, output)
        return result


def run_many(
    command: Command, pairs: Sequence[tuple[Path, Path]], timeout: int
) -> list[CommandResult]:
    """``command`` on each (source, output) pair, results in order, in one process when
    the command takes several inputs (``inputs_per_call``; at most that many ``pairs``).

    LibreOffice takes about a second to start and converts a small document in a fraction
    of that, so it is given small documents together (a file over ``TOGETHER_BYTES``, or
    one that cannot be read, is run alone: one slow file must not hold many others to one
    timeout; ``process.runs_together``). Each input is linked into the working folder
    under its position (``3.docx``), so outputs named by the input's stem cannot collide.
    A file whose output is missing, or every file when the call failed as a whole (a
    crash, a timeout, a message that fails the command), is run again alone and gets the
    one-file command's own verdict and message; the task log says that the call fell
    back."""
    together = [n for n, (source, _) in enumerate(pairs) if runs_together(source)]
    found: dict[int, CommandResult] = {}
    if len(together) > 1 and command.inputs_per_call > 1 and available(command.tool):
        found = _run_together(command, [pairs[n] for n in together], timeout)
        found = {together[n]: result for n, result in found.items()}
    return [
        found.get(position) or run(command, source, output, timeout)
        for position, (source, output) in enumerate(pairs)
    ]


def _run_together(
    command: Command, pairs: Sequence[tuple[Path, Path]], timeout: int
) -> dict[int, CommandResult]:
    """One call of ``command`` on all ``pairs``: {position: result} for the outputs made."""
    found: dict[int, CommandResult] = {}
    with tempfile.TemporaryDirectory(prefix="fpr-") as work:
        work_dir = Path(work)
        staged = []
        for position, (source, _) in enumerate(pairs):
            link = work_dir / "inputs" / f"{position}{source.suffix}"
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(source.absolute())
            staged.append(link)
        argv = []
        for arg in command.argv:
            if arg == "{input}":
                argv.extend(str(link) for link in staged)
            else:
                argv.append(_fill(arg, {"work_dir": str(work_dir)}))
        result = run_argv(
            argv,
            timeout,
            fail_pattern=command.fail_pattern,
            env={**os.environ, "HOME": str(work_dir)},
        )
        if not result.ok:
            # Said once here: each file's own run then gives that file's verdict.
            log.warning(
                "%s (%s): one call on %d files failed, so each is run alone: %s",
                command.tool.name,
                command.key,
                len(pairs),
                result.message,
            )
        else:
            for position, (_, output) in enumerate(pairs):
                made = Path(_fill(command.output, {"work_dir": work, "stem": str(position)}))
                # Never an input's own link taken for its output.
                if made.is_file() and not made.is_symlink() and made.stat().st_size > 0:
                    _land(made, output)
                    found[position] = CommandResult(True, "")
            if len(found) < len(pairs):
                log.info(
                    "%s (%s): one call on %d files left %d without output; those are run alone",
                    command.tool.name,
                    command.key,
                    len(pairs),
                    len(pairs) - len(found),
                )
    return found


def _land(made: Path, output: Path) -> None:
    """Put a made file at ``output`` whole or not at all: the working folder may be on
    another filesystem, where a move is a copy, and a copy cut short must not pass as a
    copy an earlier attempt made."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # A short name of its own: the output's name may already be as long as names go.
    digest = hashlib.sha256(output.name.encode("utf-8", "surrogateescape")).hexdigest()
    partial = output.with_name(f".{digest[:16]}.part")
    shutil.move(made, partial)
    os.replace(partial, output)


def _call(function: str, source: Path, output: Path | None) -> CommandResult:
    try:
        message = _function(function)(source, output)
    except Exception as exc:  # a library failing on one file fails that file only
        return CommandResult(False, clip(f"{type(exc).__name__}: {exc}"))
    return CommandResult(True, clip(message or ""))


def _fill(text: str, values: dict[str, str]) -> str:
    """Replace the known placeholders only: other braces (LibreOffice's JSON filter
    options, say) are left as they are."""
    for key, value in values.items():
        text = text.replace(f"{{{key}}}", value)
    return text


def batches(items: Sequence[T], count: int) -> list[Sequence[T]]:
    """``items`` cut into at most ``count`` batches of near-equal size."""
    count = max(1, min(count, len(items)))
    size = -(-len(items) // count)
    return [items[i : i + size] for i in range(0, len(items), size)]


def run_each(command: Command, sources: Sequence[Path], settings: Settings) -> list[CommandResult]:
    """``command`` on each source, results in order: one call per file in the pool, or,
    for a batch command (ExifTool, MediaInfo, MediaConch), one process per batch of at
    most ``BATCH_FILES`` files, batches in the pool (``settings``: the tool timeout and
    the number of workers)."""
    timeout, workers = settings.tool_timeout, settings.workers
    if not command.batch:
        return list(pool_map(lambda s: run(command, s, None, timeout), sources, workers))
    runner = RUNNERS[command.batch]
    groups = batches(sources, max(workers, -(-len(sources) // BATCH_FILES)))
    found: dict[str, CommandResult] = {}
    for part in pool_map(lambda group: runner(group, timeout), groups, workers):
        found.update(part)
    missing = CommandResult(False, f"{command.tool.name} did not report this file")
    return [found.get(str(s), missing) for s in sources]
