"""The ``preservation`` command.

``preservation ingest PATH [--processing-config NAME]`` runs the transfer_ingest DAG for
one transfer on the embedded default and prints, as its last line, one JSON object:
``{"status": "stored"|"failed", "aip_uuid", "aip_path", "external_identifier", "dag_id",
"run_id"}`` plus ``"failed_task"`` and ``"reason"`` on failure. Exit 0 when stored.

``preservation aip list [--identifier ID]`` and ``preservation aip get UUID|ID [--version
N] -o DIR`` find and fetch stored AIPs (checked on arrival).

``preservation airflow ARGS…`` runs the Airflow CLI on the same embedded default (for
example ``preservation airflow standalone``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from preservation.core import processing_config
from preservation.core.settings import load_settings
from preservation.deploy.embedded import airflow_environment

AIRFLOW_VERSION_MARKER = ".preservation-db-migrated"


def _airflow() -> list[str]:
    """The Airflow command of this environment: its script beside the interpreter, or
    ``python -m airflow`` where Airflow comes from another environment's packages."""
    script = Path(sys.executable).with_name("airflow")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "airflow"]


def ensure_database(env: dict[str, str], log) -> None:
    """Create or upgrade Airflow's metadata database once per Airflow version."""
    from importlib.metadata import version

    home = Path(env["AIRFLOW_HOME"])
    marker = home / AIRFLOW_VERSION_MARKER
    wanted = f"{version('apache-airflow')} {env.get('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', '')}"
    if marker.exists() and marker.read_text() == wanted:
        return
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [*_airflow(), "db", "migrate"],
        env=env,
        check=True,
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=600,
    )
    marker.write_text(wanted)


def ingest(args: argparse.Namespace) -> int:
    if _asks_a_person(args.processing_config):
        return 2
    source = args.path
    if "://" not in source:
        source = str(Path(source).resolve())
    return _run_in_process(
        "ingest", ["--transfer", source], args.processing_config, args.timeout, "Transfer"
    )


def reingest(args: argparse.Namespace) -> int:
    """Run aip_reingest for one stored AIP on the embedded default."""
    if _asks_a_person(args.processing_config):
        return 2
    conf: dict = {"aip": args.aip, "mode": args.mode}
    if args.version is not None:
        conf["version"] = args.version
    for name in ("metadata_csv", "rights_csv"):
        if getattr(args, name):
            conf[name] = str(Path(getattr(args, name)).resolve())
    return _run_in_process(
        "reingest",
        ["--reingest", json.dumps(conf)],
        args.processing_config,
        args.timeout,
        "Reingest",
    )


def _asks_a_person(name: str) -> bool:
    """Whether the processing configuration ``name`` is unusable here (says why): unknown,
    or it asks a person a question nobody can answer in this process."""
    from preservation.core import processing_config
    from preservation.core.errors import TransferInvalid

    try:
        config = processing_config.load(name)
    except TransferInvalid as error:
        print(error, file=sys.stderr)
        return True
    asked = [d for d in processing_config.DECISIONS if config.asks(d)]
    if asked:
        print(
            f"Processing configuration {config.name!r} asks a person ({', '.join(asked)}), "
            "and this command runs where nobody can answer: start the run on a "
            "deployment (make run, or a cluster) and answer in Required Actions.",
            file=sys.stderr,
        )
        return True
    return False


def _run_in_process(kind: str, runner_args: list[str], config: str, timeout: int, what: str) -> int:
    """Run a DAG in-process with the ingest runner; prints and returns its outcome."""
    settings = load_settings()
    env = airflow_environment(settings)
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    log_path = logs / f"{kind}-{stamp}.log"
    with open(log_path, "w") as log, tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        try:
            ensure_database(env, log)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "preservation_airflow.commands.ingest_runner",
                    *runner_args,
                    "--processing-config",
                    config,
                    "--result",
                    str(result_file),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            result = json.loads(result_file.read_text()) if result_file.exists() else None
        except (subprocess.SubprocessError, OSError) as exc:
            result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
        if result is None:
            result = {"status": "failed", "reason": f"the {kind} runner stopped; see {log_path}"}
    result.setdefault("log", str(log_path))
    if result["status"] == "stored":
        print(f"Stored AIP {result['aip_uuid']} at {result['aip_path']}")
    else:
        print(
            f"{what} failed at {result.get('failed_task', '?')}: {result.get('reason')}",
            file=sys.stderr,
        )
    print(f"Airflow log: {log_path}")
    print(json.dumps(result))
    return 0 if result["status"] == "stored" else 1


def airflow(args: argparse.Namespace) -> int:
    settings = load_settings()
    env = airflow_environment(settings)
    if settings.transfer_source_url == settings.default_transfer_source_url:
        # The embedded default's drop box is ours to make; a folder named in
        # PRESERVATION_TRANSFER_SOURCE (a mounted share) is not: if it is missing, the
        # watcher must say so rather than watch an empty folder of our making.
        from preservation.intake.transfer_source import open_transfer_source

        drop_box = open_transfer_source(settings.transfer_source_url)
        drop_box.create()
        if args.args[:1] == ["standalone"]:
            print(
                f"Drop box: put a transfer package (.zip) into {drop_box.root}/born-digital/ "
                f"or {drop_box.root}/born-digital-accessions/; its feedback log appears "
                "beside it within seconds.",
                flush=True,
            )
    if args.args[:1] == ["standalone"]:
        _say_how_to_log_in(env)
    command = _airflow()
    os.execve(command[0], [*command, *args.args], env)


def _say_how_to_log_in(env: dict[str, str]) -> None:
    """Where the UI is and who logs in: the admin, with the password Airflow prints the
    first time (and keeps in its home, never printed again)."""
    passwords = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    where = (
        f"its password is in {passwords}"
        if passwords.exists()
        else "its password is printed below, this once (then kept in " + str(passwords) + ")"
    )
    print(
        f"Airflow UI: http://{env['AIRFLOW__API__HOST']}:{env['AIRFLOW__API__PORT']}/ "
        f"(this machine only); log in as admin: {where}. Notifications (Slack's stand-in): "
        f"{env.get('PRESERVATION_NOTIFICATIONS', 'slack')}.",
        flush=True,
    )


def clamav_test_database(args: argparse.Namespace) -> int:
    from preservation.tools.clamav import build_test_database

    folder = build_test_database(Path(args.folder))
    print(f"ClamAV test database (EICAR only) in {folder}; set CLAMAV_DATABASE={folder}")
    return 0


def validate_transfer(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from preservation.intake import preflight

    settings = load_settings()
    kind = args.kind
    if args.key:
        try:
            kind, _ = preflight.kind_for_key(args.key)
        except ValueError as exc:
            print(exc)
            return 2
    report = preflight.check(Path(args.package), kind, settings.limits, settings.tool_timeout)
    print(report.render(datetime.now(UTC).isoformat(timespec="seconds")), end="")
    return 0 if report.success else 1


def create_transfer(args: argparse.Namespace) -> int:
    from preservation.core.errors import TransferInvalid
    from preservation.intake import transfer_package

    folder = Path(args.folder)
    output = Path(args.output or f"{folder.resolve().name}.zip")
    try:
        files = transfer_package.build(
            folder, output, args.identifier, args.accession, args.collection_reference
        )
    except TransferInvalid as exc:
        print(f"Cannot create the transfer package: {exc}")
        return 1
    print(f"Wrote {output} ({files} files); checking it as the transfer bucket will:")
    kind = "accession" if args.accession else "catalogued"
    return validate_transfer(argparse.Namespace(package=str(output), kind=kind, key=None))


def aip(args: argparse.Namespace) -> int:
    options = {
        k: v for k, v in vars(args).items() if k not in ("command", "handler") and v is not None
    }
    if "output" in options:
        options["output"] = str(Path(options["output"]).resolve())
    env = airflow_environment(load_settings())
    # Run where the Airflow connections are (an s3:// store is reached through one).
    return subprocess.run(
        [sys.executable, "-m", "preservation_airflow.commands.aip_command", json.dumps(options)],
        env=env,
    ).returncode


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def cluster(args: argparse.Namespace) -> int:
    from preservation.deploy import cluster as native

    home = Path(args.home)
    try:
        if args.action == "up":
            started = native.up(
                home,
                name=args.name,
                workers=args.workers,
                api_port=args.api_port,
                s3_endpoint=args.s3_endpoint,
                s3_credentials=(
                    os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                    os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
                ),
                retry_delay=args.retry_delay,
                extra_env=dict(args.env),
            )
            site = started.site
            print(f"Airflow UI and API: {site.api_url}  (logs: {started.logs})")
            print(
                "Log in as admin: its password is PRESERVATION_ADMIN_PASSWORD, or the one "
                f"kept in {home / native.ADMIN_PASSWORD_FILE}"
            )
            print(
                f"Upload transfers to s3://{site.transfer_bucket}/born-digital/ at "
                f"{site.s3_endpoint}; AIPs go to {site.aip_store}"
            )
            print(
                f"Workers: {', '.join(started.worker_names())} on queues "
                f"{site.default_queue},{site.heavy_queue}"
            )
            print(f"Stop with: preservation cluster down --home {home}")
        elif args.action == "down":
            killed = native.down(home, drop=args.drop)
            print(
                "Stopped"
                + (f" (killed after the grace period: {', '.join(killed)})" if killed else "")
            )
        else:
            for component, state in native.status(home).items():
                print(f"{component:24} {state}")
    except native.ClusterError as exc:
        print(f"preservation cluster {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_options(command: argparse.ArgumentParser) -> None:
    """The options of a command that runs a DAG in this process."""
    command.add_argument(
        "--processing-config", default="default", choices=processing_config.available()
    )
    command.add_argument(
        "--timeout", type=int, default=24 * 3600, help="stop waiting after this many seconds"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="preservation", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("ingest", help="ingest one transfer (.zip or folder)")
    run.add_argument("path", help="path or URL of the transfer: a .zip or a folder")
    _run_options(run)
    run.set_defaults(handler=ingest)
    again = commands.add_parser(
        "reingest", help="make a new version of a stored AIP (metadata, partial or full)"
    )
    again.add_argument("aip", help="the AIP's UUID or identifier")
    again.add_argument("--mode", choices=("metadata", "partial", "full"), default="metadata")
    again.add_argument("--version", type=int, help="which version of the identifier (newest)")
    again.add_argument("--metadata-csv", help="a new metadata.csv")
    again.add_argument("--rights-csv", help="a new rights.csv")
    _run_options(again)
    again.set_defaults(handler=reingest)
    passthrough = commands.add_parser("airflow", help="run the Airflow CLI on the embedded default")
    passthrough.add_argument("args", nargs=argparse.REMAINDER)
    passthrough.set_defaults(handler=airflow)
    testdb = commands.add_parser(
        "clamav-test-database",
        help="build a ClamAV database with only EICAR's signature (offline demos and tests)",
    )
    testdb.add_argument("folder")
    testdb.set_defaults(handler=clamav_test_database)
    check = commands.add_parser(
        "validate-transfer",
        help="check a transfer package (.zip) as the transfer bucket will, before uploading",
    )
    check.add_argument("package", help="the .zip to check")
    check.add_argument(
        "--kind",
        choices=("catalogued", "accession", "any"),
        default="any",
        help="what metadata.csv must describe (default: either)",
    )
    check.add_argument(
        "--key", help="the key it will have in the transfer bucket (its prefix sets --kind)"
    )
    check.set_defaults(handler=validate_transfer)
    create = commands.add_parser(
        "create-transfer", help="zip a folder as a well-formed transfer package"
    )
    create.add_argument("folder", help="the folder of files to preserve")
    create.add_argument(
        "--identifier",
        required=True,
        help="catalogue identifier (dc.identifier), or accession number",
    )
    create.add_argument(
        "--accession",
        action="store_true",
        help="an uncatalogued accession: --identifier is its accession number",
    )
    create.add_argument(
        "--collection-reference",
        default="",
        help="the accession's collection reference (with --accession)",
    )
    create.add_argument("-o", "--output", help="the .zip to write (default: <folder>.zip)")
    create.set_defaults(handler=create_transfer)
    aips = commands.add_parser("aip", help="find and fetch stored AIPs")
    aips.set_defaults(handler=aip)
    aip_actions = aips.add_subparsers(dest="action", required=True)
    listing = aip_actions.add_parser("list", help="stored AIPs, newest first")
    listing.add_argument("--identifier", help="only the versions of this identifier")
    listing.add_argument("--json", action="store_true", help="print JSON records")
    fetch = aip_actions.add_parser("get", help="fetch a stored AIP and check it")
    fetch.add_argument("reference", help="AIP UUID, or identifier (newest version)")
    fetch.add_argument("--version", type=int, help="this version of the identifier")
    fetch.add_argument("-o", "--output", required=True, help="folder to fetch into")
    fetch.add_argument("--user", help="who fetches it, for the audit trail (default: you)")
    trail = aip_actions.add_parser(
        "audit", help="the audit trail: who ingested, decided, deleted, fetched what, and why"
    )
    trail.add_argument("reference", nargs="?", help="one AIP: its UUID or identifier")
    trail.add_argument("--json", action="store_true", help="print JSON entries")
    nodes = commands.add_parser(
        "cluster",
        help="the distributed deployment (Celery, PostgreSQL, Redis, S3) as native processes",
    )
    nodes.set_defaults(handler=cluster)
    node_actions = nodes.add_subparsers(dest="action", required=True)
    for action, text in (("up", "start it"), ("down", "stop it"), ("status", "its processes")):
        sub = node_actions.add_parser(action, help=text)
        sub.add_argument("--home", default="var/cluster", help="the cluster's folder")
    start, stop = node_actions.choices["up"], node_actions.choices["down"]
    start.add_argument("--name", default="preservation", help="database, queue, bucket names")
    start.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    start.add_argument("--api-port", type=int, default=8080)
    start.add_argument("--s3-endpoint", default="", help="S3 to use (default: start moto's)")
    start.add_argument("--retry-delay", type=int, default=60, help="seconds before a retry")
    start.add_argument(
        "--env",
        action="append",
        default=[],
        type=_setting,
        metavar="KEY=VALUE",
        help="extra environment",
    )
    stop.add_argument("--drop", action="store_true", help="also drop its database and queues")
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
