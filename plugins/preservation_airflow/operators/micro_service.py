"""The one operator every transfer_ingest stage uses: run one preservation micro-service.

The operator turns the run into a package (identity derived from the run, settings from
the environment, processing configuration from the run's conf), runs the micro-service,
and translates its outcome for Airflow:

* a result: logged, and returned as a small XCom (counts and paths, never file lists);
  the files it found wrong, if any, are named in warnings (at most twenty, then where
  the rest are: :mod:`preservation.core.problems`);
* ``StepNotApplicable``: the task is *skipped*, with the reason in its log;
* ``PackageRejected`` (a verdict on the package): the reason and what to do are pushed as
  XCom ``failure_reason`` and end the task log, and the task fails at once, without retry
  and without a traceback (:mod:`preservation_airflow.operators.verdicts`);
* anything else (a system fault): the reason is pushed and the exception re-raised, so
  Airflow retries.

Once the run's AIP is stored, the stages before storage skip themselves: clearing one of
them on a finished run can never make a second AIP.

The per-file stages (characterization, validation, normalization, transcription) are
mapped over chunks of files: ``PlanFileChunksOperator`` decides how many, once per run,
and each mapped instance gets its ``chunk`` index, so several workers share a transfer.
"""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from collections.abc import Sequence

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from preservation_airflow.operators.verdicts import VERDICT_POLICY, refuse

DEFAULT_CONFIG = "default"


def started_by(context) -> str:
    """Who started the run, for the PREMIS user agent."""
    dag_run = context["dag_run"]
    conf = dag_run.conf or {}
    return (
        conf.get("user")
        or getattr(dag_run, "triggering_user_name", None)
        # A run nobody triggered by hand (schedule, sensor): name the kind of run.
        or f"airflow:{getattr(dag_run, 'run_type', 'run')}"
    )


#: The DAG whose runs make a new version of a stored AIP (dags/aip_reingest.py).
REINGEST_DAG = "aip_reingest"


def package_for(context):
    """The preservation Package of this task's run (and where its transfer comes from)."""
    from preservation.core import processing_config
    from preservation.core.errors import TransferInvalid
    from preservation.core.package import Package, PackageRef, Reingest
    from preservation.core.settings import load_settings

    dag_run = context["dag_run"]
    conf = dag_run.conf or {}
    if dag_run.dag_id == REINGEST_DAG:
        # What Reingest AIP fetched: the package's name, and in a full reingest the
        # transfer it rebuilt.
        settings, run_key = load_settings(), f"{dag_run.dag_id}/{dag_run.run_id}"
        folder = Reingest.folder(settings, run_key)
        reingest = Reingest.load(folder)
        if reingest is None:
            raise RuntimeError(f"Reingest AIP has not fetched the AIP of run {run_key} yet")
        source = str(folder / reingest.name)
        config = processing_config.load(conf.get("processing_config") or DEFAULT_CONFIG)
        ref = PackageRef.for_run(source, run_key)
        return Package(ref, settings, config, started_by(context), reingest), source
    source = conf.get("transfer")
    if not source:
        raise TransferInvalid(
            'The run names no transfer: trigger it with conf {"transfer": "<path or URL of a '
            '.zip or folder>", "processing_config": "default"}'
        )
    config = processing_config.load(conf.get("processing_config") or DEFAULT_CONFIG)
    ref = PackageRef.for_run(source, f"{dag_run.dag_id}/{dag_run.run_id}")
    if conf.get("transfer_id"):
        # The watcher's transfer id (tagged on the upload, written in its feedback log) is
        # the transfer's UUID, so the weekly monitor finds the AIP by it in the index.
        ref = dataclasses.replace(ref, transfer_uuid=str(uuid.UUID(conf["transfer_id"])))
    return Package(ref, load_settings(), config, started_by(context)), source


def skip_outside_reingest(package, service: str) -> None:
    """In a reingest, a stage its mode does not run again skips itself."""
    from preservation import pipeline

    if package.reingest is not None and service not in pipeline.REINGEST[package.reingest.mode]:
        raise AirflowSkipException(
            f"not part of a {package.reingest.mode} reingest "
            f"({', '.join(pipeline.REINGEST[package.reingest.mode])})"
        )


def skip_if_stored(package, context) -> None:
    """A stage before Store AIP skips itself once the run's AIP is stored: clearing it on a
    finished run can never make a second AIP."""
    from preservation_airflow.hooks.storage import aip_location

    stored = aip_location(package, context).find(package.ref.aip_uuid)
    if stored:
        raise AirflowSkipException(
            f"AIP {package.ref.aip_uuid} is already stored at {stored}; nothing to redo"
        )


class MicroServiceOperator(BaseOperator):
    """Run the preservation micro-service ``preservation.services.<service>`` for this run,
    given what its row of the stage table says it needs."""

    template_fields: Sequence[str] = ()
    ui_color = "#e8f1e4"

    def __init__(self, *, service: str, chunk: int | None = None, **kwargs):
        kwargs.setdefault("retry_policy", VERDICT_POLICY)
        super().__init__(**kwargs)
        self.service = service
        self.chunk = chunk

    def execute(self, context):
        from preservation import pipeline
        from preservation.core.errors import (
            ConfigurationInvalid,
            PackageRejected,
            StepNotApplicable,
        )
        from preservation_airflow.hooks.storage import stage_inputs

        stage = pipeline.stage(self.service)
        module = importlib.import_module(stage.module)
        ti = context["ti"]
        package = None
        try:
            package, source = package_for(context)
            skip_outside_reingest(package, self.service)
            if self.service not in pipeline.AFTER_STORAGE:
                skip_if_stored(package, context)
            with stage_inputs(stage.needs, source, package, context, self.log) as kwargs:
                if self.chunk is not None:
                    kwargs["chunk"] = self.chunk
                    context["chunk_label"] = _chunk_label(package, self.chunk)
                self.log.info(
                    "%s: %s (AIP %s)%s",
                    module.NAME,
                    package.ref.transfer_dirname,
                    package.ref.aip_uuid,
                    f", chunk {self.chunk}" if self.chunk is not None else "",
                )
                result = module.run(package, **kwargs)
            if "stored_aips" in stage.outlets:
                # The stage that updates the stored AIPs asset announces the stored AIP.
                from preservation_airflow.hooks.slack import after_store

                after_store(package, context, kwargs["location"], self.log)
        except StepNotApplicable as reason:
            raise AirflowSkipException(f"{module.NAME} skipped: {reason}") from None
        except (PackageRejected, ConfigurationInvalid) as verdict:
            refuse(self, context, module.NAME, verdict)
        except AirflowSkipException:
            raise
        except Exception as fault:
            ti.xcom_push(key="failure_reason", value=f"{type(fault).__name__}: {fault}")
            raise
        finally:
            if package is not None:
                package.close()
        from preservation.core import problems

        summary = problems.summary(result)
        self.log.info("%s done: %s", module.NAME, summary)
        for found in problems.found_in(result):
            # Named in the task log, where an archivist looks first; XCom keeps the counts.
            self.log.warning("%s: %s", module.NAME, "\n".join(found.report()))
        return summary


def _chunk_label(package, index: int) -> str:
    """How a mapped stage's instance is shown: which part of the files it works on."""
    from preservation.core import chunks

    files = chunks.count(package, index)
    return f"part {index + 1} of {chunks.plan(package)}: {files} file(s)"


class PlanFileChunksOperator(BaseOperator):
    """Decide how many chunks the per-file stages of this run use; returns their indexes.

    Decided once per run and kept in the package's state, so a retry returns the same
    list and mapped instances never see two different splits.
    """

    ui_color = "#f4efe1"

    def execute(self, context):
        from preservation import pipeline
        from preservation.core import chunks

        package, _ = package_for(context)
        try:
            if package.reingest is not None and not any(
                s in pipeline.REINGEST[package.reingest.mode] for s in pipeline.PER_FILE
            ):
                raise AirflowSkipException(
                    f"a {package.reingest.mode} reingest runs no per-file stage"
                )
            count = chunks.plan(package)
        finally:
            package.close()
        self.log.info("Per-file stages run as %d chunk(s)", count)
        return list(range(count))
