"""Validation with the tools the format policy registry names per format; PREMIS
``validation`` per file, ``logs/validation.log``. For Validation and for derivatives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from preservation.core import premis
from preservation.core.fsutil import merge_log
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.core.problems import Problems, log_only
from preservation.core.state import FileRecord
from preservation.tools import format_tools, fpr

LOG = "validation.log"
#: How the task log heads the files that failed (each is kept; its PREMIS event says why).
FAILED = "file(s) failed validation (kept in the AIP)"


PASS, FAIL = "pass", "fail"


@dataclass(frozen=True)
class ValidateResult:
    files: int
    passed: int
    failed: int
    not_validated: int
    problems: Problems = log_only(FAILED)


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
        results = format_tools.run_each(command, [root / r.path for r in members], package.settings)
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
    problems = Problems.of(FAILED, failures, package.logs_dir() / LOG, root)
    return ValidateResult(len(records), passed, len(failures), missing, problems), failures
