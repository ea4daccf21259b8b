"""What the preservation DAGs read from the deployment's environment when they are
parsed: no Variable, no Connection, no network."""

from __future__ import annotations

import os
from datetime import timedelta


def transfer_source() -> str:
    """The archivists' drop box, a URL: ``PRESERVATION_TRANSFER_SOURCE`` (or the bucket
    ``PRESERVATION_TRANSFER_BUCKET``), else ``$PRESERVATION_HOME/transfers``."""
    from pathlib import Path

    from preservation.core.settings import transfer_source_url

    home = Path(os.environ.get("PRESERVATION_HOME", "var")).resolve()
    return transfer_source_url(os.environ, home)


def seconds(variable: str, default: str) -> float:
    """A duration setting, in seconds."""
    return float(os.environ.get(variable, default))


def aws_conn_id() -> str:
    """The Airflow connection for S3 and SNS (``PRESERVATION_AWS_CONN_ID``)."""
    return os.environ.get("PRESERVATION_AWS_CONN_ID", "aws_default")


def retry_args(variable: str, default: str, backoff: bool = False) -> dict:
    """``default_args`` for retrying system faults: ``variable`` retries (``default``
    when unset), ``PRESERVATION_RETRY_DELAY`` seconds apart, growing when ``backoff``."""
    args = {
        "retries": int(os.environ.get(variable, default)),
        "retry_delay": timedelta(seconds=int(os.environ.get("PRESERVATION_RETRY_DELAY", "60"))),
    }
    if backoff:
        args["retry_exponential_backoff"] = True
    return args
