"""The transfer's own metadata files, checked against ../shared/specs/transfer-packages.md.

``metadata/metadata.csv`` carries the identifiers and Dublin Core; ``metadata/rights.csv``
carries rights statements. Each parser collects every problem, saying what is WRONG and
what would be RIGHT, so the archivist can fix the package in one go.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from preservation.core.names import needs_escape

DC_ELEMENTS = (
    "title",
    "creator",
    "subject",
    "description",
    "publisher",
    "contributor",
    "date",
    "type",
    "format",
    "identifier",
    "source",
    "language",
    "relation",
    "coverage",
    "rights",
)
ACCESSION_COLUMNS = ("collection_reference", "accession_number")

RIGHTS_COLUMNS = (
    "file",
    "basis",
    "status",
    "determination_date",
    "start_date",
    "end_date",
    "jurisdiction",
    "terms",
    "citation",
    "note",
    "grant_act",
    "grant_restriction",
    "grant_start_date",
    "grant_end_date",
    "grant_note",
    "doc_id_type",
    "doc_id_value",
    "doc_id_role",
)
BASES = ("copyright", "donor", "license", "other", "policy", "statute")
COPYRIGHT_NOTES = ("In copyright", "All Rights Reserved")
LICENSE_NOTES = (
    "CC-0",
    "CC-BY",
    "CC-BY-NC",
    "CC-BY-NC-ND",
    "CC-BY-SA",
    "CC-BY-NC-SA",
    "OGL",
    "OPL",
    "PDM",
)
RESTRICTIONS = ("allow", "conditional", "disallow")
REQUIRED_BY_BASIS = {
    "copyright": ("status", "jurisdiction", "note", "grant_act", "grant_note"),
    "license": ("note", "grant_act", "grant_note"),
    "statute": ("citation", "jurisdiction"),
}
# Columns that only make sense for some bases; on any other basis they must stay empty.
ONLY_FOR = {
    "status": ("copyright",),
    "determination_date": ("copyright", "statute"),
    "jurisdiction": ("copyright", "statute"),
    "terms": ("license",),
    "citation": ("statute",),
}
GRANT_DETAILS = ("grant_restriction", "grant_start_date", "grant_end_date", "grant_note")

#: The largest metadata files we read, in bytes: a metadata.csv is one row; a rights.csv
#: has a row per file (a 100,000-file transfer's is about 20 MB). A bigger file is a
#: problem of the package, reported, never read.
METADATA_LIMITS = {"metadata.csv": 1 << 20, "rights.csv": 64 << 20}
#: Values that identify a transfer become keys, tags and file-system names: one line.
IDENTIFIER_COLUMNS = ("dc.identifier", "collection_reference", "accession_number")
#: Longest identifier (S3 tags hold 256 characters).
IDENTIFIER_MAX = 255
# A field may be as long as the file that holds it (Python's default stops at 128 KiB).
csv.field_size_limit(max(csv.field_size_limit(), METADATA_LIMITS["rights.csv"]))


def _read_text(path: Path, label: str, problems: list[str]) -> str | None:
    """A metadata file's text, if it is within its limit and UTF-8 (else a problem)."""
    limit = METADATA_LIMITS[path.name] if path.name in METADATA_LIMITS else 1 << 20
    size = path.stat().st_size
    if size > limit:
        problems.append(
            f"{label} is {size:,} bytes, more than the limit of {limit:,}; it holds far more "
            "than metadata"
        )
        return None
    raw = path.read_bytes()
    if label.endswith("rights.csv") and raw.startswith(b"\xef\xbb\xbf"):
        problems.append(f"{label} starts with a byte-order mark; save it as UTF-8 without BOM")
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{label} is not UTF-8 ({exc.reason}); save it as UTF-8 CSV")
        return None


def _rows(text: str, label: str, problems: list[str]) -> list[list[str]] | None:
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        problems.append(f"{label} is not a readable CSV ({exc}); save it as UTF-8 CSV")
        return None


def control_characters(value: str, lines_allowed: bool) -> list[str]:
    """The characters of a value that XML, a tag file or a log line cannot carry as they
    are, as U+ codes (line breaks and tabs are allowed where ``lines_allowed``)."""
    allowed = "\n\r\t" if lines_allowed else ""
    return sorted(
        {f"U+{ord(c):04X}" for c in value if c not in allowed and needs_escape(c) and c != "\\"}
    )


def _value_problems(label: str, column: str, value: str) -> list[str]:
    """What is wrong with one value (``label`` names its file, or is empty in a row)."""
    identifier = column in IDENTIFIER_COLUMNS
    where = f"{label} column" if label else "column"
    found = control_characters(value, lines_allowed=not identifier)
    problems = []
    if found:
        what = "a line break, tab or control character" if identifier else "control characters"
        problems.append(
            f"{where} {column!r} holds {what} ({', '.join(found)}); "
            + ("an identifier is one line of text" if identifier else "remove them")
        )
    if identifier and len(value) > IDENTIFIER_MAX:
        problems.append(
            f"{where} {column!r} is {len(value)} characters long; an identifier "
            f"has at most {IDENTIFIER_MAX}"
        )
    return problems


@dataclass
class TransferMetadata:
    """What metadata.csv says about the transfer."""

    kind: str  # catalogued | accession
    catalogue_identifier: str = ""
    accession_number: str = ""
    collection_reference: str = ""
    dublin_core: list[tuple[str, str]] = field(default_factory=list)
    #: The columns that are not Dublin Core (an accession's collection_reference and
    #: accession_number), as (column, value): Archivematica's "OTHER" dmdSec in the METS.
    other: list[tuple[str, str]] = field(default_factory=list)

    @property
    def identifier(self) -> str:
        """The catalogue identifier, else the accession number."""
        return self.catalogue_identifier or self.accession_number


def read_metadata_csv(
    path: Path, expected_kind: str, problems: list[str]
) -> TransferMetadata | None:
    """Parse ``metadata.csv``; append problems and return None when it is not usable."""
    label = "metadata/metadata.csv"
    text = _read_text(path, label, problems)
    rows = _rows(text, label, problems) if text is not None else None
    if rows is None:
        return None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        problems.append(f"{label} is empty; it needs a header row and one row for objects/")
        return None
    header, data = [h.strip() for h in rows[0]], rows[1:]
    before = len(problems)
    if len(set(header)) != len(header):
        problems.append(f"{label} repeats a column in its header: {','.join(header)}")
    if "filename" not in header:
        problems.append(f"{label} has no 'filename' column; the header must start with filename")
    for column in header:
        if column == "filename" or column in ACCESSION_COLUMNS:
            continue
        if not column.startswith("dc.") or column[3:] not in DC_ELEMENTS:
            problems.append(
                f"{label} has an unknown column {column!r}; allowed are filename, dc.<element> "
                f"(Dublin Core: {', '.join(DC_ELEMENTS)}) and {', '.join(ACCESSION_COLUMNS)}"
            )
    if len(data) != 1:
        problems.append(
            f"{label} has {len(data)} data rows; it must have exactly one, for objects/"
        )
    if len(problems) > before or not data:
        return None
    row = data[0]
    if len(row) != len(header):
        problems.append(f"{label} row 2 has {len(row)} fields but the header has {len(header)}")
        return None
    values = {h: v.strip() for h, v in zip(header, row)}
    for column, value in values.items():
        problems += _value_problems(label, column, value)
    if values["filename"] != "objects/":
        problems.append(
            f"{label} filename is {values['filename']!r}; it must be exactly 'objects/'"
        )
    kind = (
        "catalogued"
        if "dc.identifier" in header
        else ("accession" if any(c in header for c in ACCESSION_COLUMNS) else None)
    )
    if kind is None:
        problems.append(
            f"{label} names no identifier: catalogued material needs filename,dc.identifier; "
            "accessions need filename,collection_reference,accession_number"
        )
        return None
    if expected_kind != "any" and kind != expected_kind:
        wanted = (
            "filename,dc.identifier"
            if expected_kind == "catalogued"
            else "filename,collection_reference,accession_number"
        )
        problems.append(
            f"{label} describes {kind} material but this processing configuration expects "
            f"{expected_kind} material: its columns must be {wanted}"
        )
    required = ("dc.identifier",) if kind == "catalogued" else ACCESSION_COLUMNS
    for column in required:
        if not values.get(column):
            problems.append(f"{label} column {column!r} is missing or empty; give its value")
    return TransferMetadata(
        kind=kind,
        catalogue_identifier=values.get("dc.identifier", ""),
        accession_number=values.get("accession_number", ""),
        collection_reference=values.get("collection_reference", ""),
        dublin_core=[(h[3:], values[h]) for h in header if h.startswith("dc.") and values[h]],
        other=[
            (h, values[h])
            for h in header
            if h != "filename" and not h.startswith("dc.") and values[h]
        ],
    )


def read_rights_csv(
    path: Path, objects: Path | Callable[[str], bool], problems: list[str]
) -> list[dict[str, str]]:
    """Parse and check ``rights.csv`` row by row; returns the valid rows.

    ``objects`` is the objects folder, or a function telling whether a path inside it is a
    file (a zip's member list, before anything is unpacked)."""
    if isinstance(objects, Path):
        folder = objects
        objects = lambda inside: (folder / inside).is_file()  # noqa: E731
    label = "metadata/rights.csv"
    text = _read_text(path, label, problems)
    rows = _rows(text, label, problems) if text is not None else None
    if rows is None:
        return []
    if not rows:
        problems.append(f"{label} is empty; remove it or add a header and rows")
        return []
    # Spreadsheet programs end files with blank lines; they are not rows.
    header, data = [h.strip() for h in rows[0]], [r for r in rows[1:] if r]
    before = len(problems)
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        problems.append(f"{label} repeats header columns {duplicates}; name each column once")
    for required in ("file", "basis"):
        if required not in header:
            problems.append(f"{label} has no {required!r} column; it is required")
    unknown = [h for h in header if h not in RIGHTS_COLUMNS]
    if unknown:
        problems.append(
            f"{label} has unknown columns {unknown}; allowed are {', '.join(RIGHTS_COLUMNS)}"
        )
    if not data:
        problems.append(f"{label} has no data rows; remove it or add rows")
    if len(problems) > before:
        return []
    valid, seen = [], set()
    for number, row in enumerate(data, start=2):
        if len(row) != len(header):
            problems.append(
                f"{label} row {number} has {len(row)} fields but the header has {len(header)}"
            )
            continue
        values = {c: "" for c in RIGHTS_COLUMNS}
        values.update({h: v.strip() for h, v in zip(header, row)})
        row_problems = [
            p for column, value in values.items() for p in _value_problems("", column, value)
        ] or _rights_row_problems(values, objects)
        triple = (values["file"], values["basis"], values["grant_act"])
        if triple in seen:
            row_problems.append(
                f"repeats file {triple[0]!r}, basis {triple[1]!r} and grant_act {triple[2]!r}; "
                "each combination may appear once"
            )
        seen.add(triple)
        problems.extend(f"{label} row {number}: {p}" for p in row_problems)
        if not row_problems:
            valid.append(values)
    return valid


def _rights_row_problems(v: dict[str, str], has_file: Callable[[str], bool]) -> list[str]:
    problems = []
    basis = v["basis"]
    inside = v["file"][len("objects/") :]
    if not v["file"].startswith("objects/") or v["file"] == "objects/":
        problems.append(f"file {v['file']!r} must name a file, starting with 'objects/'")
    elif inside.startswith("/") or ".." in PurePosixPath(inside).parts:
        problems.append(
            f"file {v['file']!r} leaves objects/; name a file inside it, without '..' or '//'"
        )
    elif not has_file(inside):
        problems.append(f"file {v['file']!r} is not a file in the package; check its path")
    if basis not in BASES:
        problems.append(f"basis {basis!r} must be one of {', '.join(BASES)}")
        return problems
    for column in REQUIRED_BY_BASIS.get(basis, ()):
        if not v[column]:
            problems.append(f"{basis} rights need {column!r}; fill it in")
    for column, bases in ONLY_FOR.items():
        if v[column] and basis not in bases:
            problems.append(f"{column!r} does not apply to {basis} rights; leave it empty")
    if basis == "copyright":
        if v["note"] and v["note"] not in COPYRIGHT_NOTES:
            problems.append(f"copyright note {v['note']!r} must be one of {COPYRIGHT_NOTES}")
        if v["end_date"].lower() == "open":
            problems.append("copyright end_date may not be 'open'; give the date it ends")
    if basis == "license" and v["note"] and v["note"] not in LICENSE_NOTES:
        problems.append(f"license note {v['note']!r} must be one of {', '.join(LICENSE_NOTES)}")
    if any(v[c] for c in GRANT_DETAILS) and not v["grant_act"]:
        problems.append("grant details are given without 'grant_act'; name the act granted")
    if (v["grant_start_date"] or v["grant_end_date"]) and not v["grant_restriction"]:
        problems.append(f"grant dates need 'grant_restriction' ({', '.join(RESTRICTIONS)})")
    if v["grant_restriction"] and v["grant_restriction"] not in RESTRICTIONS:
        problems.append(
            f"grant_restriction {v['grant_restriction']!r} must be one of {', '.join(RESTRICTIONS)}"
        )
    if bool(v["doc_id_type"]) != bool(v["doc_id_value"]):
        problems.append("doc_id_type and doc_id_value come together; give both or neither")
    if v["doc_id_role"] and not v["doc_id_type"]:
        problems.append("doc_id_role needs doc_id_type and doc_id_value")
    return problems
