"""Normalize: preservation copies into the AIP, access copies into the DIP, thumbnails.

As the processing configuration says (preservation and access, preservation only, access
only, none; thumbnails on or off) and the format policy registry rules per format:

* a preservation copy ``<name>-<uuid>.<ext>`` beside its original in ``objects/``, with a
  ``normalization`` event on the original and a ``creation`` event on the copy, linked
  both ways by PREMIS derivation relationships; the copy is itself checksummed
  (``message digest calculation``), identified, validated and characterized;
* an access copy ``<original uuid>-<name>.<ext>`` in the DIP's ``objects/``;
* a thumbnail ``thumbnails/<original uuid>.jpg`` in the AIP (copied to the DIP).

Files in ``objects/manualNormalization/preservation/`` and ``…/access/`` named like an
original (same path without extension) are used instead of running a tool. A tool that
fails, hangs or is missing fails that file's event with the reason; the original is kept
and the other files go on. Every decision is one row of ``logs/normalizationReport.csv``.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from preservation import (
    characterize_files,
    chunks,
    format_tools,
    fpr,
    identify_file_formats,
    premis,
    validate_files,
)
from preservation.assign_file_uuids import DIGEST_DETAIL
from preservation.errors import StepNotApplicable
from preservation.fsutil import merge_log
from preservation.package import Package
from preservation.premis import Event, stable_uuid
from preservation.state import FileRecord
from preservation.tools import digests

NAME = "Normalize"
REPORT = "normalizationReport.csv"
REPORT_HEADER = "file_uuid,path,puid,purpose,outcome,command,derivative,message"
MANUAL = "objects/manualNormalization/"
MANUAL_DETAIL = 'program="manual normalization"; source="objects/manualNormalization"'


@dataclass(frozen=True)
class NormalizeResult:
    files: int
    preservation_copies: int
    access_copies: int
    thumbnails: int
    failed: int


@dataclass(frozen=True)
class Outcome:
    """One row of the normalization report."""

    record: FileRecord
    purpose: str
    # normalized | manual | failed | already preservation format | no rule | tool missing
    outcome: str
    command: str = ""
    derivative: str = ""
    message: str = ""
    event: Event | None = None


def run(package: Package, chunk: int | None = None) -> NormalizeResult:
    """Normalize the originals (of one chunk); ``normalization`` and ``creation`` events."""
    config = package.config
    if config.normalize == "none" and not config.thumbnails:
        raise StepNotApplicable(
            f"processing configuration {config.name!r} turns normalization and thumbnails off"
        )
    originals = chunks.originals(package, chunk)
    return normalize(package, [r for r in originals if not r.path.startswith(MANUAL)])


def normalize(package: Package, records: Sequence[FileRecord]) -> NormalizeResult:
    """Normalize ``records`` as the configuration and the registry say."""
    registry = fpr.load()
    config = package.config
    purposes = [
        p
        for p, wanted in (
            ("preservation", config.normalize_for_preservation),
            ("access", config.normalize_for_access),
            ("thumbnail", config.thumbnails),
        )
        if wanted
    ]
    manual = _manual_files(package)
    # What an earlier attempt already made and recorded is not made again.
    done = {(row["source"], row["purpose"]) for row in package.state.derivatives()}
    outcomes: list[Outcome] = []
    jobs = []
    for record in records:
        rules = registry.rules_for(record.puid, record.path)
        for purpose in purposes:
            if (record.uuid, purpose) in done:
                continue
            provided = manual.get((purpose, _stem_key(record.path)))
            if provided is not None:
                outcomes.append(_use_manual(package, record, provided, purpose))
                continue
            command = getattr(rules, purpose) if rules else None
            if command is None:
                outcomes.append(Outcome(record, purpose, *_no_command(rules, purpose, record)))
            elif not format_tools.available(command.tool):
                outcomes.append(
                    Outcome(
                        record,
                        purpose,
                        "tool missing",
                        command.key,
                        message=format_tools.missing_message(command.tool),
                    )
                )
            else:
                jobs.append((record, purpose, command))
    outcomes += format_tools.pool_map(
        lambda job: _derive(package, *job), jobs, package.settings.workers
    )
    _record(package, outcomes)
    _remove_empty_manual_folders(package)
    made = {
        p: sum(1 for o in outcomes if o.purpose == p and o.outcome in ("normalized", "manual"))
        for p in ("preservation", "access", "thumbnail")
    }
    return NormalizeResult(
        len(records),
        made["preservation"],
        made["access"],
        made["thumbnail"],
        sum(1 for o in outcomes if o.outcome == "failed"),
    )


def _no_command(rules: fpr.FormatRules | None, purpose: str, record: FileRecord) -> tuple:
    if rules is None:
        return (
            "no rule",
            "",
            "",
            f"format {record.puid or 'not identified'} is not in the format policy registry",
        )
    if purpose == "preservation" and rules.preservation_format:
        return ("already preservation format", "", "", f"{rules.name} is kept as it is")
    return ("no rule", "", "", f"the registry has no {purpose} rule for {rules.name}")


def _stem_key(path: str) -> str:
    """The path without extension under objects/ (how manual normalization matches)."""
    pure = PurePosixPath(path)
    return str(pure.with_name(pure.stem if pure.suffix else pure.name))


def _manual_files(package: Package) -> dict[tuple[str, str], FileRecord]:
    """Manually normalized files, by (purpose, the original's path without extension)."""
    found = {}
    for record in package.state.files("file_group = 'original' AND path LIKE ?", (f"{MANUAL}%",)):
        purpose, _, rest = record.path.removeprefix(MANUAL).partition("/")
        if purpose in ("preservation", "access") and rest:
            found[(purpose, _stem_key(f"objects/{rest}"))] = record
    return found


def _target(package: Package, record: FileRecord, purpose: str, extension: str) -> tuple[Path, str]:
    """Where a derivative goes (absolute path, and path in the state or the DIP)."""
    original = PurePosixPath(record.path)
    extension = extension.replace("{ext}", original.suffix.lstrip(".")) or "bin"
    if purpose == "preservation":
        uuid = stable_uuid("derivative", record.uuid, purpose)
        rel = str(original.with_name(f"{original.stem}-{uuid}.{extension}"))
        return package.sip_data / rel, rel
    if purpose == "access":
        rel = f"objects/{record.uuid}-{original.stem}.{extension}"
        return package.dip_dir / rel, rel
    rel = f"thumbnails/{record.uuid}.jpg"
    return package.sip_data / rel, rel


def _derive(package: Package, record: FileRecord, purpose: str, command: fpr.Command) -> Outcome:
    target, rel = _target(package, record, purpose, command.extension)
    if target.is_file() and target.stat().st_size > 0:
        # Made by an earlier attempt (outputs land only when complete): not made twice.
        ok, message = True, "made by an earlier attempt"
    else:
        result = format_tools.run(
            command, package.sip_data / record.path, target, package.settings.tool_timeout
        )
        ok, message = result.ok, result.message
    made = rel if ok else ""
    return Outcome(
        record,
        purpose,
        "normalized" if ok else "failed",
        command.key,
        made,
        message,
        _event(record, purpose, command, "" if ok else message, made),
    )


def _event(
    record: FileRecord, purpose: str, command: fpr.Command, failure: str, rel: str
) -> Event | None:
    if purpose != "preservation":
        return None  # access copies and thumbnails live outside the AIP's objects
    return Event(
        record.uuid,
        premis.NORMALIZATION,
        key=purpose,
        detail=format_tools.event_detail(command),
        outcome="failure" if failure else "success",
        outcome_note=failure or f"%SIPDirectory%{rel}",
    )


def _use_manual(
    package: Package, record: FileRecord, provided: FileRecord, purpose: str
) -> Outcome:
    """Put a manually normalized file in its place: beside the original (preservation) or
    in the DIP (access)."""
    source = package.sip_data / provided.path
    extension = PurePosixPath(provided.path).suffix.lstrip(".")
    target, rel = _target(package, record, purpose, extension)
    target.parent.mkdir(parents=True, exist_ok=True)
    if purpose == "preservation":
        os.replace(source, target)
        # The provided file keeps its identity (UUID, checksum, virus check) and becomes
        # the original's preservation copy.
        package.state.update_files("path = ?, file_group = 'preservation'", [(rel, provided.uuid)])
        event = Event(
            record.uuid,
            premis.NORMALIZATION,
            key=purpose,
            detail=MANUAL_DETAIL,
            outcome="success",
            outcome_note=f"%SIPDirectory%{rel}",
        )
        return Outcome(record, purpose, "manual", "", rel, provided.path, event)
    shutil.copyfile(source, target)
    source.unlink()
    package.state.update_files("removed = 1", [(provided.uuid,)])
    return Outcome(record, purpose, "manual", "", rel, provided.path)


def _record(package: Package, outcomes: list[Outcome]) -> None:
    """Register preservation copies, record events and links, write the report."""
    events, links, fresh = [], [], []
    manual_copies = []
    for o in outcomes:
        if o.event is not None:
            events.append(o.event)
        if o.outcome not in ("normalized", "manual") or not o.derivative:
            continue
        if o.purpose == "preservation":
            uuid = stable_uuid("derivative", o.record.uuid, o.purpose)
            if o.outcome == "manual":
                uuid = package.state.files("path = ?", (o.derivative,))[0].uuid
                manual_copies.append(uuid)
            else:
                fresh.append(
                    FileRecord(uuid, o.derivative, o.derivative, "preservation", parent_uuid=None)
                )
            links.append((o.record.uuid, uuid, o.purpose, o.event.identifier, o.derivative))
            events.append(
                Event(
                    uuid,
                    premis.CREATION,
                    key=o.purpose,
                    detail=o.event.detail,
                    outcome="success",
                    outcome_note=f"derived from {o.record.uuid}",
                )
            )
        else:
            links.append(
                (
                    o.record.uuid,
                    stable_uuid("derivative", o.record.uuid, o.purpose),
                    o.purpose,
                    "",
                    o.derivative,
                )
            )
    package.state.add_files(fresh)
    package.state.record_events(events)
    package.state.record_derivatives(links)
    describe_derivatives(
        package, package.state.files_by_uuid([r.uuid for r in fresh] + manual_copies)
    )
    merge_log(package.logs_dir() / REPORT, [REPORT_HEADER, *(_row(o) for o in outcomes)])


def describe_derivatives(package: Package, records: Sequence[FileRecord]) -> None:
    """Checksum, identify, validate and characterize derivatives as originals are."""
    todo = [r for r in records if r.sha256 is None]
    root = package.sip_data
    sums = digests([root / r.path for r in todo], package.settings.workers)
    package.state.update_files(
        "sha256 = ?, size = ?",
        ((s, (root / r.path).stat().st_size, r.uuid) for r, s in zip(todo, sums)),
    )
    package.state.record_events(
        Event(r.uuid, premis.MESSAGE_DIGEST_CALCULATION, detail=DIGEST_DETAIL, outcome_note=s)
        for r, s in zip(todo, sums)
    )
    uuids = [r.uuid for r in records]
    identify_file_formats.identify(
        package, [r for r in package.state.files_by_uuid(uuids) if not r.identified]
    )
    fresh = package.state.files_by_uuid(uuids)
    if package.config.validate:
        validate_files.validate(package, fresh)
    if package.config.characterize:
        characterize_files.characterize(package, fresh)


def _row(o: Outcome) -> str:
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(
        [
            o.record.uuid,
            o.record.path,
            o.record.puid or "",
            o.purpose,
            o.outcome,
            o.command,
            o.derivative,
            " ".join(o.message.split()),
        ]
    )
    return line.getvalue()


def _remove_empty_manual_folders(package: Package) -> None:
    folder = package.sip_data / MANUAL
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()
