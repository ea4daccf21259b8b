"""Named processing configurations: which optional steps run and how the AIP is packed.

They are TOML files in ``preservation/core/processing_configs/``; the name of the file is the
name of the configuration, as in Archivematica's processing configuration screen.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources

from preservation.core.errors import TransferInvalid

PACKAGE_KINDS = ("any", "catalogued", "accession")
COMPRESSIONS = ("uncompressed", "tar", "tar.gz", "7z-bzip2", "7z-lzma")
NORMALIZATIONS = ("preservation_and_access", "preservation", "access", "none")
#: Archivematica's decision points: each a preset (unattended) or "ask" (a person answers
#: in Airflow's Required Actions). Older configurations without them run unattended.
DECISIONS = {
    "approve_transfer": ("approve", "ask"),
    "choose_normalization": ("preset", "ask"),
    "review_aip": ("approve", "ask"),
}
OPTIONAL = {**{k: v[0] for k, v in DECISIONS.items()}, "decision_timeout_minutes": 1440}


@dataclass(frozen=True)
class ProcessingConfig:
    """One processing configuration, as read from its TOML file."""

    name: str
    description: str
    package_kind: str
    accept_checksum_files: bool
    identify_formats: bool
    extract_packages: bool
    delete_packages_after_extraction: bool
    compression: str
    compression_level: int
    characterize: bool
    validate: bool
    fail_on_invalid: bool
    normalize: str
    thumbnails: bool
    transcribe: bool
    approve_transfer: str = "approve"
    choose_normalization: str = "preset"
    review_aip: str = "approve"
    #: How long an asked decision waits before the configuration's own answer is taken.
    decision_timeout_minutes: int = 1440

    def asks(self, decision: str) -> bool:
        """Whether the decision point ``decision`` waits for a person's answer."""
        return getattr(self, decision) == "ask"

    @property
    def normalize_for_preservation(self) -> bool:
        return self.normalize in ("preservation_and_access", "preservation")

    @property
    def normalize_for_access(self) -> bool:
        return self.normalize in ("preservation_and_access", "access")


def available() -> list[str]:
    """The names of the processing configurations shipped with the library."""
    folder = resources.files("preservation.core") / "processing_configs"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load(name: str) -> ProcessingConfig:
    """Load the processing configuration called ``name``; unknown names are a clear error."""
    names = available()
    if name not in names:
        raise TransferInvalid(
            f"Unknown processing configuration {name!r}: choose one of {', '.join(names)}"
        )
    path = resources.files("preservation.core") / "processing_configs" / f"{name}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    expected = {f.name for f in fields(ProcessingConfig)} - {"name"}
    problems = [f"missing setting {k!r}" for k in sorted(expected - data.keys() - OPTIONAL.keys())]
    problems += [f"unknown setting {k!r}" for k in sorted(data.keys() - expected)]
    if data.get("package_kind") not in PACKAGE_KINDS:
        problems.append(f"package_kind must be one of {PACKAGE_KINDS}")
    if data.get("compression") not in COMPRESSIONS:
        problems.append(f"compression must be one of {COMPRESSIONS}")
    if data.get("normalize") not in NORMALIZATIONS:
        problems.append(f"normalize must be one of {NORMALIZATIONS}")
    for decision, modes in DECISIONS.items():
        if data.get(decision, modes[0]) not in modes:
            problems.append(f"{decision} must be one of {modes}")
    timeout = data.get("decision_timeout_minutes", 1)
    if not isinstance(timeout, int) or timeout < 1:
        problems.append("decision_timeout_minutes must be a whole number of minutes, 1 or more")
    if problems:
        raise TransferInvalid(f"Processing configuration {name!r} is not valid", problems)
    return ProcessingConfig(name=name, **data)
