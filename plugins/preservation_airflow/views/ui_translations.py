"""The labels Airflow's UI lacks for what this deployment shows it.

Airflow 3.3 gave runs started by an operator their own run type, ``operator_triggered``,
but its UI's English translations name only the older types, so every run the transfer
watcher starts (TriggerDagRunOperator) had its type drawn as the raw key
``runTypes.operator_triggered`` in the Dag runs list and on the run's page. This root
middleware serves the UI's English ``common.json`` with the missing labels added; a label
Airflow ships itself is never replaced, and every other request passes through untouched.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

#: What the UI fetches (after the deployment's base path) for its English common labels.
COMMON = "/static/i18n/locales/en/common.json"
#: Run types the UI has no label for; Airflow's own label, where it has one, wins.
MISSING_RUN_TYPES = {"operator_triggered": "Triggered by a Dag"}


def shipped_ui() -> Path:
    """The folder of Airflow's built UI (its api-server serves it at /static)."""
    import airflow

    return Path(airflow.__file__).parent / "ui" / "dist"


@cache
def completed_common(ui: Path) -> bytes | None:
    """The English common.json of the built UI in ``ui`` with ``MISSING_RUN_TYPES`` added,
    as served; None (said in the api-server's log) when there is none to read."""
    shipped = ui / "i18n" / "locales" / "en"
    try:
        labels = json.loads((shipped / "common.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("The UI's labels are served as Airflow ships them: %s", error)
        return None
    labels["runTypes"] = MISSING_RUN_TYPES | labels.get("runTypes", {})
    return json.dumps(labels, ensure_ascii=False).encode("utf-8")


class CompleteUiTranslations:
    """ASGI middleware answering ``GET …/static/i18n/locales/en/common.json``."""

    def __init__(self, app, ui: Path | None = None):
        self.app = app
        self.ui = ui  # Airflow's own built UI unless another is named (tests)

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].endswith(COMMON)
        ):
            await self.app(scope, receive, send)
            return
        body = completed_common(self.ui or shipped_ui())
        if body is None:  # no built UI here: Airflow answers as it would without us
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    # Not kept stale across an upgrade (the UI also versions its URL).
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
