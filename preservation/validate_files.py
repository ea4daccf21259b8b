"""Validation: check each file against its format with the validator the FPR names.

Records a ``validation`` event per validated file: outcome ``pass`` or ``fail``, the
tool and its version in the detail, the tool's message in the note. Validators run in a
bounded pool; in-process ones (Pillow, pikepdf, lxml) need no subprocess. A failure is
reported, not fatal, unless the processing configuration sets ``fail_on_invalid``; then
every failure is listed at once and the transfer is rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from preservation import chunks, format_tools, fpr, premis
from preservation.errors import StepNotApplicable, ValidationFailed
from preservation.fsutil import merge_log
from preservation.package import Package
from preservation.premis import Event
from preservation.state import FileRecord

NAME = "Validation"
LOG = "validation.log"
PASS, FAIL = "pass", "fail"


@dataclass(frozen=True)
class ValidateResult:
    files: int
    passed: int
    failed: int
    not_validated: int


def run(package: Package, chunk: int | None = None) -> ValidateResult:
    """Validate the original files (of one chunk); ``validation`` events."""
    if not package.config.validate:
        raise StepNotApplicable(
            f"processing configuration {package.config.name!r} turns validation off"
        )
    result, failures = validate(package, chunks.originals(package, chunk))
    if failures and package.config.fail_on_invalid:
        raise ValidationFailed(
            f"{len(failures)} file(s) failed validation and processing configuration "
            f"{package.config.name!r} does not accept invalid files",
            failures,
        )
    return result


def validate(package: Package, records: Sequence[FileRecord]) -> tuple[ValidateResult, list[str]]:
    """Validate ``records``; records ``validation`` events. Returns the failures too."""
    registry = fpr.load()
    root = package.current_dir()
    todo = []
    log, missing = [], 0
    for record in records:
        rules = registry.rules_for(record.puid, record.path)
        command = rules.validate if rules else None
        if command is None:
            continue
        if not format_tools.available(command.tool):
            missing += 1
            log.append(
                f"{record.path} ({record.uuid}): not validated: "
                f"{format_tools.missing_message(command.tool)}"
            )
            continue
        todo.append((record, command))
    timeout = package.settings.tool_timeout
    results = _results(todo, root, timeout, package.settings.workers)
    events, failures = [], []
    for record, command in todo:
        result = results[record.uuid]
        outcome = PASS if result.ok else FAIL
        note = result.message or ("valid" if result.ok else "invalid")
        events.append(
            Event(
                record.uuid,
                premis.VALIDATION,
                detail=format_tools.event_detail(command),
                outcome=outcome,
                outcome_note=note,
            )
        )
        log.append(f"{record.path} ({record.uuid}): {outcome} ({command.tool.name}): {note}")
        if not result.ok:
            failures.append(f"{record.path}: {note}")
    package.state.record_events(events)
    merge_log(package.logs_dir() / LOG, log)
    passed = len(events) - len(failures)
    return ValidateResult(len(records), passed, len(failures), missing), failures


def _results(todo, root, timeout: int, workers: int) -> dict[str, format_tools.CommandResult]:
    """Each file's result: one call per file, or one per batch for batch validators."""
    single = [(r, c) for r, c in todo if not c.batch]
    results = dict(
        zip(
            (r.uuid for r, _ in single),
            format_tools.pool_map(
                lambda item: format_tools.run(item[1], root / item[0].path, None, timeout),
                single,
                workers,
            ),
        )
    )
    batched: dict[str, list[FileRecord]] = {}
    for record, command in todo:
        if command.batch:
            batched.setdefault(command.batch, []).append(record)
    for name, members in batched.items():
        runner = BATCH_VALIDATORS[name]
        groups = format_tools.batches(members, workers)
        for group, found in zip(
            groups,
            format_tools.pool_map(
                lambda group, runner=runner: runner([root / r.path for r in group], timeout),
                groups,
                workers,
            ),
        ):
            for record in group:
                results[record.uuid] = found.get(
                    str(root / record.path),
                    format_tools.CommandResult(False, "the validator did not report this file"),
                )
    return results


def _mediaconch(paths: list, timeout: int) -> dict[str, format_tools.CommandResult]:
    """MediaConch's implementation checks for a batch of files in one process: its start
    (loading its schema, opening its database) costs more than checking a small file.
    A private HOME per batch: concurrent MediaConch processes sharing its SQLite
    database block each other."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mediaconch-") as home:
        result = format_tools.run_argv(
            ["mediaconch", "-mc", "-fs", *(str(p) for p in paths)],
            timeout,
            ok_codes=(0, 1),
            env={**os.environ, "HOME": home},
        )
    if not result.ok:
        return {str(p): result for p in paths}
    found: dict[str, list] = {}
    current = None
    for line in result.stdout.splitlines():
        verdict, _, path = line.partition("! ")
        if verdict in ("pass", "fail") and path:
            current = found.setdefault(path, [verdict == "pass", []])
        elif current is not None and line.strip():
            current[1].append(line.strip(" -"))
    return {
        path: format_tools.CommandResult(
            ok,
            "; ".join(detail).replace(str(Path(path).parent) + "/", "")
            or ("pass" if ok else "fail"),
        )
        for path, (ok, detail) in found.items()
    }


BATCH_VALIDATORS = {"mediaconch": _mediaconch}
