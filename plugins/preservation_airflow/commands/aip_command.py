"""``preservation aip …`` on the deployment's AIP store: run by the ``preservation``
command with the embedded Airflow environment, so an ``s3://`` store is reached through
the Airflow connection ``PRESERVATION_AWS_CONN_ID`` (default ``aws_default``), exactly as
Store AIP reaches it.

    python -m preservation_airflow.commands.aip_command '{"action": "list", ...}'
"""

from __future__ import annotations

import contextlib
import json
import sys


def main(argv: list[str]) -> int:
    from preservation.core.settings import load_settings
    from preservation.operations import aip_catalog
    from preservation_airflow.dag_defaults import aws_conn_id
    from preservation_airflow.hooks.storage import aip_store

    # Airflow logs to stdout; the command's output (JSON for scripts) must be alone there.
    with contextlib.redirect_stdout(sys.stderr):
        location = aip_store(load_settings(), aws_conn_id())
        code, output = aip_catalog.command(location, **json.loads(argv[0]))
    print(output)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
