"""
### transfer_ingest: one transfer in, one verified AIP out

Each run processes one transfer (a `.zip` or a folder, by local path or URL) through
Archivematica's micro-services, in Archivematica's order and under its names, and stores
the AIP in UUID quad directories, verified by reading it back.

Trigger with conf:

```json
{"transfer": "/path/to/transfer.zip", "processing_config": "default"}
```

Processing configurations: `default`, `automated`, `born_digital`, `b_dig_accessions`, `reviewed`
(see `preservation/core/processing_configs/`). Steps a configuration turns off, or that have
nothing to do (no checksum files, no packages to extract, uncompressed AIP), show as
**skipped**. Characterization, validation, normalization and transcription are mapped
over chunks of files (`PRESERVATION_CHUNK_FILES` per chunk, at most 64), so the workers
share a large transfer (on the queue `PRESERVATION_HEAVY_QUEUE` when it is set); a file
whose tool fails gets a failed event and the run goes on.
Access copies and thumbnails become a DIP stored beside the AIP. A verdict on the
package (invalid layout, virus, checksum mismatch) fails the run at once with the reason
in the task log and in the XCom `failure_reason`; a system fault is retried.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import Param, chain, dag

from preservation.core import processing_config
from preservation_airflow import dag_defaults
from preservation_airflow.auth.access import START_DAG
from preservation_airflow.notifications.alerts import TransferFailedNotifier
from preservation_airflow.pipeline_tasks import pipeline_tasks


@dag(
    dag_id="transfer_ingest",
    access_control=START_DAG,  # archivists start these runs
    schedule=None,
    catchup=False,
    max_active_runs=int(os.environ.get("PRESERVATION_MAX_ACTIVE_RUNS", "4")),
    doc_md=__doc__,
    tags=["preservation", "ingest", "archivematica"],
    params={
        "transfer": Param("", type="string", description="Path or URL of a .zip or folder"),
        "processing_config": Param("default", enum=processing_config.available()),
        "decision_timeout_minutes": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="How long a decision the configuration asks waits for an answer "
            "(default: the configuration's decision_timeout_minutes)",
        ),
    },
    default_args={
        **dag_defaults.retry_args("PRESERVATION_TASK_RETRIES", "2", backoff=True),
        "execution_timeout": timedelta(hours=12),
        # A skipped optional step must not skip the rest of the chain.
        "trigger_rule": "none_failed",
        # Once a stage has failed for good: one Slack message, and the upload's feedback
        # log says the transfer failed after acceptance.
        "on_failure_callback": TransferFailedNotifier(),
    },
)
def transfer_ingest():
    # No task groups: Airflow 3.3's grid and graph show a group collapsed until clicked,
    # which hides the micro-service names the archivist follows.
    chain(*pipeline_tasks())


transfer_ingest()
