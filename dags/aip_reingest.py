"""
### aip_reingest: a new version of a stored AIP

Trigger with conf (`aip`: the AIP's UUID or identifier; `version`: which of the
identifier's versions, else its newest):

```json
{"aip": "PP/MDM/A/3/1a", "mode": "metadata", "metadata_csv": "/path/to/metadata.csv"}
{"aip": "PP/MDM/A/3/1a", "mode": "partial", "processing_config": "default"}
{"aip": "2f1c…", "mode": "full", "rights_csv": "/path/to/rights.csv"}
```

Modes, as Archivematica's reingests:

* `metadata`: new `metadata_csv` and/or `rights_csv` (paths the workers can read)
  replace the AIP's; the METS's Dublin Core and OTHER dmdSecs and its rightsMDs are
  made again from them, with a `metadata modification` event on each replaced file;
* `partial`: Normalize and Transcribe run again with the current format policy
  registry (new preservation copies, their events and derivation links; new access
  copies and thumbnails in a new DIP);
* `full`: the AIP's originals (and its metadata, or the new) go through every stage again.

**Reingest AIP** fetches the AIP from the AIP store (local or S3) and verifies it; the
stages the mode does not run show as **skipped**. The result is stored as the next
version of the same identifier under a new AIP UUID, never over the old one; each file
has a `reingestion` event naming the version it came from, the METS header keeps the
first `CREATEDATE` and has a `LASTMODDATE`, and the audit trail has a "reingest" entry.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, chain, dag

from preservation.core import processing_config
from preservation.core.package import REINGEST_MODES
from preservation_airflow import dag_defaults
from preservation_airflow.auth.access import START_DAG
from preservation_airflow.notifications.alerts import TransferFailedNotifier
from preservation_airflow.operators.micro_service import REINGEST_DAG
from preservation_airflow.operators.reingest import ReingestAipOperator
from preservation_airflow.pipeline_tasks import pipeline_tasks


@dag(
    dag_id=REINGEST_DAG,
    access_control=START_DAG,  # archivists reingest
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["preservation", "reingest", "archivematica"],
    params={
        "aip": Param("", type="string", description="AIP UUID or identifier"),
        "version": Param(None, type=["null", "integer"], description="identifier's version"),
        "mode": Param("metadata", enum=list(REINGEST_MODES)),
        "metadata_csv": Param("", type="string", description="a new metadata.csv (path)"),
        "rights_csv": Param("", type="string", description="a new rights.csv (path)"),
        "processing_config": Param("default", enum=processing_config.available()),
        "decision_timeout_minutes": Param(None, type=["null", "integer"], minimum=1),
    },
    default_args={
        **dag_defaults.retry_args("PRESERVATION_TASK_RETRIES", "2", backoff=True),
        "execution_timeout": timedelta(hours=12),
        "trigger_rule": "none_failed",
        "on_failure_callback": TransferFailedNotifier(),
    },
)
def aip_reingest():
    fetched = ReingestAipOperator(
        task_id="reingest_aip",
        task_display_name="Reingest AIP",
        aip="{{ params.aip }}",
        version="{{ params.version if params.version is not none else '' }}",
        mode="{{ params.mode }}",
        metadata_csv="{{ params.metadata_csv }}",
        rights_csv="{{ params.rights_csv }}",
    )
    chain(fetched, *pipeline_tasks())


aip_reingest()
