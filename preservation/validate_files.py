"""Validation: check each file against its format with the validator the FPR names.

Records a ``validation`` event per validated file: outcome ``pass`` or ``fail``, the
tool and its version in the detail, the tool's message in the note. Validators run in a
bounded pool; in-process ones (Pillow, pikepdf, lxml) need no subprocess. A failure is
reported, not fatal, unless the processing configuration sets ``fail_on_invalid``; then
every failure is listed at once and the transfer is rejected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

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
    by_command: dict[fpr.Command, list[FileRecord]] = defaultdict(list)
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
        by_command[command].append(record)
    events, failures = [], []
    for command, members in by_command.items():
        results = format_tools.run_each(
            command,
            [root / r.path for r in members],
            package.settings.tool_timeout,
            package.settings.workers,
        )
        for record, result in zip(members, results):
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
