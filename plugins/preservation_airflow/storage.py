"""Which storage locations a run uses, built at execute time (never at parse time).

Each location is a URL setting: ``PRESERVATION_AIP_STORE``, ``PRESERVATION_AIP_REPLICAS``
and ``PRESERVATION_DIP_STORE`` (empty: the local folders under ``PRESERVATION_HOME``;
``file:///path``; ``s3://bucket/prefix``). S3 is reached through the run's Airflow
connection (conf ``aws_conn_id``, else ``PRESERVATION_AWS_CONN_ID``, else
``aws_default``), and AIPs go to the space they belong to (born-digital,
born-digital-accessions, testing).
"""

from __future__ import annotations


def _space(package) -> str:
    from preservation.s3_storage import space_for

    identifier = kind = ""
    # Before Verify transfer compliance (or after Clean up) the identifier is unknown: the
    # index, which finds an AIP by UUID whatever its space, still answers.
    if package.state_path.exists():
        identifier = package.state.meta("external_identifier") or ""
        kind = package.state.meta("package_kind") or ""
    return space_for(identifier, kind, package.settings.test_identifier_prefix)


def _client(context):
    from preservation_airflow.transfer_bucket import conn_id_for, s3_client

    conn_id = conn_id_for(context)
    return lambda: s3_client(conn_id)


def aip_location(package, context):
    """The main AIP location of this run."""
    from preservation.locations import open_location

    settings = package.settings
    return open_location(
        settings.aip_store_url, settings.aip_store, _client(context), _space(package)
    )


def location_kwargs(service: str, package, context, source: str) -> dict:
    """The locations (and the source upload) a storage stage works on."""
    from preservation.locations import open_location

    settings = package.settings
    client, space = _client(context), _space(package)
    replicas = [open_location(u, None, client, space) for u in settings.aip_replica_urls]
    if service == "store_dip":
        return {
            "location": open_location(settings.dip_store_url, settings.dip_store, client, space)
        }
    kwargs = {"location": aip_location(package, context), "replicas": replicas}
    if service == "clean_up":
        kwargs |= {"source": source, "source_client": client}
    return kwargs
