"""Files a micro-service found wrong, named for the person reading its task log.

A per-file stage counts its failures in its result, and the package log has every line;
but the task log is where an archivist looks first, and a count alone does not say which
file to open. A result carries a :class:`Problems`: how many, the first :data:`SAMPLE` by
name with the tool's message, and which log has the rest. It is for the log only: the
Airflow adapter writes it as warnings and keeps it out of the task's XCom, which carries
counts (:func:`log_only`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE = 20
#: One message's length in the sample (a tool's message can be pages long).
MESSAGE_LIMIT = 300
_LOG_ONLY = "log_only"


@dataclass(frozen=True)
class Problems:
    """``total`` ``what`` (e.g. "file(s) failed validation"); ``sample`` names the first."""

    what: str
    total: int = 0
    sample: tuple[str, ...] = ()
    #: The log that lists every file, relative to the package: the transfer, or the SIP
    #: (the AIP's data/) once it exists.
    log: str = ""

    @classmethod
    def of(cls, what: str, lines: Iterable[str], log: Path, root: Path) -> Problems:
        """Count ``lines`` and keep the first :data:`SAMPLE`, each cut to a readable length;
        ``root`` (the package) is taken out of them and of ``log``: a tool's own message
        may name the processing directory, which is nobody's business in a task log."""
        total, sample = 0, []
        for line in lines:
            total += 1
            if len(sample) < SAMPLE:
                sample.append(_clip(line.replace(f"{root}/", "")))
        return cls(what, total, tuple(sample), str(log.relative_to(root)))

    def report(self) -> list[str]:
        """The lines a task log shows: a heading, one per named file, where the rest are."""
        if not self.total:
            return []
        lines = [f"{self.total} {self.what}:"]
        lines += [f"  {line}" for line in self.sample]
        if self.total > len(self.sample):
            lines.append(f"  ... and {self.total - len(self.sample)} more: see {self.log}")
        return lines


def log_only(what: str) -> Problems:
    """A result's ``problems`` field: empty by default, left out of :func:`summary`."""
    return field(default=Problems(what), repr=False, metadata={_LOG_ONLY: True})


def summary(result) -> dict:
    """``result`` as a dict for XCom, without its log-only fields."""
    kept = {f.name for f in dataclasses.fields(result) if not f.metadata.get(_LOG_ONLY)}
    return {k: v for k, v in dataclasses.asdict(result).items() if k in kept}


def found_in(result) -> list[Problems]:
    """The log-only problems ``result`` carries (none for most stages)."""
    return [
        getattr(result, f.name)
        for f in dataclasses.fields(result)
        if f.metadata.get(_LOG_ONLY) and getattr(result, f.name).total
    ]


def _clip(line: str) -> str:
    line = " ".join(line.split())  # a tool's multi-line message on one log line
    return line if len(line) <= MESSAGE_LIMIT else line[: MESSAGE_LIMIT - 3] + "..."
