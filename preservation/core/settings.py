"""Where things live and who we are: read from the environment, never from code.

``PRESERVATION_HOME`` (default ``./var``) holds the Airflow home, the processing
directory (``sharedDirectory/currentlyProcessing``) and the local storage locations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def transfer_source_url(env, home: Path) -> str:
    """The drop box's URL: ``PRESERVATION_TRANSFER_SOURCE`` (``s3://bucket[/prefix]`` or
    ``file:///folder``), else the bucket ``PRESERVATION_TRANSFER_BUCKET`` names, else the
    folder ``transfers/`` under ``PRESERVATION_HOME`` (the embedded default)."""
    if env.get("PRESERVATION_TRANSFER_SOURCE"):
        return env["PRESERVATION_TRANSFER_SOURCE"]
    if env.get("PRESERVATION_TRANSFER_BUCKET"):
        return f"s3://{env['PRESERVATION_TRANSFER_BUCKET']}"
    return (home / "transfers").as_uri()


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Limits:
    """Safety limits applied when unpacking anything an archivist sent us."""

    max_members: int = 200_000
    max_total_bytes: int = 200 * 1024**3
    max_nesting: int = 5
    #: Folders one path may go down (a tree thousands deep is refused, never recursed).
    max_depth: int = 100


@dataclass(frozen=True)
class Settings:
    """Deployment settings. Build with :func:`load_settings`."""

    home: Path
    organization_name: str
    organization_code: str
    clamd_socket: str
    clamav_database: str | None
    tool_timeout: int
    workers: int
    chunk_files: int
    limits: Limits
    aip_store_url: str = ""
    transfer_source_url: str = ""
    aip_replica_urls: tuple[str, ...] = ()
    dip_store_url: str = ""
    source_after_storage: str = "monitor"
    test_identifier_prefix: str = "archivematica-dev/TEST"
    #: Files above this many MiB are not given to ClamAV (which cannot scan past 2 GiB).
    virus_scan_max_mb: int = 2047
    #: Bytes of the processing directory's disk a stage leaves free for the other runs.
    disk_reserve: int = 64 * 1024 * 1024

    @property
    def shared_directory(self) -> Path:
        return self.home / "sharedDirectory"

    @property
    def processing_directory(self) -> Path:
        return self.shared_directory / "currentlyProcessing"

    @property
    def default_transfer_source_url(self) -> str:
        """The embedded default's drop box, the folder ``transfers/`` of the home."""
        return (self.home / "transfers").as_uri()

    @property
    def aip_store(self) -> Path:
        return self.home / "locations" / "aipstore"

    @property
    def dip_store(self) -> Path:
        return self.home / "locations" / "dipstore"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read the settings from the environment (or ``environ`` when given)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("PRESERVATION_HOME", "var")).resolve()
    return Settings(
        home=home,
        organization_name=env.get("PRESERVATION_ORGANIZATION_NAME", "Example Archive"),
        organization_code=env.get("PRESERVATION_ORGANIZATION_CODE", "example"),
        clamd_socket=env.get("CLAMD_SOCKET", "/var/run/clamav/clamd.ctl"),
        clamav_database=env.get("CLAMAV_DATABASE") or None,
        tool_timeout=_int_env("PRESERVATION_TOOL_TIMEOUT", 3600),
        workers=_int_env("PRESERVATION_WORKERS", os.cpu_count() or 1),
        # Files per chunk of the per-file stages (characterize, validate, normalize).
        chunk_files=max(1, _int_env("PRESERVATION_CHUNK_FILES", 500)),
        # s3://bucket/prefix stores AIPs on S3 (through the Airflow connection); empty: the
        # local folder under PRESERVATION_HOME.
        aip_store_url=env.get("PRESERVATION_AIP_STORE", ""),
        transfer_source_url=transfer_source_url(env, home),
        # More locations every AIP is also written to and verified in before it counts as
        # stored (space- or comma-separated URLs).
        aip_replica_urls=tuple(env.get("PRESERVATION_AIP_REPLICAS", "").replace(",", " ").split()),
        dip_store_url=env.get("PRESERVATION_DIP_STORE", ""),
        # What happens to the source in the transfer bucket once its AIP is verified in
        # storage: "monitor" (the weekly transfer monitor deletes it), "delete" (now),
        # "keep" (never deleted; tagged so the monitor leaves it).
        source_after_storage=env.get("PRESERVATION_SOURCE_AFTER_STORAGE", "monitor"),
        # ClamAV skips files above its own limits (100 MB by default) and calls them OK:
        # clamscan is given this limit instead, clamd's MaxFileSize/MaxScanSize must match.
        virus_scan_max_mb=min(2047, _int_env("PRESERVATION_VIRUS_SCAN_MAX_MB", 2047)),
        disk_reserve=_int_env("PRESERVATION_DISK_RESERVE_MB", 64) * 1024 * 1024,
        test_identifier_prefix=env.get(
            "PRESERVATION_TEST_IDENTIFIER_PREFIX", "archivematica-dev/TEST"
        ),
        limits=Limits(
            max_members=_int_env("PRESERVATION_MAX_MEMBERS", Limits.max_members),
            max_total_bytes=_int_env("PRESERVATION_MAX_BYTES", Limits.max_total_bytes),
            max_nesting=_int_env("PRESERVATION_MAX_NESTING", Limits.max_nesting),
            max_depth=_int_env("PRESERVATION_MAX_DEPTH", Limits.max_depth),
        ),
    )
