"""What the packages page shows, read from Airflow's metadata database only: the
transfer_ingest runs (one per package), their task instances and their small XComs, and
the uploads the watcher rejected. Never a bucket listing, never a file of the package: a
page is a few indexed queries whatever the number of runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urlparse

from preservation import pipeline

INGEST = "transfer_ingest"
WATCHER = "transfer_watcher"
PAGE_SIZE = 25
STATES = ("running", "queued", "failed", "success")
# The order the stages run in (the DAG's), to tell the current one: the pipeline's, with
# Plan file chunks before the first per-file stage.
_ROWS = tuple(s.service for s in pipeline.STAGES)  # the decision points among them
STAGES = (
    *_ROWS[: _ROWS.index(pipeline.PER_FILE[0])],
    "plan_file_chunks",
    *_ROWS[_ROWS.index(pipeline.PER_FILE[0]) :],
)
#: The XComs a row needs (small: counts and references).
ROW_XCOMS = {
    ("receive_transfer", "return_value"),
    ("verify_transfer_compliance", "return_value"),
    ("store_aip", "stored"),
}


@dataclass
class Stage:
    task_id: str
    name: str
    state: str | None
    start: datetime | None
    end: datetime | None
    tries: int
    map_index: int = -1
    label: str = ""

    @property
    def seconds(self) -> float | None:
        if not self.start:
            return None
        return ((self.end or datetime.now(UTC)) - self.start).total_seconds()


@dataclass
class Package:
    """One transfer_ingest run, as an archivist asks about it."""

    run_id: str
    state: str
    source: str
    processing_config: str
    received: datetime | None
    ended: datetime | None
    note: str = ""
    identifier: str = ""
    kind: str = ""
    files: int | None = None
    bytes: int | None = None
    stage: str = ""
    failed_task: str = ""
    failed_try: int = 1
    failed_map_index: int = -1
    reason: str = ""
    question_url: str = ""  # a decision waits for an answer there (Required Actions)
    stored: dict = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        path = urlparse(self.source).path if "://" in self.source else self.source
        return PurePosixPath(unquote(path).rstrip("/")).name or self.run_id

    @property
    def seconds(self) -> float | None:
        if not self.received:
            return None
        return ((self.ended or datetime.now(UTC)) - self.received).total_seconds()

    @property
    def file_count(self) -> int | None:
        """The content files (once the METS says), else what was received."""
        return self.summary.get("files", self.files) if self.summary else self.files

    @property
    def run_url(self) -> str:
        return f"/dags/{INGEST}/runs/{quote(self.run_id, safe='')}"

    @property
    def failed_log_url(self) -> str:
        if not self.failed_task:
            return ""
        mapped = f"/mapped/{self.failed_map_index}" if self.failed_map_index >= 0 else ""
        return f"{self.run_url}/tasks/{self.failed_task}{mapped}?try_number={self.failed_try}"


@dataclass
class Rejected:
    """An upload the watcher refused, with its feedback log's words."""

    url: str
    key: str
    uploaded: str
    feedback_log: str
    text: str

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def reasons(self) -> list[str]:
        return [
            line
            for line in self.text.splitlines()
            if line.startswith(("WRONG:", "Unable to determine"))
        ]


@dataclass
class Page:
    items: list
    page: int
    more: bool


def _runs(session, state: str, search: str):
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from sqlalchemy import String, cast, or_, select

    query = select(DagRun).where(DagRun.dag_id == INGEST)
    if state:
        query = query.where(DagRun._state == state)
    if search:
        like = f"%{search}%"
        identified = select(XComModel.dag_run_id).where(
            XComModel.dag_id == INGEST,
            XComModel.task_id == "verify_transfer_compliance",
            XComModel.key == "return_value",
            cast(XComModel.value, String).ilike(like),
        )
        query = query.where(
            or_(
                DagRun.run_id.ilike(like),
                cast(DagRun.conf, String).ilike(like),
                DagRun.id.in_(identified),
            )
        )
    return query.order_by(DagRun.run_after.desc(), DagRun.id.desc())


def list_packages(state: str = "", search: str = "", page: int = 0) -> Page:
    """A page of packages, newest first (``state``: one of :data:`STATES`, or all)."""
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = list(
            session.scalars(
                _runs(session, state, search).limit(PAGE_SIZE + 1).offset(page * PAGE_SIZE)
            )
        )
        more = len(runs) > PAGE_SIZE
        packages = _describe(session, runs[:PAGE_SIZE], details=False)
    return Page(packages, page, more)


def package(run_id: str) -> Package | None:
    """One package in full: its stages and its summary."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == INGEST, DagRun.run_id == run_id))
        if run is None:
            return None
        [described] = _describe(session, [run], details=True)
    return described


def _describe(session, runs, details: bool) -> list[Package]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    if not runs:
        return []
    ids = [run.id for run in runs]
    run_ids = [run.run_id for run in runs]
    instances: dict[str, list] = {}
    for ti in session.scalars(
        select(TaskInstance).where(TaskInstance.dag_id == INGEST, TaskInstance.run_id.in_(run_ids))
    ):
        instances.setdefault(ti.run_id, []).append(ti)
    xcoms: dict[int, dict] = {}
    query = select(XComModel).where(XComModel.dag_run_id.in_(ids))
    if not details:
        query = query.where(
            (XComModel.key == "failure_reason")
            | XComModel.task_id.in_({task for task, _ in ROW_XCOMS})
        )
    for xcom in session.scalars(query):
        xcoms.setdefault(xcom.dag_run_id, {})[(xcom.task_id, xcom.key, xcom.map_index)] = xcom.value
    return [_package(run, instances.get(run.run_id, []), xcoms.get(run.id, {})) for run in runs]


def _value(raw):
    """An XCom's value (stored serialized: JSON text, or already decoded)."""
    import json

    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _package(run, tis, xcoms: dict) -> Package:
    conf = run.conf or {}

    def get(task: str, key: str = "return_value", map_index: int = -1):
        return _value(xcoms.get((task, key, map_index)))

    received = get("receive_transfer") or {}
    compliance = get("verify_transfer_compliance") or {}
    package = Package(
        run_id=run.run_id,
        state=str(run.state or ""),
        source=conf.get("transfer", ""),
        processing_config=conf.get("processing_config", "default"),
        received=run.start_date or run.queued_at,
        ended=run.end_date,
        note=run.note or "",
        identifier=compliance.get("external_identifier", "")
        if isinstance(compliance, dict)
        else "",
        kind=compliance.get("kind", "") if isinstance(compliance, dict) else "",
        files=received.get("files") if isinstance(received, dict) else None,
        bytes=received.get("bytes") if isinstance(received, dict) else None,
        stored=get("store_aip", "stored") or {},
        summary=get("generate_aip_mets") or {},
    )
    if isinstance(package.summary, dict):
        package.summary = package.summary.get("summary", {})
    order = {task: n for n, task in enumerate(STAGES)}
    tis = sorted(tis, key=lambda ti: (order.get(ti.task_id, len(order)), ti.map_index))
    package.stages = [
        Stage(
            ti.task_id,
            ti.task_display_name or ti.task_id,
            str(ti.state) if ti.state else None,
            ti.start_date,
            ti.end_date,
            ti.try_number or 0,
            ti.map_index,
            ti.rendered_map_index or "",
        )
        for ti in tis
    ]
    failed = next((ti for ti in tis if ti.state == "failed"), None)
    if failed is not None:
        package.failed_task = failed.task_id
        package.failed_try = failed.try_number or 1
        package.failed_map_index = failed.map_index
        package.stage = failed.task_display_name or failed.task_id
        package.reason = str(get(failed.task_id, "failure_reason", failed.map_index) or "")
    elif package.state == "success":
        package.stage = "Stored" if package.stored else "Done"
    elif not tis:
        package.stage = "Queued"
    else:
        # The first stage not done: at work, or next in line.
        current = next(
            (ti for ti in tis if ti.state not in ("success", "skipped", "upstream_failed")),
            None,
        )
        if current is None:
            package.stage = "Finishing"
        else:
            name = current.task_display_name or current.task_id
            at_work = current.state in ("running", "deferred", "up_for_retry")
            if current.state == "awaiting_input":
                package.stage = f"{name}: waiting for an answer"
                package.question_url = f"{package.run_url}/tasks/{current.task_id}/required_actions"
            else:
                package.stage = name if at_work else f"{name} (next)"
    return package


def rejected_uploads(search: str = "", page: int = 0, look_back: int = 500) -> Page:
    """Uploads the watcher refused, newest first (from its last ``look_back`` checks that
    refused any)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import String, cast, select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel)
            .where(
                XComModel.dag_id == WATCHER,
                XComModel.task_id == "verify_uploads",
                XComModel.key == "rejected",
                cast(XComModel.value, String) != "[]",
            )
            .order_by(XComModel.timestamp.desc())
            .limit(look_back)
        )
        found = [Rejected(**item) for row in rows for item in (_value(row.value) or [])]
    if search:
        found = [r for r in found if search.lower() in f"{r.key}\n{r.text}".lower()]
    start = page * PAGE_SIZE
    return Page(found[start : start + PAGE_SIZE], page, len(found) > start + PAGE_SIZE)


def watcher_run(run_id: str) -> list[tuple[str, str, str]]:
    """(upload, verdict, the run it started or why it was refused) of one watcher run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = {
            x.key: _value(x.value)
            for x in session.scalars(
                select(XComModel).where(
                    XComModel.dag_id == WATCHER,
                    XComModel.run_id == run_id,
                    XComModel.task_id == "verify_uploads",
                )
            )
        }
    checked = [
        (item["trigger_run_id"] and item["conf"]["transfer"], "accepted", item["trigger_run_id"])
        for item in rows.get("return_value") or []
    ]
    checked += [
        (item["url"], "rejected", "\n".join(Rejected(**item).reasons))
        for item in rows.get("rejected") or []
    ]
    return checked
