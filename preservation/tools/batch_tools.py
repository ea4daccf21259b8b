"""Tools that take a batch of files per process: ExifTool and MediaInfo (characterization),
MediaConch and FFmpeg (validation). Starting them costs more than reading a small file, so each
process gets many files; the answer is split back per file.

Every runner takes (paths, timeout) and returns, per path (as given), a
``CommandResult``; a characterizer's XML document for that one file is its ``stdout``.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lxml import etree

from preservation.core.safe_xml import parse_bytes
from preservation.tools.process import CommandResult, run_argv, runs_together, spawn

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


#: FFmpeg decodes at most this many files per process, and only small ones
#: (``runs_together``): every input's decoder is open at once.
FFMPEG_BATCH_FILES = 16


def ffmpeg_decode(paths: Sequence[Path], timeout: int) -> dict[str, CommandResult]:
    """FFmpeg decoding each file's audio and video to nothing: the registry's one-file
    command, ``ffmpeg -nostdin -v error -i FILE -f null -``, where any message fails.

    FFmpeg starts in about 85 ms here (it loads its whole family of libraries), longer
    than decoding a small file takes, so small files are first decoded together, one null
    output per input. Only a batch that FFmpeg decoded whole, every input into its own
    output, with no error, passes as a batch; otherwise (a damaged file, a file with no
    audio or video stream, a timeout) each of its files is decoded again alone and gets
    the one-file command's own verdict and message."""
    small: list[Path] = []
    alone: list[Path] = []
    for path in paths:
        (small if runs_together(path) else alone).append(path)
    found: dict[str, CommandResult] = {}
    for start in range(0, len(small), FFMPEG_BATCH_FILES):
        batch = small[start : start + FFMPEG_BATCH_FILES]
        if len(batch) > 1 and _decoded_together(batch, timeout):
            found.update((str(p), CommandResult(True, "")) for p in batch)
        else:
            alone.extend(batch)
    for path in alone:
        result = run_argv(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
            timeout,
            fail_pattern=r"\S",  # any message is a failure
        )
        found[str(path)] = CommandResult(
            result.ok, result.message.replace(str(path), path.name), result.stdout
        )
    return found


#: "Stream #2:0 -> #2:0 (mp3 (mp3float) -> pcm_s16le (native))" in FFmpeg's stream mapping.
_MAPPED = re.compile(r"Stream #(\d+):\d+\S* -> #(\d+):\d+")
_ERROR = re.compile(r"\[(error|fatal|panic)\]")


def _decoded_together(paths: Sequence[Path], timeout: int) -> bool:
    """Whether one FFmpeg decoded every input of ``paths`` into its own output without an
    error. FFmpeg's log is read at info level, each line tagged with its level: an input
    with no audio or video stream leaves its output without a map, and FFmpeg then fills
    that output from *another* input and says nothing at error level."""
    # One decoding thread per input: the batch's inputs are open at once, and the pool
    # already runs one batch per core.
    inputs = [arg for p in paths for arg in ("-threads", "1", "-i", str(p))]
    outputs = [
        arg
        for n in range(len(paths))
        for arg in ("-map", f"{n}:v?", "-map", f"{n}:a?", "-f", "null", "-")
    ]
    argv = ["ffmpeg", "-nostdin", "-nostats", "-hide_banner", "-loglevel", "level+info"]
    try:
        done = spawn([*argv, *inputs, *outputs], timeout)
    except (subprocess.TimeoutExpired, OSError):
        return False  # each file alone says what it is
    if done.returncode != 0 or _ERROR.search(done.stderr):
        return False
    pairs = {(int(i), int(o)) for i, o in _MAPPED.findall(done.stderr)}
    return {i for i, _ in pairs} == set(range(len(paths))) and all(i == o for i, o in pairs)


RUNNERS = {
    "exiftool": exiftool,
    "mediainfo": mediainfo,
    "mediaconch": mediaconch,
    "ffmpeg-decode": ffmpeg_decode,
}
#: What each runner is for: a registry command names a runner of its own purpose.
PURPOSES = {
    "exiftool": "characterization",
    "mediainfo": "characterization",
    "mediaconch": "validation",
    "ffmpeg-decode": "validation",
}
