"""Which AIP location a run stores into: the local folder (embedded default) or S3.

``PRESERVATION_AIP_STORE=s3://bucket/prefix`` stores AIPs on S3 through the run's Airflow
connection (conf ``aws_conn_id``, else ``PRESERVATION_AWS_CONN_ID``, else
``aws_default``), in the space the AIP belongs to (born-digital, born-digital-accessions,
testing).
"""

from __future__ import annotations

from urllib.parse import urlparse


def aip_location(package, context):
    """The Location for this run's AIP (built at execute time, never at parse time)."""
    from preservation.store_aip import default_location

    url = package.settings.aip_store_url
    if not url.startswith("s3://"):
        return default_location(package)
    from preservation.s3_storage import S3Location, space_for
    from preservation_airflow.transfer_bucket import conn_id_for, s3_client

    identifier = kind = ""
    # Before Verify transfer compliance (or after Clean up) the identifier is unknown: the
    # index, which finds an AIP by UUID whatever its space, still answers.
    if package.state_path.exists():
        identifier = package.state.meta("external_identifier") or ""
        kind = package.state.meta("package_kind") or ""
    parsed = urlparse(url)
    space = space_for(identifier, kind, package.settings.test_identifier_prefix)
    return S3Location(s3_client(conn_id_for(context)), parsed.netloc, parsed.path, space)
