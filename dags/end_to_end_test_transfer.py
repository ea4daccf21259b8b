"""
### test_transfer: an end-to-end test of the whole pipeline

Trigger by hand. Builds a small package (one image, `metadata/metadata.csv` with a test
catalogue identifier, `archivematica-dev/TEST/<run>` by default) and puts it in the drop
box (S3 bucket or folder) as `born-digital/test_package.zip`. `transfer_watcher` picks it
up like any upload; its AIP is stored in the `testing` space, never among real content.
"""

from __future__ import annotations

import os

from airflow.sdk import Param, dag

from preservation_airflow import dag_defaults
from preservation_airflow.auth.access import START_DAG
from preservation_airflow.operators.drop_box import UploadTestPackageOperator

SOURCE = dag_defaults.transfer_source()
CONN = dag_defaults.aws_conn_id()
PREFIX = os.environ.get("PRESERVATION_TEST_IDENTIFIER_PREFIX", "archivematica-dev/TEST")


@dag(
    dag_id="test_transfer",
    access_control=START_DAG,  # archivists start these runs
    schedule=None,
    catchup=False,
    doc_md=__doc__,
    tags=["preservation", "drop box", "test"],
    params={
        "identifier": Param(
            f"{PREFIX}/1", type="string", description="catalogue identifier (keep the test prefix)"
        )
    },
    default_args=dag_defaults.retry_args("PRESERVATION_TASK_RETRIES", "2"),
)
def test_transfer():
    UploadTestPackageOperator(
        task_id="upload_test_package",
        task_display_name="Upload test package",
        source_url=SOURCE,
        identifier="{{ params.identifier }}",
        aws_conn_id=CONN,
    )


test_transfer()
