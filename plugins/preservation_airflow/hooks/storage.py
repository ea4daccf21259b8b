"""Which storage and which drop box a run uses, built at execute time (never at parse time).

Each location is a URL setting: ``PRESERVATION_AIP_STORE``, ``PRESERVATION_AIP_REPLICAS``
and ``PRESERVATION_DIP_STORE`` (empty: the local folders under ``PRESERVATION_HOME``;
``file:///path``; ``s3://bucket/prefix``), and the drop box ``PRESERVATION_TRANSFER_SOURCE``.
S3 is reached through the run's Airflow connection (conf ``aws_conn_id``, else
``PRESERVATION_AWS_CONN_ID``, else ``aws_default``), and AIPs go to the space they belong
to (born-digital, born-digital-accessions, testing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def conn_id_for(context) -> str:
    """The run's Airflow connection to S3: its conf's ``aws_conn_id`` (set by the watcher),
    else ``PRESERVATION_AWS_CONN_ID``, else ``aws_default``."""
    from preservation_airflow.dag_defaults import aws_conn_id

    conf = context["dag_run"].conf or {}
    return conf.get("aws_conn_id") or aws_conn_id()


def s3_client(aws_conn_id: str):
    """A boto3 S3 client for the Airflow connection ``aws_conn_id``."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def require_connection(aws_conn_id: str) -> None:
    """ConfigurationInvalid unless the Airflow connection exists: without it boto3 would
    quietly fall back to whatever credentials the machine has."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from preservation.core.errors import ConfigurationInvalid

    try:
        BaseHook.get_connection(aws_conn_id)
    except AirflowNotFoundException:
        raise ConfigurationInvalid(
            f"The Airflow connection {aws_conn_id!r} is not defined: create it (type aws; "
            "credentials as login and password, an S3-compatible store's address as "
            'extra {"endpoint_url": …}; empty to use the machine\'s role), or set '
            "PRESERVATION_AWS_CONN_ID to the connection that reaches the drop box"
        ) from None


def client_factory(aws_conn_id: str):
    """Builds an S3 client for the connection when a location needs one (never at parse
    time, never for a local location)."""

    def client():
        return s3_client(aws_conn_id)

    return client


def transfer_source(url: str, aws_conn_id: str):
    """The drop box at ``url``, reached through ``aws_conn_id`` when it is on S3."""
    from preservation.intake.transfer_source import open_transfer_source

    if url.startswith("s3://"):
        require_connection(aws_conn_id)
    return open_transfer_source(
        url, client_factory(aws_conn_id), credentials=f"the Airflow connection {aws_conn_id!r}"
    )


def drop_box_upload(context):
    """(drop box, upload) of a run the watcher started, None for a transfer given by
    path or URL by hand (whose source is never touched)."""
    from preservation.intake.transfer_source import Upload, split_upload_url

    conf = context["dag_run"].conf or {}
    if not conf.get("etag") or not conf.get("transfer"):
        return None
    source_url, key = split_upload_url(conf["transfer"], conf.get("transfer_source", ""))
    source = transfer_source(source_url, conn_id_for(context))
    uploaded = conf.get("uploaded")
    arrived = datetime.fromisoformat(uploaded) if uploaded else datetime.now(UTC)
    return source, Upload(source.url, key, conf["etag"], arrived)


def _space(package) -> str:
    from preservation.storage.spaces import space_for

    identifier = kind = ""
    # Before Verify transfer compliance (or after Clean up) the identifier is unknown: the
    # index, which finds an AIP by UUID whatever its space, still answers.
    if package.state_path.exists():
        facts = package.state.facts()
        identifier, kind = facts.external_identifier, facts.package_kind
    return space_for(identifier, kind, package.settings.test_identifier_prefix)


def aip_store(settings, aws_conn_id: str, space: str = ""):
    """The deployment's main AIP location (its index answers "is it stored")."""
    from preservation.storage.locations import open_location

    return open_location(
        settings.aip_store_url, settings.aip_store, client_factory(aws_conn_id), space
    )


def aip_replicas(settings, aws_conn_id: str, space: str = "") -> list:
    """The deployment's AIP replica locations (``PRESERVATION_AIP_REPLICAS``)."""
    from preservation.storage.locations import open_location

    client = client_factory(aws_conn_id)
    return [open_location(url, None, client, space) for url in settings.aip_replica_urls]


def aip_location(package, context):
    """The main AIP location of this run, writing into the space its AIP belongs to."""
    return aip_store(package.settings, conn_id_for(context), _space(package))


def locations(needs: tuple[str, ...], package, context) -> dict:
    """The storage a stage's ``run`` takes, by the parameter names of the stage table's
    ``needs``: ``location`` (the AIP store), ``replicas``, ``dip_location``, and
    ``drop_box`` (the drop box and ``upload_key`` of the run's upload, if it has one)."""
    from preservation.storage.locations import open_location

    settings = package.settings
    conn_id, space = conn_id_for(context), _space(package)
    kwargs = {}
    if "location" in needs:
        kwargs["location"] = aip_store(settings, conn_id, space)
    if "replicas" in needs:
        kwargs["replicas"] = aip_replicas(settings, conn_id, space)
    if "dip_location" in needs:
        kwargs["dip_location"] = open_location(
            settings.dip_store_url, settings.dip_store, client_factory(conn_id), space
        )
    if "drop_box" in needs:
        upload = drop_box_upload(context)
        if upload is not None:
            kwargs |= {"drop_box": upload[0], "upload_key": upload[1].key}
    return kwargs


@contextmanager
def stage_inputs(needs: tuple[str, ...], source: str, package, context, log) -> Iterator[dict]:
    """Everything a stage's ``run`` takes besides the package, by its ``needs``: the
    transfer (``source``: downloaded from the drop box into the processing directory and
    removed again once the stage ends) and its storage (:func:`locations`)."""
    kwargs = locations(needs, package, context)
    downloaded = None
    try:
        if "source" in needs:
            downloaded = download_transfer(source, package, context, log)
            kwargs["source"] = downloaded or source
        yield kwargs
    finally:
        if downloaded:
            Path(downloaded).unlink(missing_ok=True)


def download_transfer(url: str, package, context, log) -> str | None:
    """A copy, in the processing directory, of exactly the upload the watcher checked
    (the upload stays in the drop box until its AIP is verified in storage); None for
    a local transfer given by hand, which Receive transfer reads in place."""
    from preservation.core.errors import StorageUnavailable
    from preservation.intake.transfer_source import Upload, split_upload_url

    found = drop_box_upload(context)
    if found is None:
        if not url.startswith("s3://"):
            return None
        # An s3:// URL given by hand: the upload there now.
        source_url, key = split_upload_url(url)
        source = transfer_source(source_url, conn_id_for(context))
        upload = source.upload(key)
        if upload is None:
            raise StorageUnavailable(f"Cannot download {url}: there is no such upload")
        found = source, Upload(source.url, key, upload.etag, upload.last_modified)
    source, upload = found
    target = package.settings.shared_directory / "downloads" / f"{package.ref.transfer_uuid}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    source.fetch(upload, target)
    log.info("Copied %s (ETag %s) to %s", upload.url, upload.etag, target)
    return str(target)
