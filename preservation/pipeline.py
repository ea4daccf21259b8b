"""The stage table: Archivematica's micro-services from transfer to stored AIP, in order,
with its three decision points among them.

One row per stage: a micro-service's module under ``preservation/services/``
(verb_object, with ``NAME`` and ``run``), or a decision point (``decision``: the
processing configuration setting of that name), the name as Archivematica spells it (the
task's display name in the Airflow UI), whether it works per file (mapped over chunks of
files in the DAG, on the heavy queue), which half of the workflow it belongs to, the
Airflow assets it updates, and what its ``run`` takes besides the package (``needs``, by
parameter name: ``source`` the transfer, ``location`` and ``replicas`` the AIP's
storage, ``dip_location`` the DIP's, ``drop_box`` the upload to settle after storage; a
per-file stage also takes its ``chunk``). The transfer_ingest DAG, the Packages page,
the benchmark and the tests all read it; a test holds each ``name`` to its module's
``NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    service: str
    name: str
    group: str  # "transfer" | "ingest", as Archivematica's two halves
    per_file: bool = False
    outlets: tuple[str, ...] = ()  # asset names (preservation_airflow.hooks.slack's)
    needs: tuple[str, ...] = ()
    #: A decision point, not a micro-service; its ``service`` names the processing
    #: configuration setting (preset, or "ask" a person: preservation.shared.decisions).
    decision: bool = False

    @property
    def module(self) -> str:
        """The micro-service's module, e.g. ``preservation.services.receive_transfer``."""
        return f"{__package__}.services.{self.service}"


STAGES = (
    Stage("receive_transfer", "Receive transfer", "transfer", needs=("source", "location")),
    Stage("verify_transfer_compliance", "Verify transfer compliance", "transfer"),
    Stage("assign_file_uuids", "Assign file UUIDs and checksums", "transfer"),
    Stage("verify_transfer_checksums", "Verify transfer checksums", "transfer"),
    Stage("scan_for_viruses", "Scan for viruses", "transfer"),
    Stage("change_filenames", "Change filenames", "transfer"),
    Stage("identify_file_formats", "Identify file format", "transfer"),
    Stage("extract_packages", "Extract packages", "transfer"),
    Stage("characterize_files", "Characterize and extract metadata", "transfer", True),
    Stage("validate_files", "Validation", "transfer", True),
    Stage("approve_transfer", "Approve transfer", "transfer", decision=True),
    Stage("create_sip", "Create SIP", "ingest"),
    Stage("choose_normalization", "Choose normalization", "ingest", decision=True),
    Stage("normalize_files", "Normalize", "ingest", True),
    Stage("transcribe_files", "Transcribe SIP contents", "ingest", True),
    Stage("generate_aip_mets", "Generate AIP METS", "ingest"),
    Stage("add_readme", "Add README.html", "ingest"),
    Stage("prepare_aip", "Prepare AIP", "ingest"),
    Stage("compress_aip", "Compress AIP", "ingest"),
    Stage("review_aip", "Review AIP", "ingest", decision=True),
    Stage(
        "store_aip",
        "Store AIP",
        "ingest",
        outlets=("stored_aips",),
        needs=("location", "replicas"),
    ),
    Stage("store_dip", "Store DIP", "ingest", needs=("dip_location",)),
    Stage("clean_up", "Clean up", "ingest", needs=("location", "replicas", "drop_box")),
)

#: The micro-services, in order (the decision points left out).
TRANSFER_INGEST = tuple(s.service for s in STAGES if not s.decision)
DECISIONS = tuple(s.service for s in STAGES if s.decision)
#: Per-file stages: in the DAG they are mapped over chunks of files (preservation.core.chunks).
PER_FILE = tuple(s.service for s in STAGES if s.per_file)
#: The stages from Store AIP on: they run (and are cleared) after the AIP is stored; the
#: stages before it skip themselves once it is, so a cleared one never makes a second AIP.
AFTER_STORAGE = TRANSFER_INGEST[TRANSFER_INGEST.index("store_aip") :]


#: What a reingest of each mode runs again (the other stages skip themselves): metadata
#: only, the METS and the AIP are made again; partial, normalization first; full, all.
_AIP = ("generate_aip_mets", "add_readme", "prepare_aip", "compress_aip", "review_aip")
REINGEST = {
    "metadata": (*_AIP, "store_aip", "clean_up"),
    "partial": (
        "choose_normalization",
        "normalize_files",
        "transcribe_files",
        *_AIP,
        "store_aip",
        "store_dip",
        "clean_up",
    ),
    "full": tuple(s.service for s in STAGES),
}


def stage(service: str) -> Stage:
    """The row of the stage table for ``service``."""
    for row in STAGES:
        if row.service == service:
            return row
    raise KeyError(f"{service!r} is not a stage of the pipeline ({', '.join(TRANSFER_INGEST)})")
