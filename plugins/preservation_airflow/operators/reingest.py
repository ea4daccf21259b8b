"""Airflow side of reingest (``preservation.operations.aip_reingest``): the first task of
an aip_reingest run, which fetches and verifies the stored AIP and makes of it what the
run's mode starts from; the stages after it are transfer_ingest's, each skipping itself
when the mode does not run it again (``preservation.pipeline.REINGEST``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from preservation_airflow.operators.micro_service import package_for
from preservation_airflow.operators.verdicts import VERDICT_POLICY, refuse


class ReingestAipOperator(BaseOperator):
    """Fetch the AIP ``aip`` (UUID or identifier; ``version``, else its newest) from the
    AIP store, verify it, and prepare the ``mode`` reingest, with new ``metadata_csv``
    and ``rights_csv`` when given (paths the workers can read)."""

    template_fields: Sequence[str] = ("aip", "version", "mode", "metadata_csv", "rights_csv")
    ui_color = "#e3ecf7"

    def __init__(
        self,
        *,
        aip: str,
        mode: str,
        version: str = "",
        metadata_csv: str = "",
        rights_csv: str = "",
        **kwargs,
    ):
        kwargs.setdefault("retry_policy", VERDICT_POLICY)
        super().__init__(**kwargs)
        self.aip, self.mode, self.version = aip, mode, version
        self.metadata_csv, self.rights_csv = metadata_csv, rights_csv

    def execute(self, context):
        from preservation.core.errors import PackageRejected
        from preservation.core.package import PackageRef, Reingest
        from preservation.core.settings import load_settings
        from preservation.operations import aip_reingest
        from preservation_airflow.hooks.storage import aip_store, conn_id_for

        dag_run, ti = context["dag_run"], context["ti"]
        settings = load_settings()
        run_key = f"{dag_run.dag_id}/{dag_run.run_id}"
        location = aip_store(settings, conn_id_for(context))
        new_aip = PackageRef.for_run("", run_key).aip_uuid
        if location.index.record(new_aip):
            # Cleared on a finished run: the new version is stored, its working copies gone.
            raise AirflowSkipException(f"AIP {new_aip} (this reingest's) is already stored")
        package = None
        try:
            reingest = aip_reingest.fetch(
                location,
                Reingest.folder(settings, run_key),
                self.aip,
                self.mode.strip(),
                int(self.version) if str(self.version).strip() else None,
                settings,
            )
            self.log.info(
                "%s: version %s of %s (AIP %s), %s reingest as AIP %s",
                aip_reingest.NAME,
                reingest.version,
                reingest.identifier,
                reingest.previous_aip,
                reingest.mode,
                new_aip,
            )
            package, source = package_for(context)
            result = aip_reingest.prepare(
                package,
                location,
                Path(source),
                Path(self.metadata_csv) if self.metadata_csv.strip() else None,
                Path(self.rights_csv) if self.rights_csv.strip() else None,
            )
        except PackageRejected as verdict:
            refuse(self, context, aip_reingest.NAME, verdict, "the reingest")
        except Exception as fault:
            ti.xcom_push(key="failure_reason", value=f"{type(fault).__name__}: {fault}")
            raise
        finally:
            if package is not None:
                package.close()
        summary = {**result.__dict__, "aip_uuid": new_aip}
        self.log.info("%s done: %s", aip_reingest.NAME, summary)
        return summary
