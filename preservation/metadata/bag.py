"""Writing a BagIt bag (RFC 8493, version 0.97 like Archivematica) around ``data/``, and
validating one completely, in Archivematica's fixity report shape.

The payload manifest reuses the sha256 recorded at ingest for every registered file and
hashes only the files made since (METS, README, logs): no object is read twice, and a
file changed after ingest would fail validation instead of being silently re-hashed.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import bagit

from preservation import SOFTWARE_ID
from preservation.core.fsutil import atomic_write_text
from preservation.core.names import escape
from preservation.core.premis import now
from preservation.tools.process import digests, file_digest

BAGIT_TXT = "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n"


def encode_path(path: str) -> str:
    """The manifest encoding of CR and LF in file names, as bagit-python (which validates
    our bags, in storage and in Archivematica) writes and reads it for 0.97 bags; it does
    not decode ``%25``, so a percent sign is left as it is."""
    return path.replace("\r", "%0D").replace("\n", "%0A")


def human_size(size: int) -> str:
    """Bag-Size as people write it: ``42 KB``, ``1.3 GB`` (decimal units)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def write_bag(root: Path, known: dict[str, str], info: dict[str, str], workers: int) -> dict:
    """Write the tag files of the bag at ``root`` (payload already in ``root/data``).

    ``known`` maps payload paths (``data/…``) to sha256 digests already computed.
    Returns the bag-info fields written.
    """
    payload = sorted(
        p.relative_to(root).as_posix() for p in (root / "data").rglob("*") if p.is_file()
    )
    todo = [p for p in payload if p not in known]
    sums = dict(known)
    sums.update(zip(todo, digests([root / p for p in todo], workers)))
    total = sum((root / p).stat().st_size for p in payload)
    fields = {
        "Bag-Software-Agent": SOFTWARE_ID,
        "Bagging-Date": date.today().isoformat(),
        "Payload-Oxum": f"{total}.{len(payload)}",
        "Bag-Size": human_size(total),
        **info,
    }
    atomic_write_text(root / "bagit.txt", BAGIT_TXT)
    atomic_write_text(
        root / "manifest-sha256.txt", "".join(f"{sums[p]}  {encode_path(p)}\n" for p in payload)
    )
    # A value is one line whatever it holds (compliance refuses line breaks in identifiers;
    # this keeps any that slipped through from adding a line of their own).
    atomic_write_text(
        root / "bag-info.txt", "".join(f"{k}: {escape(str(v))}\n" for k, v in fields.items())
    )
    tags = ("bag-info.txt", "bagit.txt", "manifest-sha256.txt")
    atomic_write_text(
        root / "tagmanifest-sha256.txt", "".join(f"{file_digest(root / t)}  {t}\n" for t in tags)
    )
    return fields


@dataclass
class FixityReport:
    """Archivematica's per-AIP fixity answer."""

    success: bool
    message: str
    failures: dict = field(
        default_factory=lambda: {"files": {"missing": [], "changed": [], "untracked": []}}
    )
    timestamp: str = field(default_factory=now)

    def as_dict(self) -> dict:
        return asdict(self)


def verify_bag(path: Path, processes: int = 2) -> FixityReport:
    """Validate a bag completely (every checksum), in Archivematica's report shape."""
    if multiprocessing.current_process().daemon:
        # A Celery worker's task runs in a daemonic process, which may not start the
        # process pool bagit hashes with: hash in this process instead.
        processes = 1
    bag = None
    try:
        bag = bagit.Bag(str(path))
        bag.validate(processes=processes)
    except bagit.BagValidationError as exc:
        report = FixityReport(False, f"{path.name}: {exc.message}")
        files = report.failures["files"]
        details = exc.details
        if not details and bag is not None and bag.info.pop("Payload-Oxum", None):
            # The Payload-Oxum check fails first and names no file: check every file
            # without it, to say which are missing, untracked or changed.
            try:
                bag.validate(processes=processes)
            except bagit.BagValidationError as full:
                details = full.details
        if bag is not None and not any(isinstance(d, bagit.ChecksumMismatch) for d in details):
            # bagit stops at missing or untracked files before comparing checksums: compare
            # the files still there too, so every damaged file is named at once.
            details = [*details, *_changed(bag, processes)]
        for detail in details:
            if isinstance(detail, bagit.ChecksumMismatch):
                files["changed"].append(detail.path)
            elif isinstance(detail, bagit.FileMissing):
                files["missing"].append(detail.path)
            elif isinstance(detail, bagit.UnexpectedFile):
                files["untracked"].append(detail.path)
        # A missing file cannot also be a changed one.
        files["changed"] = [p for p in files["changed"] if p not in files["missing"]]
        return report
    except bagit.BagError as exc:
        return FixityReport(False, f"{path.name}: {exc}")
    return FixityReport(True, f"{path.name}: bag valid")


def _changed(bag: bagit.Bag, processes: int) -> list[bagit.ChecksumMismatch]:
    """The files still in the bag whose content differs from what its manifests say."""
    root = Path(bag.path)
    present = {rel: hashes for rel, hashes in bag.entries.items() if (root / rel).is_file()}
    changed = []
    for algorithm in sorted({a for hashes in present.values() for a in hashes}):
        paths = [rel for rel, hashes in present.items() if algorithm in hashes]
        found = digests([root / rel for rel in paths], max(1, processes), algorithm)
        for rel, actual in zip(paths, found, strict=True):
            expected = present[rel][algorithm].lower()
            if actual != expected:
                changed.append(bagit.ChecksumMismatch(rel, algorithm, expected, actual))
    return changed
