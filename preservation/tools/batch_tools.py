"""Tools that take a batch of files per process: ExifTool and MediaInfo (characterization)
and MediaConch (validation). Starting them costs more than reading a small file, so each
process gets many files; the answer is split back per file.

Every runner takes (paths, timeout) and returns, per path (as given), a
``CommandResult``; a characterizer's XML document for that one file is its ``stdout``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from preservation.core.safe_xml import parse_bytes
from preservation.tools.process import CommandResult, run_argv

#: Files per process at most (a chunk's files are split over the pool's workers too).
BATCH_FILES = 500
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MEDIAINFO_NS = "https://mediaarea.net/mediainfo"
#: ExifTool tags that describe our working copy, not the file (and change on every run).
EXIFTOOL_EXCLUDED = (
    "--System:Directory",
    "--System:FileAccessDate",
    "--System:FileInodeChangeDate",
    "--System:FilePermissions",
)


def parse(text: str) -> etree._Element | None:
    """A tool's XML output, parsed safely; None when it is not XML."""
    try:
        return parse_bytes(text.encode("utf-8"))
    except (etree.XMLSyntaxError, ValueError):
        return None


def _split(result: CommandResult, paths: Sequence[Path], documents) -> dict[str, CommandResult]:
    """Per-file results from one run over a batch (all fail when the run failed)."""
    if not result.ok:
        return {str(p): result for p in paths}
    document = parse(result.stdout)
    if document is None:
        return {str(p): CommandResult(False, "the tool printed no XML") for p in paths}
    return {
        path: CommandResult(True, "", etree.tostring(element, encoding="unicode"))
        for path, element in documents(document)
    }


def exiftool(paths: Sequence[Path], timeout: int) -> dict[str, CommandResult]:
    """ExifTool's RDF/XML, one ``rdf:RDF`` per file."""
    with tempfile.NamedTemporaryFile("w", suffix=".args", encoding="utf-8") as args:
        args.write("\n".join(str(p) for p in paths) + "\n")
        args.flush()
        result = run_argv(
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

    def documents(document):
        for description in document:
            holder = etree.Element(f"{{{RDF_NS}}}RDF", nsmap={"rdf": RDF_NS})
            about = description.get(f"{{{RDF_NS}}}about")
            holder.append(description)
            yield about, holder

    return _split(result, paths, documents)


def mediainfo(paths: Sequence[Path], timeout: int) -> dict[str, CommandResult]:
    """MediaInfo's XML, one ``MediaInfo`` document per file."""
    result = run_argv(["mediainfo", "--Output=XML", *(str(p) for p in paths)], timeout)

    def documents(document):
        library = document.find(f"{{{MEDIAINFO_NS}}}creatingLibrary")
        for media in document.findall(f"{{{MEDIAINFO_NS}}}media"):
            holder = etree.Element(
                f"{{{MEDIAINFO_NS}}}MediaInfo",
                {"version": document.get("version", "")},
                nsmap={None: MEDIAINFO_NS},
            )
            if library is not None:
                holder.append(parse_bytes(etree.tostring(library)))
            holder.append(media)
            yield media.get("ref"), holder

    return _split(result, paths, documents)


def mediaconch(paths: Sequence[Path], timeout: int) -> dict[str, CommandResult]:
    """MediaConch's implementation checks. A private HOME per batch: concurrent MediaConch
    processes sharing its SQLite database block each other."""
    with tempfile.TemporaryDirectory(prefix="mediaconch-") as home:
        result = run_argv(
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
        path: CommandResult(
            ok,
            "; ".join(detail).replace(str(Path(path).parent) + "/", "")
            or ("pass" if ok else "fail"),
        )
        for path, (ok, detail) in found.items()
    }


RUNNERS = {"exiftool": exiftool, "mediainfo": mediainfo, "mediaconch": mediaconch}
#: What each runner is for: a registry command names a runner of its own purpose.
PURPOSES = {
    "exiftool": "characterization",
    "mediainfo": "characterization",
    "mediaconch": "validation",
}
