"""Build a well-formed transfer package (the zip archivists upload) from a folder.

The folder's files go at the top level of the zip, beside ``metadata/metadata.csv``
written from the identifier given (catalogued: ``filename,dc.identifier``; accession:
``filename,collection_reference,accession_number``). A ``metadata/rights.csv`` already in
the folder is kept; system files (``.DS_Store``, ``Thumbs.db``…) are left out.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

from preservation.core.errors import TransferInvalid
from preservation.core.fsutil import atomic_writer

#: Hidden and system files Archivematica removes from a transfer (Verify transfer
#: compliance); pre-flight ignores them too.
UNNEEDED_NAMES = {".DS_Store", "Thumbs.db", "Icon\r", "__MACOSX", "desktop.ini"}


def is_unneeded(name: str) -> bool:
    """True for names Archivematica removes as hidden or system files."""
    return name in UNNEEDED_NAMES or name.startswith(".")


def metadata_csv(identifier: str, accession: bool, collection_reference: str = "") -> str:
    """metadata.csv's text for a catalogued package or an accession."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if accession:
        writer.writerows(
            [
                ["filename", "collection_reference", "accession_number"],
                ["objects/", collection_reference, identifier],
            ]
        )
    else:
        writer.writerows([["filename", "dc.identifier"], ["objects/", identifier]])
    return buffer.getvalue()


def build(
    folder: Path,
    output: Path,
    identifier: str,
    accession: bool = False,
    collection_reference: str = "",
) -> int:
    """Zip ``folder`` as a transfer package at ``output``; returns the number of files."""
    if not folder.is_dir():
        raise TransferInvalid(f"{folder} is not a folder: give the folder to package")
    if not identifier.strip():
        raise TransferInvalid("the identifier is empty: give --identifier")
    if accession and not collection_reference.strip():
        raise TransferInvalid("an accession needs --collection-reference as well")
    extra = (
        sorted(
            p.name
            for p in (folder / "metadata").glob("*")
            if p.name not in ("rights.csv",) and not is_unneeded(p.name)
        )
        if (folder / "metadata").is_dir()
        else []
    )
    if extra:
        raise TransferInvalid(
            f"{folder}/metadata/ holds {', '.join(extra)}: metadata/ may hold only "
            "rights.csv (metadata.csv is written for you); move them out"
        )
    count = 0
    with atomic_writer(output) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not is_unneeded(d) and d != "__MACOSX")
            rel_root = Path(root).relative_to(folder)
            if not files and not dirs and rel_root != Path("."):
                zf.writestr(f"{rel_root.as_posix()}/", "")  # keep empty folders
            for name in sorted(files):
                if is_unneeded(name):
                    continue
                zf.write(Path(root, name), (rel_root / name).as_posix())
                count += 1
        zf.writestr(
            "metadata/metadata.csv", metadata_csv(identifier, accession, collection_reference)
        )
    return count


def build_test_package(output: Path, identifier: str) -> None:
    """The end-to-end test package: one small image and a metadata.csv naming the test
    identifier, so its AIP goes to the ``testing`` space (operations.md)."""
    import tempfile

    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="test-package-") as work:
        folder = Path(work) / "test_package"
        folder.mkdir()
        Image.new("RGB", (64, 48), (200, 120, 40)).save(folder / "test-image.png")
        build(folder, output, identifier)
