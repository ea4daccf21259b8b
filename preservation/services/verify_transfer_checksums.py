"""Verify transfer checksums: compare checksums the archivist sent with the files.

Applies when ``metadata/`` holds ``checksum.md5``, ``checksum.sha1``, ``checksum.sha256``
or ``checksum.sha512`` (lines of ``<digest>  <path>``, paths relative to the transfer
root, such as ``objects/a.txt``, or to ``objects/``). Every listed file gets a
``fixity check`` event; any mismatch, missing or unlisted file rejects the transfer with
all of them named.
"""

from __future__ import annotations

from dataclasses import dataclass

from preservation.core import premis
from preservation.core.errors import FixityMismatch, StepNotApplicable
from preservation.core.names import escape
from preservation.core.package import Package
from preservation.core.premis import Event
from preservation.tools.process import digests

NAME = "Verify transfer checksums"
ALGORITHMS = ("md5", "sha1", "sha256", "sha512")
#: The largest checksum file read (a line per file: 100,000 files take about 10 MB).
LIMIT = 64 << 20


@dataclass(frozen=True)
class ChecksumResult:
    files_checked: int
    algorithms: list[str]


def run(package: Package) -> ChecksumResult:
    """Check each supplied checksum file; records ``fixity check`` per file and algorithm."""
    metadata = package.transfer_dir / "metadata"
    supplied = [a for a in ALGORITHMS if (metadata / f"checksum.{a}").is_file()]
    if not supplied:
        raise StepNotApplicable("the transfer has no metadata/checksum.* files")
    records = package.state.files(group="original")
    by_path = {r.path: r for r in records}
    # A file received under a safe name is listed under the name it was sent with (GNU
    # coreutils escape line breaks and backslashes as we do: "\n", "\\").
    by_name = {**{r.original_path: r for r in records}, **by_path}
    problems: list[str] = []
    events: list[Event] = []
    checked = 0
    for algorithm in supplied:
        expected = _read(metadata / f"checksum.{algorithm}", problems)
        listed = {}
        for path, digest in expected.items():
            key = path if path.startswith("objects/") else f"objects/{path}"
            record = by_name.get(key) or by_name.get(escape(key))
            if record is None:
                problems.append(
                    f"checksum.{algorithm} lists {escape(path)}, which is not in the transfer"
                )
            else:
                listed[record.path] = digest.lower()
        for path in sorted(set(by_path) - set(listed)):
            shown = by_path[path].original_path
            problems.append(f"checksum.{algorithm} does not list {shown}; add its checksum")
        paths = sorted(listed)
        actual = digests(
            [package.transfer_dir / p for p in paths], package.settings.workers, algorithm
        )
        for path, digest in zip(paths, actual):
            ok = digest == listed[path]
            if not ok:
                problems.append(
                    f"{path}: {algorithm} is {digest} but checksum.{algorithm} says {listed[path]}"
                )
            events.append(
                Event(
                    by_path[path].uuid,
                    premis.FIXITY_CHECK,
                    key=algorithm,
                    detail=f'program="python"; module="hashlib.{algorithm}()"; '
                    f'file="metadata/checksum.{algorithm}"',
                    outcome="Pass" if ok else "Fail",
                    outcome_note=f"{algorithm} {digest}",
                )
            )
            checked += 1
    package.state.record_events(events)
    if problems:
        raise FixityMismatch("The checksums sent with the transfer do not match", problems)
    return ChecksumResult(checked, supplied)


def _read(path, problems: list[str]) -> dict[str, str]:
    """``<digest>  <path>`` lines (``*`` for binary mode; a line starting with ``\\``
    holds an escaped name, as GNU coreutils write them)."""
    size = path.stat().st_size
    if size > LIMIT:
        problems.append(f"{path.name} is {size:,} bytes, more than the limit of {LIMIT:,}")
        return {}
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{path.name} is not UTF-8 ({exc.reason}); save it as UTF-8 text")
        return {}
    entries = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        line = line.strip().removeprefix("\\")  # the name is escaped: kept as it is
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            problems.append(f"{path.name} line {number} is not '<checksum>  <path>'")
            continue
        digest, name = parts
        entries[name.lstrip("*").removeprefix("./")] = digest
    return entries
