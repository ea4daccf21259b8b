"""Pre-flight checks of a transfer package (a zip), before anything is processed.

The same checks serve the archivist before upload (``preservation validate-transfer``) and
the transfer bucket's watcher, which writes the report as the feedback log next to the
upload (``{key}.{success|failed}.{timestamp}.log``). Every check runs and reports; a
failing one says what is WRONG and what would be RIGHT. Only the zip's index and its
``metadata/`` files are read: nothing is unpacked.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from preservation.core.errors import UnsafeArchive
from preservation.core.names import escape
from preservation.core.settings import Limits
from preservation.intake.transfer_package import is_unneeded
from preservation.metadata.transfer_metadata import (
    METADATA_LIMITS,
    read_metadata_csv,
    read_rights_csv,
)
from preservation.storage.spaces import BORN_DIGITAL, BORN_DIGITAL_ACCESSIONS
from preservation.tools.safe_extract import (
    ZIP,
    Member,
    archive_kind,
    check_members,
    is_damage,
    list_members,
)

#: Bucket prefix -> (package kind, processing configuration), as in transfer-packages.md.
PREFIXES = {
    f"{BORN_DIGITAL}/": ("catalogued", "born_digital"),
    f"{BORN_DIGITAL_ACCESSIONS}/": ("accession", "b_dig_accessions"),
}
METADATA_FILES = ("metadata.csv", "rights.csv")


@dataclass
class Check:
    """One check's verdict: no problems means it passed."""

    name: str
    right: str
    problems: list[str] = field(default_factory=list)
    not_run: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems and not self.not_run


@dataclass
class Report:
    """All checks of one package, in order."""

    package: str
    checks: list[Check]
    identifier: str = ""

    @property
    def success(self) -> bool:
        return all(c.passed for c in self.checks)

    def render(self, started: str, transfer_id: str = "") -> str:
        """The feedback log's text (see transfer-packages.md, "The feedback log")."""
        lines = [
            f"Starting verification of {self.package} at {started}",
            f"Running {len(self.checks)} checks",
            "",
        ]
        for number, check in enumerate(self.checks, start=1):
            lines.append(f"== Check {number}: {check.name} ==")
            if check.not_run:
                lines.append(f"Not run: {check.not_run}")
            elif check.passed:
                lines.append("OK")
            else:
                lines += [f"WRONG: {p}" for p in check.problems]
                lines.append(f"RIGHT: {check.right}")
            lines.append("")
        failed = sum(1 for c in self.checks if not c.passed)
        if self.success:
            lines.append(f"All {len(self.checks)} checks passed: the package is accepted.")
            if transfer_id:
                lines.append(f"Transfer ID: {transfer_id}")
        else:
            lines.append(
                f"{failed} of {len(self.checks)} checks failed: the package is "
                "rejected. Fix it and upload it again."
            )
        lines.append(f"Finished verification of {self.package}")
        return "\n".join(lines) + "\n"


def feedback_key(key: str, success: bool, timestamp: str) -> str:
    """Where the feedback log goes: next to the upload. ``timestamp`` is the upload's, so a
    retried verification of the same upload writes the same key."""
    return f"{key}.{'success' if success else 'failed'}.{timestamp}.log"


def kind_for_key(key: str) -> tuple[str, str]:
    """(package kind, processing configuration) from the key's prefix."""
    for prefix, found in PREFIXES.items():
        if key.startswith(prefix):
            return found
    raise ValueError(
        f"Unable to determine processing config for key {key}: upload to {' or '.join(PREFIXES)}"
    )


def check(
    path: Path, kind: str, limits: Limits, timeout: int = 600, name: str | None = None
) -> Report:
    """Run every check on the zip at ``path`` for a package of ``kind``
    (``catalogued``, ``accession`` or ``any``)."""
    label = name or path.name
    readable = Check(
        "The package is a zip file that can be read",
        "a .zip made by a zip tool (not renamed from another format), complete",
    )
    safe = Check(
        "The package unpacks safely",
        "only files and folders, all inside the package, within the size limits",
    )
    top = Check(
        "Files are at the top level of the zip, beside metadata/",
        "zip the contents of your folder (the files and metadata/), not the folder",
    )
    only = Check(
        "metadata/ holds only metadata.csv and rights.csv",
        "metadata/metadata.csv and, optionally, metadata/rights.csv; nothing else",
    )
    metadata = Check(
        "metadata/metadata.csv is valid",
        "UTF-8 CSV, one row for objects/: filename,dc.identifier (catalogued) or "
        "filename,collection_reference,accession_number (accession), values filled in",
    )
    rights = Check(
        "metadata/rights.csv is valid (when present)",
        "the columns and values of transfer-packages.md, one row per file, basis "
        "and act, naming files in the package",
    )
    content = Check(
        "The package has content files",
        "the files to preserve at the top level of the zip, beside metadata/",
    )
    report = Report(label, [readable, safe, top, only, metadata, rights, content])
    members = _members(path, readable, timeout)
    if members is None:
        for later in report.checks[1:]:
            later.not_run = "the package could not be read"
        return report
    try:
        check_members(members, label, limits)
    except UnsafeArchive as exc:
        safe.problems += exc.details or [exc.message]
    files = {m.path for m in members if not m.is_dir}
    tops = {PurePosixPath(m.path).parts[0] for m in members if m.path}
    tops = {t for t in tops if not is_unneeded(t) and t != "__MACOSX"}
    if "metadata" not in tops and len(tops) == 1:
        [folder] = tops
        if any(f.startswith(f"{folder}/metadata/") for f in files):
            top.problems.append(f"everything is inside one folder, {escape(folder)}/")
    meta = sorted(f for f in files if f.startswith("metadata/"))
    only.problems += [
        f"{escape(f)} is not allowed"
        for f in meta
        if f.removeprefix("metadata/") not in METADATA_FILES
    ]
    objects = {
        f
        for f in files
        if not f.startswith(("metadata/", "__MACOSX/")) and not is_unneeded(PurePosixPath(f).name)
    }
    if not objects:
        content.problems.append("no files outside metadata/")
    with tempfile.TemporaryDirectory(prefix="preflight-") as work:
        extracted = _metadata_files(
            path, Path(work), {"metadata.csv": metadata, "rights.csv": rights}
        )
        if "metadata.csv" not in extracted:
            if not metadata.problems:
                metadata.problems.append("metadata/metadata.csv is missing")
        else:
            info = read_metadata_csv(extracted["metadata.csv"], kind, metadata.problems)
            report.identifier = info.identifier if info else ""
        if "rights.csv" in extracted:
            # rights.csv names files as objects/<path in the zip>.
            read_rights_csv(extracted["rights.csv"], objects.__contains__, rights.problems)
    return report


def _members(path: Path, readable: Check, timeout: int) -> list[Member] | None:
    try:
        kind = archive_kind(path)
        if kind != ZIP:
            what = f" (it is a {kind} archive named .zip; make a zip)" if kind else ""
            raise UnsafeArchive(f"File is not a zip file{what}")
        return list_members(path, ZIP, timeout)
    except UnsafeArchive as exc:
        cause = exc.__cause__ or exc.message
        readable.problems.append(f"Unable to read transfer package: {cause}")
    except OSError as exc:
        readable.problems.append(f"Unable to read transfer package: {exc.strerror}")
    return None


def _metadata_files(path: Path, work: Path, checks: dict[str, Check]) -> dict[str, Path]:
    """metadata.csv and rights.csv copied out of the zip, each only if it is within its
    size limit (a metadata file that unpacks to hundreds of MB is a problem of its check,
    never read into memory); an encrypted one is left to the safety check."""
    from preservation.tools.zip_reader import ZipReader

    found: dict[str, Path] = {}
    with ZipReader(path) as reader:
        for entry in reader.entries:
            name = entry.name.removeprefix("metadata/")
            if f"metadata/{name}" != entry.name or name not in checks or entry.encrypted:
                continue
            limit = METADATA_LIMITS[name]
            if entry.size > limit:
                checks[name].problems.append(
                    f"metadata/{name} is {entry.size:,} bytes unpacked, more than the limit "
                    f"of {limit:,}; it holds far more than metadata"
                )
                continue
            target = work / name
            try:
                with open(target, "wb") as out:
                    reader.copy(entry, out)
            except Exception as exc:  # a damaged member: the archive's own verdict
                if not is_damage(exc):
                    raise
                checks[name].problems.append(f"metadata/{name} cannot be read: {exc}")
                continue
            found[name] = target
    return found
