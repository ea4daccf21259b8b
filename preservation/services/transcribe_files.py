"""Transcribe SIP contents: OCR text of images with Tesseract, when the configuration asks.

Off by default (``transcribe = false``). For each original whose format has a
``transcribe`` rule, the text goes to ``objects/metadata/OCRfiles/<name>-<uuid>.txt``
(METS fileGrp ``text/ocr``), with a ``transcription`` event on the original and the
derivation linked both ways. A failing OCR fails that file's event; the rest go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from preservation.core import chunks, premis
from preservation.core.errors import StepNotApplicable
from preservation.core.fsutil import merge_log
from preservation.core.names import shorten
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.core.state import FileRecord
from preservation.shared import derivatives
from preservation.shared.derivatives import Derivative, derivative_uuid
from preservation.tools import format_tools, fpr
from preservation.tools.pixel_limit import bomb
from preservation.tools.process import pool_map

NAME = "Transcribe SIP contents"
LOG = "transcription.log"
FILE_GROUP = "text/ocr"
PURPOSE = "transcription"


@dataclass(frozen=True)
class TranscribeResult:
    files: int
    transcribed: int
    failed: int


def run(package: Package, chunk: int | None = None) -> TranscribeResult:
    """OCR the originals (of one chunk) that the registry can transcribe; ``transcription``."""
    if not package.config.transcribe:
        raise StepNotApplicable(
            f"processing configuration {package.config.name!r} turns transcription (OCR) off"
        )
    registry = fpr.load()
    done = {row["source"] for row in package.state.derivatives(purpose=PURPOSE)}
    todo = []
    for record in chunks.originals(package, chunk):
        rules = registry.rules_for(record.puid, record.path)
        if record.path.startswith(derivatives.MANUAL) or record.uuid in done or not rules:
            continue
        if rules.transcribe is not None:
            todo.append((record, rules.transcribe))
    results = list(
        pool_map(lambda item: _transcribe(package, *item), todo, package.settings.workers)
    )
    events, made, log = [], [], []
    for (record, command), (rel, result) in zip(todo, results):
        event = Event(
            record.uuid,
            premis.TRANSCRIPTION,
            detail=format_tools.event_detail(command),
            outcome="success" if result.ok else "failure",
            outcome_note=f"%SIPDirectory%{rel}" if result.ok else result.message,
        )
        events.append(event)
        log.append(
            f"{record.path} ({record.uuid}): "
            f"{'transcribed to ' + rel if result.ok else 'failed: ' + result.message}"
        )
        if result.ok:
            uuid = derivative_uuid(package, record.uuid, PURPOSE)
            made.append(Derivative(record.uuid, uuid, PURPOSE, rel, event, FILE_GROUP))
    package.state.record_events(events)
    derivatives.record(package, made)
    merge_log(package.logs_dir() / LOG, log)
    failed = sum(1 for _, result in results if not result.ok)
    return TranscribeResult(len(todo), len(todo) - failed, failed)


def _transcribe(package: Package, record: FileRecord, command: fpr.Command):
    stem = PurePosixPath(record.path).stem
    rel = f"objects/metadata/OCRfiles/{shorten(f'{stem}-{record.uuid}.txt')}"
    reason = bomb(package.sip_data / record.path)
    if reason:  # Tesseract would decode it in full
        return rel, format_tools.CommandResult(False, reason)
    result = format_tools.run(
        command,
        package.sip_data / record.path,
        package.sip_data / rel,
        package.settings.tool_timeout,
    )
    return rel, result
