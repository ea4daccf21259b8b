"""Characterize and extract metadata: run the registry's characterization tools per format.

ExifTool and MediaInfo take a batch of files per process (a few processes per chunk, in
parallel); FFprobe, which has no batch mode, runs per audio/video file in a bounded pool.
Each tool's XML is kept per file and goes into the file's PREMIS
``objectCharacteristicsExtension`` in the METS, as Archivematica does. No PREMIS event:
Archivematica records none for characterization; the tool names its version in its XML.
A tool failing on a file is logged in ``logs/characterization.log`` and the rest go on.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from preservation import chunks, format_tools, fpr
from preservation.errors import StepNotApplicable
from preservation.fsutil import merge_log
from preservation.mets import SAFE_PARSER
from preservation.package import Package
from preservation.state import FileRecord

NAME = "Characterize and extract metadata"
LOG = "characterization.log"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MEDIAINFO_NS = "https://mediaarea.net/mediainfo"
#: ExifTool tags that describe our working copy, not the file (and change on every run).
EXIFTOOL_EXCLUDED = (
    "--System:Directory",
    "--System:FileAccessDate",
    "--System:FileInodeChangeDate",
    "--System:FilePermissions",
)
BATCH_FILES = 200


@dataclass(frozen=True)
class CharacterizeResult:
    files: int
    outputs: int
    failures: int


def run(package: Package, chunk: int | None = None) -> CharacterizeResult:
    """Characterize the original files (of one chunk) with the tools the FPR names."""
    if not package.config.characterize:
        raise StepNotApplicable(
            f"processing configuration {package.config.name!r} turns characterization off"
        )
    return characterize(package, chunks.originals(package, chunk))


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
    timeout = package.settings.tool_timeout
    for command, members in by_command.items():
        if not format_tools.available(command.tool):
            reason = format_tools.missing_message(command.tool)
            log += [f"{r.path} ({r.uuid}): {command.tool.name} not run: {reason}" for r in members]
            continue
        if command.batch:
            runner = BATCH_RUNNERS[command.batch]
            groups = format_tools.batches(
                members, max(package.settings.workers, -(-len(members) // BATCH_FILES))
            )
            found: dict[str, etree._Element] = {}
            failures: dict[str, str] = {}
            for part_found, part_failures in format_tools.pool_map(
                lambda group, runner=runner: runner([root / r.path for r in group], timeout),
                groups,
                package.settings.workers,
            ):
                found.update(part_found)
                failures.update(part_failures)
            for record in members:
                path = str(root / record.path)
                if path in found:
                    outputs.append((record.uuid, command.tool.name, _text(found[path], root)))
                    log.append(f"{record.path} ({record.uuid}): {command.tool.name} ok")
                else:
                    reason = failures.get(path, "no output for this file")
                    log.append(
                        f"{record.path} ({record.uuid}): {command.tool.name} failed: {reason}"
                    )
        else:
            results = format_tools.pool_map(
                lambda r, command=command: format_tools.run(command, root / r.path, None, timeout),
                members,
                package.settings.workers,
            )
            for record, result in zip(members, results):
                xml = _parse(result.stdout) if result.ok else None
                if xml is not None:
                    outputs.append((record.uuid, command.tool.name, _text(xml, root)))
                    log.append(f"{record.path} ({record.uuid}): {command.tool.name} ok")
                else:
                    reason = result.message if not result.ok else "output is not XML"
                    log.append(
                        f"{record.path} ({record.uuid}): {command.tool.name} failed: {reason}"
                    )
    package.state.record_characteristics(outputs)
    merge_log(package.logs_dir() / LOG, log)
    failed = sum(1 for line in log if " failed: " in line or " not run: " in line)
    return CharacterizeResult(len(records), len(outputs), failed)


def _parse(text: str) -> etree._Element | None:
    try:
        return etree.fromstring(text.encode("utf-8"), SAFE_PARSER)
    except etree.XMLSyntaxError:
        return None


def _text(element: etree._Element, root: Path) -> str:
    # Tools name the file by the path they were given: keep it relative to the package,
    # so the record does not carry the processing directory's location.
    return etree.tostring(element, encoding="unicode").replace(f"{root}/", "")


def _exiftool(paths: list[Path], timeout: int) -> tuple[dict, dict]:
    """ExifTool's RDF/XML for a batch of files, one ``rdf:RDF`` per file."""
    with tempfile.NamedTemporaryFile("w", suffix=".args", encoding="utf-8") as args:
        args.write("\n".join(str(p) for p in paths) + "\n")
        args.flush()
        result = format_tools.run_argv(
            [
                "exiftool",
                "-X",
                "-q",
                "-q",
                "-charset",
                "filename=utf8",
                *EXIFTOOL_EXCLUDED,
                "-@",
                args.name,
            ],
            timeout,
            ok_codes=(0, 1),  # 1: some file could not be read; the others are reported
        )
    if not result.ok:
        return {}, {str(p): result.message for p in paths}
    document = _parse(result.stdout)
    found = {}
    for description in document if document is not None else ():
        about = description.get(f"{{{RDF_NS}}}about")
        holder = etree.Element(f"{{{RDF_NS}}}RDF", nsmap={"rdf": RDF_NS})
        holder.append(description)
        found[about] = holder
    return found, {}


def _mediainfo(paths: list[Path], timeout: int) -> tuple[dict, dict]:
    """MediaInfo's XML for a batch of files, one ``MediaInfo`` document per file."""
    result = format_tools.run_argv(["mediainfo", "--Output=XML", *(str(p) for p in paths)], timeout)
    if not result.ok:
        return {}, {str(p): result.message for p in paths}
    document = _parse(result.stdout)
    found = {}
    if document is None:
        return {}, {str(p): "MediaInfo printed no XML" for p in paths}
    library = document.find(f"{{{MEDIAINFO_NS}}}creatingLibrary")
    for media in document.findall(f"{{{MEDIAINFO_NS}}}media"):
        holder = etree.Element(
            f"{{{MEDIAINFO_NS}}}MediaInfo",
            {"version": document.get("version", "")},
            nsmap={None: MEDIAINFO_NS},
        )
        if library is not None:
            holder.append(etree.fromstring(etree.tostring(library)))
        holder.append(media)
        found[media.get("ref")] = holder
    return found, {}


BATCH_RUNNERS = {"exiftool": _exiftool, "mediainfo": _mediainfo}
