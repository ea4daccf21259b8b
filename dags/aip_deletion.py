"""
### aip_deletion: delete a stored AIP, with a second person's approval

Trigger with conf:

```json
{"aip": "PP/MDM/A/3/1a", "version": null, "reason": "Deposited twice by mistake"}
```

`aip` is an AIP UUID or an identifier (its newest version, or `version`); `reason` says
why, in 10 to 500 characters. The user who triggers the run asks; **another** user
approves or rejects it in Airflow's Required Actions ("Approve AIP deletion"), within
`PRESERVATION_DELETION_TIMEOUT_HOURS` (168) or it is rejected. The one who asked cannot
approve. On approval the AIP is removed from the AIP store and every replica, the index
keeps a tombstone (with the PREMIS `deletion` event; `preservation aip list` shows it as
deleted, the UUID is never used again), Slack is told, and each step is in the audit
trail (`preservation aip audit`).
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import Param, chain, dag

from preservation_airflow import dag_defaults
from preservation_airflow.auth.access import START_DAG
from preservation_airflow.operators.aip_deletion import (
    APPROVE_TASK,
    DELETE_TASK,
    REQUEST_TASK,
    ApproveDeletionOperator,
    DeleteAipOperator,
    PostDeletionOperator,
    RequestDeletionOperator,
)

CONN = dag_defaults.aws_conn_id()


@dag(
    dag_id="aip_deletion",
    access_control=START_DAG,  # archivists ask, and answer each other's requests
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["preservation", "storage", "deletion"],
    params={
        "aip": Param("", type="string", description="AIP UUID or identifier"),
        "version": Param(None, type=["null", "integer"], description="identifier's version"),
        "reason": Param("", type="string", description="why it goes (10-500 characters)"),
    },
    default_args=dag_defaults.retry_args("PRESERVATION_TASK_RETRIES", "2", backoff=True),
)
def aip_deletion():
    asked = RequestDeletionOperator(
        task_id=REQUEST_TASK,
        task_display_name="Request AIP deletion",
        aip="{{ params.aip }}",
        version="{{ params.version if params.version is not none else '' }}",
        reason="{{ params.reason }}",
        aws_conn_id=CONN,
    )
    approved = ApproveDeletionOperator(
        task_id=APPROVE_TASK,
        task_display_name="Approve AIP deletion",
        response_timeout=timedelta(
            hours=float(os.environ.get("PRESERVATION_DELETION_TIMEOUT_HOURS", "168"))
        ),
        aws_conn_id=CONN,
    )
    deleted = DeleteAipOperator(
        task_id=DELETE_TASK, task_display_name="Delete AIP", aws_conn_id=CONN
    )
    told = PostDeletionOperator(task_id="post_deletion", task_display_name="Tell Slack")
    chain(asked, approved, deleted, told)


aip_deletion()
