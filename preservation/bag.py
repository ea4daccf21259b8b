"""Writing a BagIt bag (RFC 8493, version 0.97 like Archivematica) around ``data/``.

The payload manifest reuses the sha256 recorded at ingest for every registered file and
hashes only the files made since (METS, README, logs): no object is read twice, and a
file changed after ingest would fail validation instead of being silently re-hashed.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from preservation import SOFTWARE_ID
from preservation.fsutil import atomic_write_text
from preservation.names import escape
from preservation.tools import digests, file_digest

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
