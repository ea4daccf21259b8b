"""Storage locations addressed by URL: ``file:///path`` (the embedded default) or
``s3://bucket/prefix`` (production).

The library never builds an S3 client itself: the caller hands in a factory (on the
Airflow side, one that builds the client from an Airflow connection with S3Hook), so
credentials live in connections, never in code or settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from preservation.core.errors import ConfigurationInvalid
from preservation.storage.location import LocalLocation, Location
from preservation.storage.spaces import BORN_DIGITAL


def open_location(
    url: str, default: Path, s3_client: Callable[[], object] | None = None, space: str = ""
) -> Location:
    """The location at ``url`` (empty: the local folder ``default``). ``space`` is the
    S3 space AIPs are written to (born-digital, born-digital-accessions, testing)."""
    parsed = urlparse(url)
    if not url:
        return LocalLocation(default)
    if parsed.scheme == "file":
        return LocalLocation(Path(unquote(parsed.path)))
    if parsed.scheme == "s3" and parsed.netloc:
        if s3_client is None:
            raise ConfigurationInvalid(f"{url}: no S3 client here to reach it")
        from preservation.storage.s3_storage import S3Location

        return S3Location(s3_client(), parsed.netloc, parsed.path, space or BORN_DIGITAL)
    raise ConfigurationInvalid(
        f"{url!r} is not a location: use file:///absolute/path or s3://bucket/prefix"
    )


def default_aip_location(package) -> LocalLocation:
    """The embedded default AIP store: a local folder under PRESERVATION_HOME."""
    return LocalLocation(package.settings.aip_store)
