"""Characterization with the tools the format policy registry names per format (ExifTool
and MediaInfo in batches, FFprobe per video file); each tool's XML kept per file for the
METS. For Characterize and extract metadata and for derivatives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from preservation.core.fsutil import merge_log
from preservation.core.package import Package
from preservation.core.problems import Problems, log_only
from preservation.core.state import FileRecord
from preservation.tools import format_tools, fpr
from preservation.tools.batch_tools import parse

LOG = "characterization.log"
#: How the task log heads the tool runs that gave no characterization.
FAILED = "characterization run(s) failed or could not run"


@dataclass(frozen=True)
class CharacterizeResult:
    files: int
    outputs: int
    failures: int
    problems: Problems = log_only(FAILED)


def characterize(package: Package, records: Sequence[FileRecord]) -> CharacterizeResult:
    """Run each record's characterization commands; stores their XML for the METS."""
    registry = fpr.load()
    root = package.current_dir()
    by_command: dict[fpr.Command, list[FileRecord]] = defaultdict(list)
    for record in records:
        rules = registry.rules_for(record.puid, record.path)
        for command in rules.characterize if rules else ():
            by_command[command].append(record)
    outputs: list[tuple[str, str, str]] = []
    log: list[str] = []
    for command, members in by_command.items():
        name = command.tool.name
        if not format_tools.available(command.tool):
            reason = format_tools.missing_message(command.tool)
            log += [f"{r.path} ({r.uuid}): {name} not run: {reason}" for r in members]
            continue
        results = format_tools.run_each(command, [root / r.path for r in members], package.settings)
        for record, result in zip(members, results):
            xml = parse(result.stdout) if result.ok else None
            if xml is not None:
                outputs.append((record.uuid, name, _text(xml, root)))
                log.append(f"{record.path} ({record.uuid}): {name} ok")
            else:
                reason = result.message if not result.ok else "output is not XML"
                log.append(f"{record.path} ({record.uuid}): {name} failed: {reason}")
    package.state.record_characteristics(outputs)
    merge_log(package.logs_dir() / LOG, log)
    failed = [line for line in log if " failed: " in line or " not run: " in line]
    problems = Problems.of(FAILED, failed, package.logs_dir() / LOG, root)
    return CharacterizeResult(len(records), len(outputs), len(failed), problems)


def _text(element: etree._Element, root: Path) -> str:
    # Tools name the file by the path they were given: keep it relative to the package,
    # so the record does not carry the processing directory's location.
    return etree.tostring(element, encoding="unicode").replace(f"{root}/", "")
