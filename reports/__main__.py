"""Command line of the reports: generate a month (with a progress bar) and list the archive.

python -m reports generate 2026-10
python -m reports list
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from evaluation_service.errors import DomainError
from evaluation_service.settings import Settings, SettingsError

STEP_TEXT = {
    "frames": "整理数据",
    "figures": "绘制图表",
    "page": "生成页面",
    "archive": "存档",
}


class ProgressBar:
    """A one-line text progress bar on stderr: `[#######-------]  7/19  ratings`."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.out, self.width = total, out, width
        self.done = 0
        self.started = time.monotonic()

    def __call__(self, step: str) -> None:
        self.done = min(self.done + 1, self.total)
        filled = round(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        label = STEP_TEXT.get(step, f"查询 {step}")
        elapsed = time.monotonic() - self.started
        self.out.write(f"\r[{bar}] {self.done:>2}/{self.total}  {elapsed:5.1f}s  {label:<28}")
        if self.done == self.total:
            self.out.write("\n")
        self.out.flush()


async def _generate(settings: Settings, month_text: str, as_of: datetime | None) -> int:
    from evaluation_service.app import build_calendar
    from evaluation_service.database import Database, registered_tables
    from reports.model import ReportMonth
    from reports.service import Reports

    month = ReportMonth.parse(month_text)
    db = Database(settings.database_url, settings.db_pool_size)
    db.bind(registered_tables())
    await db.start()
    try:
        service = Reports.from_settings(db, settings, build_calendar(settings))
        bar = ProgressBar(service.step_count())
        # The edge decides "now"; the pipeline only ever receives it.
        info = await service.generate(month, as_of or datetime.now(UTC), bar)
    finally:
        await db.close()
    print(
        f"{info.month} version {info.version} archived; sha256 {info.content_hash}; "
        f"page /reports/{info.month}?version={info.version}"
    )
    return 0


async def _list(settings: Settings) -> int:
    from evaluation_service.app import build_calendar
    from evaluation_service.database import Database, registered_tables
    from reports.service import Reports

    db = Database(settings.database_url, settings.db_pool_size)
    db.bind(registered_tables())
    await db.start()
    try:
        versions = await Reports.from_settings(
            db, settings, build_calendar(settings)
        ).list_versions()
    finally:
        await db.close()
    for v in versions:
        print(f"{v.month}  v{v.version:<3} {v.created_at.isoformat()}  {v.content_hash}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="generate and archive a month (a new version)")
    generate.add_argument("month", help="YYYY-MM, e.g. 2026-10")
    generate.add_argument(
        "--as-of",
        type=datetime.fromisoformat,
        default=None,
        help="the instant open and overdue tickets are judged at (ISO 8601; default: now)",
    )
    commands.add_parser("list", help="list every archived month and version")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"setting error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "generate":
            as_of = args.as_of
            if as_of is not None and as_of.tzinfo is None:
                print("--as-of needs a timezone, e.g. 2026-11-01T01:00+08:00", file=sys.stderr)
                return 2
            return asyncio.run(_generate(settings, args.month, as_of))
        return asyncio.run(_list(settings))
    except DomainError as exc:
        print(f"{exc.zh} ({exc.en})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
