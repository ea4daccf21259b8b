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


def client_factory(aws_conn_id: str):
    """Builds an S3 client for the connection when a location needs one (never at parse
    time, never for a local location)."""

    def client():
        from preservation_airflow.transfer_bucket import s3_client

        return s3_client(aws_conn_id)

    return client


def aip_store(settings, aws_conn_id: str, space: str = ""):
    """The deployment's main AIP location (its index answers "is it stored")."""
    from preservation.locations import open_location

    return open_location(
        settings.aip_store_url, settings.aip_store, client_factory(aws_conn_id), space
    )


def aip_location(package, context):
    """The main AIP location of this run, writing into the space its AIP belongs to."""
    from preservation_airflow.transfer_bucket import conn_id_for

    return aip_store(package.settings, conn_id_for(context), _space(package))


def location_kwargs(service: str, package, context, source: str) -> dict:
    """The locations (and the source upload) a storage stage works on."""
    from preservation.locations import open_location
    from preservation_airflow.transfer_bucket import conn_id_for

    settings = package.settings
    conn_id, space = conn_id_for(context), _space(package)
    client = client_factory(conn_id)
    if service == "store_dip":
        return {
            "location": open_location(settings.dip_store_url, settings.dip_store, client, space)
        }
    kwargs = {
        "location": aip_store(settings, conn_id, space),
        "replicas": [open_location(u, None, client, space) for u in settings.aip_replica_urls],
    }
    if service == "clean_up":
        kwargs |= {"source": source, "source_client": client}
    return kwargs
