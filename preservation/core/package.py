"""The package a run works on: its identity, its directories and its state.

Identity is derived, not stored: the transfer and AIP UUIDs come from the run's key
(UUID version 5), so every task of a run, and every retry of a task, finds the same
package without passing anything but the run key around.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from preservation import SOFTWARE_ID, SOFTWARE_NAME
from preservation.core.fsutil import atomic_writer
from preservation.core.names import sanitize, shorten
from preservation.core.premis import Agent, stable_uuid
from preservation.core.processing_config import ProcessingConfig
from preservation.core.settings import Settings
from preservation.core.state import State

ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar", ".7z")


#: The longest transfer name: the working copy, the AIP and the DIP add a UUID, and
#: file names end at 255 bytes.
NAME_LIMIT = 100


def transfer_name(source: str) -> str:
    """The transfer's name from where it came: ``born-digital/PP MDM.zip`` -> ``PP_MDM``
    (portable, at most 100 characters: a longer one is cut, with a digest of the whole)."""
    path = urlparse(source).path if "://" in source else source
    name = PurePosixPath(path.rstrip("/")).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return shorten(sanitize(name), NAME_LIMIT) if name else "transfer"


def run_id_for(source: str, origin: str, unique: str) -> str:
    """A transfer_ingest run id a person reads: the package's name first, then where it came
    from and what keeps it unique (``PP_MDM_1__born-digital__3f2a9c1e0b``); only the
    characters Airflow allows in a run id."""
    name = re.sub(r"[^A-Za-z0-9_.~:+-]", "_", transfer_name(source))
    return f"{name}__{origin}__{unique}"


def run_note(source: str, config: str, identifier: str = "", kind: str = "") -> str:
    """What a transfer_ingest run shows on its header (Markdown): which package it is."""
    lines = [
        f"**Package:** {PurePosixPath(urlparse(source).path if '://' in source else source).name}",
        f"**Identifier:** {identifier or '(read at Verify transfer compliance)'}",
    ]
    if kind:
        lines.append(f"**Kind:** {kind}")
    lines += [f"**Processing configuration:** {config}", f"**Source:** {source}"]
    return "  \n".join(lines)


@dataclass(frozen=True)
class PackageRef:
    """What identifies a package across the tasks of one run."""

    name: str
    transfer_uuid: str
    aip_uuid: str

    @classmethod
    def for_run(cls, source: str, run_key: str) -> PackageRef:
        """The package of run ``run_key`` (for example ``transfer_ingest/manual__…``)."""
        return cls(
            name=transfer_name(source),
            transfer_uuid=stable_uuid("transfer", run_key),
            aip_uuid=stable_uuid("aip", run_key),
        )

    @property
    def transfer_dirname(self) -> str:
        return f"{self.name}-{self.transfer_uuid}"

    @property
    def aip_name(self) -> str:
        return f"{self.name}-{self.aip_uuid}"


#: Archivematica's three kinds of reingest: the METS's descriptive and rights metadata
#: only; normalization again with the current format policy registry; the whole chain
#: again from the AIP's originals.
REINGEST_MODES = ("metadata", "partial", "full")


@dataclass(frozen=True)
class Reingest:
    """A package that is a new version of a stored AIP (``reingest.json`` in the run's
    reingest folder, written once the stored AIP is fetched and verified)."""

    previous_aip: str  # the UUID of the version reingested
    identifier: str  # the identifier both versions are stored under
    version: int  # the previous version's number
    mode: str  # metadata | partial | full
    name: str  # the package's name (the AIP is <name>-<uuid>)
    mets_created: str  # the previous METS's CREATEDATE, kept by every later version
    bag: str = ""  # the fetched AIP's bag, inside the reingest folder

    FILE = "reingest.json"

    def __post_init__(self) -> None:
        if self.mode not in REINGEST_MODES:
            raise ValueError(f"reingest mode {self.mode!r}: use one of {', '.join(REINGEST_MODES)}")

    @staticmethod
    def folder(settings: Settings, run_key: str) -> Path:
        """Where a reingest run keeps the fetched AIP and what it makes of it."""
        return settings.processing_directory / "reingest" / stable_uuid("reingest", run_key)

    @classmethod
    def load(cls, folder: Path) -> Reingest | None:
        path = folder / cls.FILE
        return cls(**json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None

    def save(self, folder: Path) -> None:
        with atomic_writer(folder / self.FILE) as handle:
            handle.write(json.dumps(asdict(self), indent=1).encode("utf-8"))


@dataclass
class Package:
    """A package being processed: identity, settings, configuration and who started it
    (and, for a reingest, which stored AIP it is a new version of)."""

    ref: PackageRef
    settings: Settings
    config: ProcessingConfig
    started_by: str = "system"
    reingest: Reingest | None = None

    @property
    def transfer_dir(self) -> Path:
        """The working copy of the transfer: ``currentlyProcessing/<name>-<uuid>/``."""
        return self.settings.processing_directory / self.ref.transfer_dirname

    @property
    def state_path(self) -> Path:
        return self.settings.processing_directory / f"{self.ref.transfer_dirname}.db"

    @property
    def sip_dir(self) -> Path:
        """The SIP, built as the bag it becomes: ``<name>-<aip uuid>/data/…``."""
        return self.settings.processing_directory / self.ref.aip_name

    @property
    def sip_data(self) -> Path:
        return self.sip_dir / "data"

    @property
    def mets_path(self) -> Path:
        return self.sip_data / f"METS.{self.ref.aip_uuid}.xml"

    @property
    def dip_dir(self) -> Path:
        """The DIP being assembled (access copies, thumbnails, METS), named like the AIP."""
        return (
            self.settings.shared_directory / "watchedDirectories" / "uploadDIP" / self.ref.aip_name
        )

    @property
    def transfer_logs_in_sip(self) -> PurePosixPath:
        return PurePosixPath("logs", "transfers", self.ref.transfer_dirname, "logs")

    @property
    def transfer_metadata_in_sip(self) -> PurePosixPath:
        return PurePosixPath("objects", "metadata", "transfers", self.ref.transfer_dirname)

    @property
    def submission_documentation_in_sip(self) -> PurePosixPath:
        return PurePosixPath(
            "objects", "submissionDocumentation", f"transfer-{self.ref.transfer_dirname}"
        )

    @cached_property
    def state(self) -> State:
        return State(self.state_path)

    def close(self) -> None:
        if "state" in self.__dict__:
            self.state.close()
            del self.__dict__["state"]

    def current_dir(self) -> Path:
        """Where file paths in the state are relative to: the SIP once it exists."""
        return self.sip_data if self.state.facts().sip_created else self.transfer_dir

    def logs_dir(self) -> Path:
        """Where micro-services write their logs: the transfer's, or the SIP's copy once
        the SIP exists."""
        if self.state.facts().sip_created:
            return self.sip_data / self.transfer_logs_in_sip
        return self.transfer_dir / "logs"

    def agents(self) -> list[Agent]:
        """The three agents linked to every event: software, organization, user."""
        return [
            Agent("preservation system", SOFTWARE_ID, SOFTWARE_NAME, "software"),
            Agent(
                "repository code",
                self.settings.organization_code,
                self.settings.organization_name,
                "organization",
            ),
            Agent("Airflow user", self.started_by, self.started_by, "Airflow user"),
        ]
