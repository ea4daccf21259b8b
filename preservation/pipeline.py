"""The order of Archivematica's micro-services from transfer to stored AIP.

The transfer_ingest DAG wires its tasks in this order (a test holds it to that); the
benchmark and the tests run the library in the same order.
"""

#: Per-file stages: in the DAG they are mapped over chunks of files (preservation.chunks).
PER_FILE = ("characterize_files", "validate_files", "normalize_files", "transcribe_files")

TRANSFER_INGEST = (
    "receive_transfer",
    "verify_transfer_compliance",
    "assign_file_uuids",
    "verify_transfer_checksums",
    "scan_for_viruses",
    "change_filenames",
    "identify_file_formats",
    "extract_packages",
    "characterize_files",
    "validate_files",
    "create_sip",
    "normalize_files",
    "transcribe_files",
    "generate_aip_mets",
    "add_readme",
    "prepare_aip",
    "compress_aip",
    "store_aip",
    "store_dip",
    "clean_up",
)
