"""Airflow side of the stuck-transfer watchdog (``preservation.operations.stuck_transfers``):
what is running and what waits for an answer, read from Airflow's metadata database, and
one Slack message for what is newly late. Each run or question is told once: the AIP
index remembers the alerts sent.

Airflow keeps tasks away from its metadata database; the watchdog reads it through
``PRESERVATION_METADATA_DB`` (as housekeeping's clean-up does), read-only.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

from airflow.sdk import BaseOperator

INGEST = "transfer_ingest"
ACTIVE = ("running", "queued", "scheduled", "up_for_retry", "deferred", "awaiting_input")


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def _when(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _base_url() -> str:
    """The UI's address (``[api] base_url``), for links; "" when not set."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


class WatchStuckTransfersOperator(BaseOperator):
    """Tell Slack, once each, of transfers running far too long and unanswered decisions."""

    def __init__(
        self, *, base_minutes: float, minutes_per_gb: float, reminder_minutes: float, **kw
    ):
        super().__init__(**kw)
        self.base_minutes, self.minutes_per_gb = base_minutes, minutes_per_gb
        self.reminder_minutes = reminder_minutes

    def execute(self, context):
        from preservation.core.errors import ConfigurationInvalid
        from preservation.core.settings import load_settings
        from preservation.operations import stuck_transfers
        from preservation_airflow.dag_defaults import aws_conn_id
        from preservation_airflow.hooks import slack
        from preservation_airflow.hooks.storage import aip_store

        url = os.environ.get("PRESERVATION_METADATA_DB", "")
        if not url or url.startswith("airflow-db-not-allowed"):
            raise ConfigurationInvalid(
                "Set PRESERVATION_METADATA_DB on the workers to the metadata database URL "
                "(as AIRFLOW__DATABASE__SQL_ALCHEMY_CONN): the watchdog reads the runs there"
            )
        runs, questions = self._read(url, _base_url())
        now = datetime.now(UTC)
        late_runs = stuck_transfers.stuck(runs, now, self.base_minutes, self.minutes_per_gb)
        late_questions = stuck_transfers.unanswered(questions, now, self.reminder_minutes)
        index = aip_store(load_settings(), aws_conn_id()).index
        late = {f"stuck/{r.run_id}": r for r in late_runs}
        late |= {f"unanswered/{q.run_id}/{q.task}": q for q in late_questions}
        new = {key: item for key, item in late.items() if not index.alerted(key)}
        new_runs = [item for item in new.values() if isinstance(item, stuck_transfers.Running)]
        new_questions = [item for item in new.values() if isinstance(item, stuck_transfers.Waiting)]
        if new:
            message = stuck_transfers.message(new_runs, new_questions, now, slack.system_name())
            self.log.info("Posted to %s:\n%s", slack.post(message), message["text"])
            # Remembered once posted: a post that failed is tried again next time.
            for key in new:
                index.remember_alert(key, {"at": now.isoformat()})
        self.log.info(
            "%d run(s) going, %d late (%d new); %d question(s) waiting, %d late (%d new)",
            len(runs),
            len(late_runs),
            len(new_runs),
            len(questions),
            len(late_questions),
            len(new_questions),
        )
        return {"late_runs": len(late_runs), "late_questions": len(late_questions)}

    def _read(self, url: str, base: str):
        import sqlalchemy as sa

        from preservation.operations.stuck_transfers import Running, Waiting

        engine = sa.create_engine(url)
        try:
            with engine.connect() as db:
                rows = db.execute(
                    sa.text(
                        "SELECT run_id, COALESCE(start_date, queued_at) AS started, conf "
                        "FROM dag_run WHERE dag_id = :dag AND state IN ('running', 'queued')"
                    ),
                    {"dag": INGEST},
                ).all()
                runs = []
                for run_id, started, conf in rows:
                    size = db.execute(
                        sa.text(
                            "SELECT value FROM xcom WHERE dag_id = :dag AND run_id = :run "
                            "AND task_id = 'receive_transfer' AND key = 'return_value'"
                        ),
                        {"dag": INGEST, "run": run_id},
                    ).scalar()
                    stage = db.execute(
                        sa.text(
                            "SELECT COALESCE(task_display_name, task_id) FROM task_instance "
                            "WHERE dag_id = :dag AND run_id = :run AND state IN :states "
                            "ORDER BY start_date DESC"
                        ).bindparams(sa.bindparam("states", expanding=True)),
                        {"dag": INGEST, "run": run_id, "states": list(ACTIVE)},
                    ).first()
                    runs.append(
                        Running(
                            run_id,
                            _when(started),
                            (_json(conf) or {}).get("transfer", run_id),
                            (_json(size) or {}).get("bytes") if size else None,
                            stage[0] if stage else "waiting to start",
                            f"{base}/dags/{INGEST}/runs/{run_id}" if base else "",
                        )
                    )
                waiting = db.execute(
                    sa.text(
                        "SELECT ti.run_id, ti.task_id, h.subject, h.created_at "
                        "FROM hitl_detail h JOIN task_instance ti ON ti.id = h.ti_id "
                        "WHERE ti.state = 'awaiting_input' AND h.responded_at IS NULL"
                    )
                ).all()
        finally:
            engine.dispose()
        questions = [
            Waiting(
                r,
                t,
                s,
                _when(c),
                f"{base}/dags/{INGEST}/runs/{r}/tasks/{t}/required_actions" if base else "",
            )
            for r, t, s, c in waiting
        ]
        return runs, questions
