"""The stage table: Archivematica's micro-services from transfer to stored AIP, in order.

One row per stage: its module under ``preservation/`` (verb_object, with ``NAME`` and
``run``), the micro-service's name as Archivematica spells it (the task's display name
in the Airflow UI), whether it works per file (mapped over chunks of files in the DAG,
on the heavy queue), which half of the workflow it belongs to, and the Airflow assets it
updates. The transfer_ingest DAG, the Packages page, the benchmark and the tests all
read it; a test holds each ``name`` to its module's ``NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    service: str
    name: str
    group: str  # "transfer" | "ingest", as Archivematica's two halves
    per_file: bool = False
    outlets: tuple[str, ...] = ()  # asset names (preservation_airflow.notify's)


STAGES = (
    Stage("receive_transfer", "Receive transfer", "transfer"),
    Stage("verify_transfer_compliance", "Verify transfer compliance", "transfer"),
    Stage("assign_file_uuids", "Assign file UUIDs and checksums", "transfer"),
    Stage("verify_transfer_checksums", "Verify transfer checksums", "transfer"),
    Stage("scan_for_viruses", "Scan for viruses", "transfer"),
    Stage("change_filenames", "Change filenames", "transfer"),
    Stage("identify_file_formats", "Identify file format", "transfer"),
    Stage("extract_packages", "Extract packages", "transfer"),
    Stage("characterize_files", "Characterize and extract metadata", "transfer", True),
    Stage("validate_files", "Validation", "transfer", True),
    Stage("create_sip", "Create SIP", "ingest"),
    Stage("normalize_files", "Normalize", "ingest", True),
    Stage("transcribe_files", "Transcribe SIP contents", "ingest", True),
    Stage("generate_aip_mets", "Generate AIP METS", "ingest"),
    Stage("add_readme", "Add README.html", "ingest"),
    Stage("prepare_aip", "Prepare AIP", "ingest"),
    Stage("compress_aip", "Compress AIP", "ingest"),
    Stage("store_aip", "Store AIP", "ingest", outlets=("stored_aips",)),
    Stage("store_dip", "Store DIP", "ingest"),
    Stage("clean_up", "Clean up", "ingest"),
)

TRANSFER_INGEST = tuple(s.service for s in STAGES)
#: Per-file stages: in the DAG they are mapped over chunks of files (preservation.chunks).
PER_FILE = tuple(s.service for s in STAGES if s.per_file)
