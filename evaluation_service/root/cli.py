"""Command line of the service: serve, work, schedule, migrate, back up and restore, load the
catalog, demo data."""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import shutil
import sys
from datetime import date, datetime

from evaluation_service.kernel.settings import Settings, SettingsError


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    workers = args.workers
    if settings.is_sqlite and workers > 1:
        print("SQLite has one writer: serving with 1 worker process.", file=sys.stderr)
        workers = 1
    # Before any process imports prometheus_client: with several workers their counters are kept in
    # files here and summed at scrape time (evaluation_service/root/observability.py).
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = settings.var_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    import uvicorn

    from evaluation_service.root.observability import logging_config
    from evaluation_service.root.server import OneWriteHttpToolsProtocol, serve

    config = uvicorn.Config(
        "evaluation_service.root.main:app",
        host=args.host,
        port=args.port,
        workers=workers,
        access_log=args.access_log,
        log_config=logging_config(settings.log_format, settings.log_level),
        loop="uvloop",
        http=OneWriteHttpToolsProtocol,
        proxy_headers=False,
        server_header=False,
    )
    try:
        serve(config)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _migrate(settings: Settings) -> int:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = asyncio.run(run_forwards(app_name="all"))
    if not result.success:
        print(result.message, file=sys.stderr)
        return 1
    return 0


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"日期“{text}”不正确，应为 YYYY-MM-DD，例如 2026-11-29"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation_service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--access-log", action="store_true")
    commands.add_parser("migrate", help="apply database migrations")
    load = commands.add_parser(
        "load-catalog", help="load departments, items, windows, staff, devices"
    )
    load.add_argument("files", nargs="+", help="CSV files, or a folder holding them")
    client = commands.add_parser(
        "create-client", help="register a business system; prints its token"
    )
    client.add_argument("name")
    commands.add_parser("demo", help="load the demo catalog and indicators (idempotent)")
    user = commands.add_parser("create-user", help="create a staff account (asks for the password)")
    user.add_argument("username")
    user.add_argument("--role", required=True, choices=["liaison", "supervisor", "deputy", "admin"])
    user.add_argument("--name", default="", help="display name, e.g. 张三")
    user.add_argument("--department", help="liaisons: their department's 18-character code")
    user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    backup = commands.add_parser(
        "backup", help="back the database up into a file (pg_dump, or SQLite's online backup)"
    )
    backup.add_argument("destination", help="a new file, e.g. backup/haochaping-2026-11-30.dump")
    restore = commands.add_parser(
        "restore", help="restore a backup file into the new, empty database of DATABASE_URL"
    )
    restore.add_argument("source", help="a file written by `backup`")
    commands.add_parser("worker", help="dramatiq worker for every actor, plus the outbox relay")
    commands.add_parser(
        "scheduler", help="enqueue the sweep, monthly report and reconciliation (run exactly one)"
    )
    simulator = commands.add_parser("simulator", help="run the province simulator (development)")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8010)
    reconcile = commands.add_parser(
        "reconcile", help="compare one day's deliveries with what the province holds"
    )
    reconcile.add_argument("--day", type=_day, help="YYYY-MM-DD, default yesterday (county time)")
    report = commands.add_parser("report", help="monthly reports: generate a month, list archive")
    report_commands = report.add_subparsers(dest="report_command", required=True)
    generate = report_commands.add_parser("generate", help="generate and archive a month")
    generate.add_argument("month", help="YYYY-MM, e.g. 2026-10")
    generate.add_argument(
        "--as-of",
        type=datetime.fromisoformat,
        default=None,
        help="the instant open and overdue tickets are judged at (ISO 8601; default: now)",
    )
    report_commands.add_parser("list", help="list every archived month and version")
    args = parser.parse_args(argv)
    if getattr(args, "as_of", None) is not None and args.as_of.tzinfo is None:
        print("--as-of needs a timezone, e.g. 2026-11-01T01:00+08:00", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"setting error: {exc}", file=sys.stderr)
        return 2
    if args.command in ("serve", "worker", "scheduler", "reconcile"):
        from evaluation_service.root.bootstrap import forwarding_problem

        problem = forwarding_problem(settings, needed=args.command == "reconcile")
        if problem:
            print(problem, file=sys.stderr)
            return 2
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command in ("backup", "restore"):
        from evaluation_service.root.backup import backup_command, restore_command

        if args.command == "backup":
            return backup_command(settings, args.destination)
        return restore_command(settings, args.source)
    if args.command in ("worker", "scheduler"):
        from evaluation_service.root.observability import logging_config

        logging.config.dictConfig(logging_config(settings.log_format, settings.log_level))
    if args.command == "worker":
        from evaluation_service.root.worker import run_worker

        return run_worker(settings)
    if args.command == "scheduler":
        from evaluation_service.root.worker import run_scheduler

        return run_scheduler(settings)
    if args.command == "simulator":
        from connectors.province_sim.__main__ import main as simulator_main

        return simulator_main(["--host", args.host, "--port", str(args.port)])
    return asyncio.run(_with_database(args, settings))


async def _with_database(args: argparse.Namespace, settings: Settings) -> int:
    """The commands that work on the database: one started by the root, closed on the way out."""
    from connectors.actors import province_client
    from connectors.commands import reconcile_command
    from evaluation_service.evaluations import catalog
    from evaluation_service.identity.commands import create_user_command
    from evaluation_service.root.bootstrap import build_services, started_database
    from reports.commands import generate_command, list_command

    async with started_database(settings) as db:
        if args.command == "report":
            reports = build_services(settings, db).reports
            if args.report_command == "generate":
                return await generate_command(reports, args.month, args.as_of)
            return await list_command(reports)
        if args.command == "create-user":
            return await create_user_command(
                db, args.username, args.role, args.name, args.department, args.password_stdin
            )
        if args.command == "reconcile":
            return await reconcile_command(province_client(settings), settings, args.day)
        if args.command == "load-catalog":
            return await catalog.load_command(db, args.files)
        if args.command == "create-client":
            return await catalog.create_client_command(db, args.name)
        if args.command == "demo":
            return await catalog.demo_command(db)
    return 2


if __name__ == "__main__":
    sys.exit(main())
