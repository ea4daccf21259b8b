"""Airflow side of housekeeping: the processing directory sweep (the library's rules)."""

from __future__ import annotations

from airflow.sdk import BaseOperator


class SweepProcessingOperator(BaseOperator):
    """Remove the working copies of runs that failed more than ``keep_failed_days`` ago."""

    def __init__(self, *, keep_failed_days: float, **kw):
        super().__init__(**kw)
        self.keep_failed_days = keep_failed_days

    def execute(self, context):
        from preservation.core.settings import load_settings
        from preservation.operations.housekeeping import sweep

        removed = sweep(load_settings(), self.keep_failed_days)
        self.log.info("Removed %d working cop(ies): %s", len(removed), removed)
        return {"removed": len(removed)}
