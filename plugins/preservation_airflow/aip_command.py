"""``preservation aip …`` on the deployment's AIP store: run by the ``preservation``
command with the embedded Airflow environment, so an ``s3://`` store is reached through
the Airflow connection ``PRESERVATION_AWS_CONN_ID`` (default ``aws_default``), exactly as
Store AIP reaches it.

    python -m preservation_airflow.aip_command '{"action": "list", ...}'
"""

from __future__ import annotations

import contextlib
import json
import os
import sys


def main(argv: list[str]) -> int:
    from preservation import aip_catalog
    from preservation.locations import open_location
    from preservation.settings import load_settings

    def client():
        # Only for an s3:// store: a local one needs no Airflow at all.
        from preservation_airflow.transfer_bucket import s3_client

        return s3_client(os.environ.get("PRESERVATION_AWS_CONN_ID", "aws_default"))

    settings = load_settings()
    # Airflow logs to stdout; the command's output (JSON for scripts) must be alone there.
    with contextlib.redirect_stdout(sys.stderr):
        location = open_location(settings.aip_store_url, settings.aip_store, client)
        code, output = aip_catalog.command(location, **json.loads(argv[0]))
    print(output)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
