"""The "Packages" page in the Airflow UI: every transfer by its name, its stage, its reason
and its AIP, as Archivematica's dashboard listed them (a FastAPI app the api-server mounts
at ``/packages``, shown in the UI's navigation).

Behind Airflow's own authentication: every route asks Airflow's auth manager whether the
user may read transfer_ingest's runs (a plugin's app is not protected otherwise), and
the AIP download whether they may read them too. Plain HTML; one small script lets a link
to an Airflow page (a run, a task log) open in the Airflow UI around the page, which
shows it in a sandboxed frame that may not navigate its parent itself.
"""

from __future__ import annotations

import html
import shutil
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse

from preservation_airflow.views import packages_data as data

PREFIX = "/packages"


def _may_read():
    """Airflow's check that the user may read transfer_ingest's runs."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=data.INGEST)


app = FastAPI(title="Packages", docs_url=None, redoc_url=None, openapi_url=None)

# Only run ids, paths and reasons (long, unbroken) may break anywhere: with
# ``overflow-wrap:anywhere`` on every cell the table squeezed a column below its own
# words, and the Stage column read "Store" over "d".
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:1.2rem;color:#1a202c}
h1{font-size:1.4rem;margin:0 0 .8rem} h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
a{color:#2b6cb0} table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{border-bottom:1px solid #e2e8f0;padding:.35rem .5rem;text-align:left;vertical-align:top;
overflow-wrap:break-word} td.when{white-space:nowrap} td.outcome{width:32%}
td .muted,td .reason{overflow-wrap:anywhere}
th{background:#f7fafc;font-weight:600;white-space:nowrap;overflow-wrap:normal}
.muted{color:#718096}
.state{display:inline-block;border-radius:.6rem;padding:0 .5rem;font-size:.8rem;color:#fff;
white-space:nowrap}
.success{background:#38a169}.failed{background:#e53e3e}.running{background:#3182ce}
.queued{background:#718096}.rejected{background:#dd6b20}.skipped{background:#a0aec0}
.upstream_failed{background:#ed8936}.deferred{background:#805ad5}.up_for_retry{background:#d69e2e}
.reason{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.8rem;margin:0}
form{margin:.4rem 0 .8rem} input[type=search]{padding:.3rem;width:22rem}
nav.tabs a{margin-right:.9rem} nav.tabs a.on{font-weight:700;text-decoration:none;color:#1a202c}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;font-size:.9rem}
dt{font-weight:600}
"""


# Airflow's UI routes on the history API: a link to one of its pages, clicked in the
# frame, is pushed onto the UI's own history (same origin), which the UI then shows.
AIRFLOW_LINKS = """
document.addEventListener("click", function (event) {
  var link = event.target.closest("a.airflow");
  if (!link || window.parent === window) return;
  event.preventDefault();
  window.parent.history.pushState({}, "", link.getAttribute("href"));
  window.parent.dispatchEvent(new PopStateEvent("popstate", {state: {}}));
});
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<script>{AIRFLOW_LINKS}</script></head><body>{body}</body></html>"
    )


def e(value) -> str:
    return html.escape("" if value is None else str(value))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (
        f"{hours}h {minutes:02d}m"
        if hours
        else f"{minutes}m {rest:02d}s"
        if minutes
        else f"{rest}s"
    )


def _size(count: int | None) -> str:
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def _airflow_link(href: str, text: str) -> str:
    return f"<a class='airflow' href='{e(href)}'>{e(text)}</a>"


def _badge(state: str) -> str:
    return f"<span class='state {e(state)}'>{e(state or 'none')}</span>"


def _detail_url(run_id: str) -> str:
    return f"{PREFIX}/run/{quote(run_id, safe='')}"


def _outcome(package: data.Package) -> str:
    if package.failed_task:
        reason = package.reason.split("\nWhat to do:")[0]
        return (
            f"<b>{e(package.stage)}</b>: <pre class='reason'>{e(reason[:600])}</pre>"
            f"<a class='airflow' href='{e(package.failed_log_url)}'>task log</a>"
        )
    stored = package.stored
    if stored:
        return (
            f"AIP <code>{e(stored.get('aip_uuid'))}</code><br>"
            f"{e(stored.get('space') or 'local store')}, "
            f"version {e(stored.get('version'))}, {_size(stored.get('bytes'))}<br>"
            f"<span class='muted'>{e(stored.get('url') or stored.get('location'))}</span>"
        )
    return ""


def _tabs(state: str, search: str) -> str:
    tabs = [("", "All"), ("running", "Running"), ("failed", "Failed"), ("success", "Stored")]
    tabs.append(("rejected", "Rejected uploads"))
    links = []
    for value, label in tabs:
        query = urlencode({k: v for k, v in (("state", value), ("q", search)) if v})
        on = " class='on'" if value == state else ""
        links.append(f"<a{on} href='{PREFIX}/?{query}'>{label}</a>")
    return f"<nav class='tabs'>{''.join(links)}</nav>"


def _pager(state: str, search: str, page: data.Page) -> str:
    parts = []
    for number, label in ((page.page - 1, "« newer"), (page.page + 1, "older »")):
        if number < 0 or (number > page.page and not page.more):
            continue
        query = urlencode(
            {k: v for k, v in (("state", state), ("q", search)) if v} | {"page": number}
        )
        parts.append(f"<a href='{PREFIX}/?{query}'>{label}</a>")
    return f"<p>{' · '.join(parts)} <span class='muted'>page {page.page + 1}</span></p>"


@app.get("/", response_class=HTMLResponse, dependencies=[Depends(_may_read())])
def packages_page(
    state: str = Query("", pattern="^(|running|queued|failed|success|rejected)$"),
    q: str = Query("", max_length=200),
    page: int = Query(0, ge=0, le=100_000),
):
    search = q.strip()
    form = (
        f"<form method='get' action='{PREFIX}/'>"
        f"<input type='hidden' name='state' value='{e(state)}'>"
        f"<input type='search' name='q' value='{e(search)}' "
        "placeholder='name or identifier (PP/MDM/A/3/1a)' aria-label='Search packages'> "
        "<button>Search</button></form>"
    )
    head = f"<h1>Packages</h1>{_tabs(state, search)}{form}"
    if state == "rejected":
        rejected = data.rejected_uploads(search, page)
        rows = "".join(
            f"<tr><td><b>{e(r.name)}</b><br><span class='muted'>{e(r.url)}</span></td>"
            f"<td>{e(r.uploaded[:19].replace('T', ' '))}</td><td>{_badge('rejected')}</td>"
            f"<td><pre class='reason'>{e(chr(10).join(r.reasons) or r.text[:600])}</pre>"
            f"<span class='muted'>feedback log {e(r.feedback_log)}</span></td></tr>"
            for r in rejected.items
        )
        table = (
            "<table><thead><tr><th>Upload</th><th>Uploaded</th><th>State</th>"
            f"<th>Why (its feedback log)</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        empty = "" if rejected.items else "<p class='muted'>No rejected upload.</p>"
        return _page("Packages", head + table + empty + _pager(state, search, rejected))
    listing = data.list_packages(state, search, page)
    rows = "".join(
        f"<tr data-run-id='{e(p.run_id)}'>"
        f"<td><a href='{_detail_url(p.run_id)}'><b>{e(p.name)}</b></a><br>"
        f"<a class='muted airflow' href='{e(p.run_url)}'>run {e(p.run_id)}</a></td>"
        f"<td>{e(p.identifier)}</td><td>{e(p.kind)}<br><span class='muted'>"
        f"{e(p.processing_config)}</span></td>"
        f"<td class='when'>{_when(p.received)}</td><td>{e(p.stage)}</td><td>{_badge(p.state)}</td>"
        f"<td>{_duration(p.seconds)}</td><td>{e(p.file_count)}</td>"
        f"<td class='outcome'>{_outcome(p)}</td></tr>"
        for p in listing.items
    )
    table = (
        "<table><thead><tr><th>Package</th><th>Identifier</th>"
        "<th>Kind and processing configuration</th><th>Received</th><th>Stage</th><th>State</th>"
        "<th>Duration</th><th>Files</th><th>Outcome</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    empty = "" if listing.items else "<p class='muted'>No package yet.</p>"
    return _page("Packages", head + table + empty + _pager(state, search, listing))


@app.get(
    "/dag/{dag_id}/run/{run_id}", response_class=HTMLResponse, dependencies=[Depends(_may_read())]
)
def run_tab(dag_id: str, run_id: str):
    """The Package tab of a run's page in the Airflow UI."""
    if dag_id == data.INGEST:
        return package_page(run_id)
    if dag_id == data.WATCHER:
        checked = data.watcher_run(run_id)
        rows = "".join(
            f"<tr><td>{e(url)}</td><td>{_badge(verdict)}</td><td>{e(detail)}</td></tr>"
            for url, verdict, detail in checked
        )
        return _page(
            "Uploads checked",
            "<h1>Uploads this watcher run checked</h1><table><thead><tr><th>Upload</th>"
            f"<th>Verdict</th><th>Run or reason</th></tr></thead><tbody>{rows}</tbody></table>"
            + ("" if checked else "<p class='muted'>No upload was new in this run.</p>"),
        )
    return _page("Not a package", "<p class='muted'>This run is not about one package.</p>")


@app.get("/run/{run_id}", response_class=HTMLResponse, dependencies=[Depends(_may_read())])
def package_page(run_id: str):
    package = data.package(run_id)
    if package is None:
        raise HTTPException(404, f"No transfer_ingest run {run_id!r}")
    facts = [
        ("Identifier", package.identifier),
        ("Kind", package.kind),
        ("Processing configuration", package.processing_config),
        ("Source", package.source),
        ("State", None),
        ("Stage", package.stage),
        ("Received", _when(package.received)),
        ("Duration", _duration(package.seconds)),
        ("Files", package.file_count),
        ("Size", _size(package.bytes)),
    ]
    body = [
        f"<p><a href='{PREFIX}/'>« Packages</a></p>",
        f"<h1>{e(package.name)}</h1>",
        "<dl>",
        *[
            f"<dt>{label}</dt><dd>{_badge(package.state) if label == 'State' else e(value)}</dd>"
            for label, value in facts
        ],
        "<dt>Airflow run</dt>"
        f"<dd><a class='airflow' href='{e(package.run_url)}'>{e(package.run_id)}</a></dd>",
        "</dl>",
    ]
    if package.question_url:
        body.append(
            f"<p><b>{e(package.stage)}</b>: <a class='airflow' href='{e(package.question_url)}'>"
            "answer it in Required Actions</a></p>"
        )
    if package.failed_task:
        body.append(
            f"<h2>Why it failed</h2><p><b>{e(package.stage)}</b> "
            f"(<a class='airflow' href='{e(package.failed_log_url)}'>task log</a>)</p>"
            f"<pre class='reason'>{e(package.reason)}</pre>"
        )
    if package.stored:
        stored = package.stored
        body.append(
            "<h2>Archival storage</h2><dl>"
            f"<dt>AIP</dt><dd><code>{e(stored.get('aip_uuid'))}</code></dd>"
            f"<dt>Identifier</dt><dd>{e(stored.get('identifier'))}, version "
            f"{e(stored.get('version'))}</dd>"
            f"<dt>Space</dt><dd>{e(stored.get('space') or 'the local AIP store')}</dd>"
            f"<dt>Location</dt><dd>{e(stored.get('url') or stored.get('location'))}</dd>"
            f"<dt>Size</dt><dd>{_size(stored.get('bytes'))}</dd>"
            f"<dt>Stored</dt><dd>{e(stored.get('stored_at', '')[:19].replace('T', ' '))}</dd>"
            "</dl>"
            f"<p><a href='{PREFIX}/aip/{e(stored.get('aip_uuid'))}/download'>"
            "Download the AIP</a> <span class='muted'>(read back from storage and checked "
            "against its recorded checksums first, as <code>preservation aip get</code>)</span></p>"
        )
    body.append(_timeline(package))
    body.append(_summary(package.summary))
    if package.stored:
        body.append(_audit_trail(package.stored.get("aip_uuid", "")))
    return _page(package.name, "".join(body))


def _audit_trail(aip_uuid: str) -> str:
    """Who did what to this AIP, from the AIP index (``preservation aip audit``)."""
    from preservation.core.errors import PreservationError
    from preservation.core.settings import load_settings
    from preservation_airflow.dag_defaults import aws_conn_id
    from preservation_airflow.hooks.storage import aip_store

    try:
        entries = aip_store(load_settings(), aws_conn_id()).index.audit_trail(aip_uuid)
    except PreservationError as error:  # storage unreachable: the page still shows the run
        return f"<h2>Audit trail</h2><p class='reason'>Cannot read it: {e(str(error))}</p>"
    rows = "".join(
        f"<tr><td class='when'>{e(x.at[:19].replace('T', ' '))}</td><td>{e(x.action)}</td>"
        f"<td>{e(x.user)}</td><td>{e(x.reason)}</td><td>{e(x.detail)}</td></tr>"
        for x in entries
    )
    return (
        "<h2>Audit trail</h2><table><tr><th>When</th><th>What</th><th>Who</th><th>Why</th>"
        f"<th>Detail</th></tr>{rows}</table>"
    )


def _timeline(package: data.Package) -> str:
    rows = []
    for stage in package.stages:
        mapped = f"/mapped/{stage.map_index}" if stage.map_index >= 0 else ""
        log = f"{package.run_url}/tasks/{stage.task_id}{mapped}?try_number={max(stage.tries, 1)}"
        label = f" <span class='muted'>{e(stage.label)}</span>" if stage.label else ""
        ran = stage.tries > 0 and stage.state not in ("upstream_failed", None)
        rows.append(
            f"<tr><td>{e(stage.name)}{label}</td><td>{_badge(stage.state or '')}</td>"
            f"<td class='when'>{_when(stage.start) if ran else ''}</td>"
            f"<td>{_duration(stage.seconds) if ran else ''}</td><td>{stage.tries}</td>"
            f"<td>{_airflow_link(log, 'log') if ran else ''}</td></tr>"
        )
    return (
        "<h2>Stages</h2><table><thead><tr><th>Stage</th><th>State</th><th>Started</th>"
        f"<th>Took</th><th>Tries</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _summary(summary: dict) -> str:
    if not summary:
        return "<p class='muted'>Formats and outcomes appear once the METS is written.</p>"
    formats = "".join(
        f"<tr><td>{e(puid)}</td><td>{e(name)}</td><td>{e(count)}</td></tr>"
        for puid, name, count in summary.get("formats", [])
    )
    events = "".join(
        f"<tr><td>{e(kind)}</td><td>{e(count)}</td></tr>"
        for kind, count in summary.get("event_counts", {}).items()
    )
    outcomes = "".join(
        f"<tr><td>{e(kind)}</td><td>{e(count)}</td></tr>"
        for kind, count in summary.get("normalization", {}).items()
    )
    failures = "".join(
        f"<li>{e(line)}</li>" for line in summary.get("validation_failures_sample", [])
    )
    normalization_failures = "".join(
        f"<li>{e(line)}</li>" for line in summary.get("normalization_failures_sample", [])
    )
    return (
        "<h2>Formats</h2><table><thead><tr><th>PUID</th><th>Format</th><th>Files</th></tr>"
        f"</thead><tbody>{formats}</tbody></table>"
        f"<h2>Validation</h2><p>{e(summary.get('validation_failures', 0))} file(s) failed "
        f"validation.</p><ul>{failures}</ul>"
        "<h2>Normalization</h2><table><thead><tr><th>Purpose: outcome</th><th>Files</th>"
        f"</tr></thead><tbody>{outcomes}</tbody></table><ul>{normalization_failures}</ul>"
        "<h2>PREMIS events</h2><table><thead><tr><th>Event</th><th>Count</th></tr></thead>"
        f"<tbody>{events}</tbody></table>"
    )


@app.get("/aip/{aip_uuid}/download", dependencies=[Depends(_may_read())])
def download(aip_uuid: str, user: GetUserDep):
    """The stored AIP, fetched and checked (a bag folder comes as a zip of it); the audit
    trail records who downloaded it."""
    import uuid

    from starlette.background import BackgroundTask

    from preservation.core.errors import FixityMismatch, NotStored
    from preservation.core.settings import load_settings
    from preservation.operations import aip_catalog
    from preservation_airflow.dag_defaults import aws_conn_id
    from preservation_airflow.hooks.storage import aip_store

    try:
        uuid.UUID(aip_uuid)
    except ValueError:
        raise HTTPException(400, "not an AIP UUID") from None
    work = Path(tempfile.mkdtemp(prefix="aip-download-"))
    cleanup = BackgroundTask(shutil.rmtree, work, ignore_errors=True)
    try:
        local = aip_catalog.get(
            aip_store(load_settings(), aws_conn_id()), aip_uuid, work / "aip", user=user.get_name()
        )
    except NotStored as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise HTTPException(404, str(exc)) from None
    except FixityMismatch as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise HTTPException(409, f"Not sent: {exc}") from None
    if local.is_dir():
        archive = work / f"{local.name}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as out:
            for path in sorted(local.rglob("*")):
                if path.is_file():
                    out.write(path, f"{local.name}/{path.relative_to(local).as_posix()}")
        local = archive
    return FileResponse(local, filename=local.name, background=cleanup)
