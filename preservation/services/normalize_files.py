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
import dataclasses
import io
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from preservation.core import chunks, premis
from preservation.core.disk_space import filled_up, require_space
from preservation.core.errors import StepNotApplicable
from preservation.core.fsutil import merge_log
from preservation.core.names import shorten
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.core.problems import Problems, log_only
from preservation.core.state import FileRecord
from preservation.metadata.package_summary import NORMALIZATION_REPORT
from preservation.shared import derivatives
from preservation.shared.derivatives import MANUAL, Derivative, derivative_uuid
from preservation.tools import format_tools, fpr
from preservation.tools.pixel_limit import bomb
from preservation.tools.process import pool_map

NAME = "Normalize"
NO_SPACE = "No space left on device"
REPORT = NORMALIZATION_REPORT
#: How the task log heads the copies that failed (the original is kept).
FAILED = "derivative(s) could not be made (the original is kept)"
#: How it heads the preservation copies that were made but failed validation.
COPIES_INVALID = "preservation copy(ies) failed validation (kept in the AIP)"
REPORT_HEADER = "file_uuid,path,puid,purpose,outcome,command,derivative,message"
MANUAL_DETAIL = 'program="manual normalization"; source="objects/manualNormalization"'
#: One copy to make: of which original, for which purpose, by which registry command.
Job = tuple[FileRecord, str, fpr.Command]


@dataclass(frozen=True)
class NormalizeResult:
    files: int
    preservation_copies: int
    access_copies: int
    thumbnails: int
    failed: int
    problems: Problems = log_only(FAILED)
    copies_invalid: Problems = log_only(COPIES_INVALID)


@dataclass(frozen=True)
class Outcome:
    """One row of the normalization report."""

    record: FileRecord
    purpose: str
    # normalized | manual | failed | already preservation format | no rule | tool missing
    outcome: str
    command: str = ""
    message: str = ""
    event: Event | None = None  # normalization, on the original (preservation only)
    made: Derivative | None = None


def run(package: Package, chunk: int | None = None) -> NormalizeResult:
    """Normalize the originals (of one chunk); ``normalization`` and ``creation`` events.
    What a person chose at Choose normalization replaces the configuration's ``normalize``."""
    chosen = package.state.facts().normalization
    if chosen:
        package.config = dataclasses.replace(package.config, normalize=chosen)
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
    jobs: list[Job] = []
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
                outcome, message = _no_command(rules, purpose, record)
                outcomes.append(Outcome(record, purpose, outcome, message=message))
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
    folder = package.settings.processing_directory
    if jobs:
        needed, estimate = _space_needed(package, jobs)
        require_space(folder, needed, NAME, estimate, package.settings.disk_reserve)
    made_now = _derive_all(package, jobs)
    # A tool that met a full disk failed its file, not the file's format: nothing of this
    # attempt is recorded, and the retry makes them all once there is room.
    full = [o for o in made_now if o.outcome == "failed" and NO_SPACE in o.message]
    if full:
        first = full[0]
        what = f": {len(full)} copies could not be written (first: the {first.purpose} copy"
        raise filled_up(folder, NAME, f"{what} of {first.record.path})")
    outcomes += made_now
    # The normalization events on the originals (failed ones too), then what was made.
    package.state.record_events(o.event for o in outcomes if o.event)
    invalid = derivatives.record(package, [o.made for o in outcomes if o.made])
    merge_log(package.logs_dir() / REPORT, [REPORT_HEADER, *(_row(o) for o in outcomes)])
    _remove_empty_manual_folders(package)
    failed = [
        f"{o.record.path} ({o.purpose}, {o.command}): {o.message}"
        for o in outcomes
        if o.outcome == "failed"
    ]
    made = {
        p: sum(1 for o in outcomes if o.purpose == p and o.made)
        for p in ("preservation", "access", "thumbnail")
    }
    return NormalizeResult(
        len(records),
        made["preservation"],
        made["access"],
        made["thumbnail"],
        len(failed),
        Problems.of(FAILED, failed, package.logs_dir() / REPORT, package.current_dir()),
        dataclasses.replace(invalid, what=COPIES_INVALID),
    )


def _space_needed(package: Package, jobs) -> tuple[int, str]:
    """What the copies to make will take, estimated: a raster image's preservation copy
    as its pixels uncompressed (a TIFF), its access copy a quarter of that; anything
    else twice its size for preservation, once for access; a thumbnail 64 KiB."""
    from PIL import Image, UnidentifiedImageError

    total = 0
    for record, purpose, _ in jobs:
        path = package.sip_data / record.path
        size = record.size if record.size is not None else path.stat().st_size
        if purpose == "thumbnail":
            total += 64 * 1024
            continue
        try:
            with Image.open(path) as image:
                pixels = image.size[0] * image.size[1] * len(image.getbands())
            total += pixels if purpose == "preservation" else pixels // 4
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            total += size * (2 if purpose == "preservation" else 1)
    files = len({record.uuid for record, _, _ in jobs})
    of = f"{files} file" if files == 1 else f"{files} files"
    return total, f"{len(jobs)} copies of {of}, estimated from their sizes and pixels"


def _no_command(rules: fpr.FormatRules | None, purpose: str, record: FileRecord) -> tuple[str, str]:
    """(outcome, message) when the registry gives no command for this purpose."""
    if rules is None:
        return (
            "no rule",
            f"format {record.puid or 'not identified'} is not in the format policy registry",
        )
    if purpose == "preservation" and rules.preservation_format:
        return "already preservation format", f"{rules.name} is kept as it is"
    return "no rule", f"the registry has no {purpose} rule for {rules.name}"


def _stem_key(path: str) -> str:
    """The path without extension under objects/ (how manual normalization matches)."""
    pure = PurePosixPath(path)
    return str(pure.with_name(pure.stem if pure.suffix else pure.name))


def _manual_files(package: Package) -> dict[tuple[str, str], FileRecord]:
    """Manually normalized files, by (purpose, the original's path without extension)."""
    found = {}
    for record in package.state.files(group="original", under=MANUAL):
        purpose, _, rest = record.path.removeprefix(MANUAL).partition("/")
        if purpose in ("preservation", "access") and rest:
            found[(purpose, _stem_key(f"objects/{rest}"))] = record
    return found


def _target(package: Package, record: FileRecord, purpose: str, extension: str) -> tuple[Path, str]:
    """Where a derivative goes (absolute path, and path in the state or the DIP)."""
    original = PurePosixPath(record.path)
    extension = extension.replace("{ext}", original.suffix.lstrip(".")) or "bin"
    if purpose == "preservation":
        uuid = derivative_uuid(package, record.uuid, purpose)
        rel = str(original.with_name(shorten(f"{original.stem}-{uuid}.{extension}")))
        return package.sip_data / rel, rel
    if purpose == "access":
        rel = f"objects/{shorten(f'{record.uuid}-{original.stem}.{extension}')}"
        return package.dip_dir / rel, rel
    rel = f"thumbnails/{record.uuid}.jpg"
    return package.sip_data / rel, rel


def _derive_all(package: Package, jobs: Sequence[Job]) -> list[Outcome]:
    """Make the copies ``jobs`` ask for, outcomes in their order: one tool call per copy,
    or, for a command that takes several inputs per call (LibreOffice), one call per group
    of them; calls run in the pool. A copy an earlier attempt made is not made again, and
    no tool is given an image that would decode to more pixels than allowed."""
    decided: dict[int, tuple[bool, str]] = {}
    groups: dict[str, list[int]] = {}
    for number, (record, purpose, command) in enumerate(jobs):
        target, _ = _target(package, record, purpose, command.extension)
        reason = bomb(package.sip_data / record.path)
        if target.is_file() and target.stat().st_size > 0:
            # Made by an earlier attempt (outputs land only when complete): not made twice.
            decided[number] = (True, "made by an earlier attempt")
        elif reason:
            decided[number] = (False, reason)  # no tool may decode it
        else:
            groups.setdefault(command.key, []).append(number)
    workers = package.settings.workers
    calls = [
        part
        for numbers in groups.values()
        for part in format_tools.batches(
            numbers, max(workers, -(-len(numbers) // jobs[numbers[0]][2].inputs_per_call))
        )
    ]

    def call(numbers: Sequence[int]) -> list[tuple[int, tuple[bool, str]]]:
        command = jobs[numbers[0]][2]
        pairs = []
        for number in numbers:
            record, purpose, _ = jobs[number]
            pairs.append(
                (
                    package.sip_data / record.path,
                    _target(package, record, purpose, command.extension)[0],
                )
            )
        timeout = package.settings.tool_timeout
        results = format_tools.run_many(command, pairs, timeout)
        return [(n, (r.ok, r.message)) for n, r in zip(numbers, results, strict=True)]

    for done in pool_map(call, calls, workers):
        decided.update(done)
    return [_outcome(package, *job, *decided[number]) for number, job in enumerate(jobs)]


def _outcome(
    package: Package,
    record: FileRecord,
    purpose: str,
    command: fpr.Command,
    ok: bool,
    message: str,
) -> Outcome:
    _, rel = _target(package, record, purpose, command.extension)
    event = _event(record, purpose, command, "" if ok else message, rel)
    made = None
    if ok:
        in_aip = purpose == "preservation"
        made = Derivative(
            record.uuid,
            derivative_uuid(package, record.uuid, purpose),
            purpose,
            rel,
            event,
            "preservation" if in_aip else "",
        )
    return Outcome(
        record, purpose, "normalized" if ok else "failed", command.key, message, event, made
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
        package.state.make_preservation_copy(provided.uuid, rel)
        event = Event(
            record.uuid,
            premis.NORMALIZATION,
            key=purpose,
            detail=MANUAL_DETAIL,
            outcome="success",
            outcome_note=f"%SIPDirectory%{rel}",
        )
        made = Derivative(record.uuid, provided.uuid, purpose, rel, event)
        return Outcome(record, purpose, "manual", "", provided.path, event, made)
    shutil.copyfile(source, target)
    source.unlink()
    package.state.mark_removed([provided.uuid])
    made = Derivative(record.uuid, derivative_uuid(package, record.uuid, purpose), purpose, rel)
    return Outcome(record, purpose, "manual", "", provided.path, made=made)


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
            o.made.path if o.made else "",
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
