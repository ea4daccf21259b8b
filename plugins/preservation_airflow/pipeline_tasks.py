"""The stage table as Airflow tasks, in order: what transfer_ingest runs, and what
aip_reingest runs after fetching the AIP (each reingest mode skipping what it does not
run again)."""

from __future__ import annotations

import os

from preservation import pipeline
from preservation_airflow.hooks.slack import STORED_AIPS
from preservation_airflow.operators.decisions import DecisionOperator
from preservation_airflow.operators.micro_service import (
    MicroServiceOperator,
    PlanFileChunksOperator,
)

# The per-file stages go to a queue of their own when one is named, so a deployment can
# give them workers (and per-worker concurrency) of their own.
HEAVY = {"queue": q} if (q := os.environ.get("PRESERVATION_HEAVY_QUEUE")) else {}


def stage(service: str, name: str, **kwargs) -> MicroServiceOperator:
    """One micro-service task: task id = module name, display name = Archivematica's."""
    return MicroServiceOperator(task_id=service, service=service, task_display_name=name, **kwargs)


def per_file(service: str, name: str, chunks: PlanFileChunksOperator):
    """A per-file micro-service, one mapped task instance per chunk of files, each shown
    as which part of the files it is ("part 2 of 8: 500 files")."""
    return MicroServiceOperator.partial(
        task_id=service,
        service=service,
        task_display_name=name,
        map_index_template="{{ chunk_label }}",
        **HEAVY,
    ).expand(chunk=chunks.output)


def pipeline_tasks() -> list:
    """One task per row of the stage table (and the chunk planner before the first
    per-file stage), to be chained in this order."""
    chunks = PlanFileChunksOperator(
        task_id="plan_file_chunks", task_display_name="Plan file chunks"
    )
    assets = {"stored_aips": STORED_AIPS}  # Store AIP's: each stored AIP (and SNS)
    tasks = []
    for row in pipeline.STAGES:
        if row.decision:
            tasks.append(
                DecisionOperator(
                    task_id=row.service, task_display_name=row.name, decision=row.service
                )
            )
            continue
        if row.per_file and chunks not in tasks:
            tasks.append(chunks)  # before the first per-file stage: how to split its files
        if row.per_file:
            tasks.append(per_file(row.service, row.name, chunks))
        else:
            tasks.append(stage(row.service, row.name, outlets=[assets[o] for o in row.outlets]))
    return tasks
