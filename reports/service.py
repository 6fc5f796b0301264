"""Report use cases: generate a month (query → frame → figure → render → archive), list, read."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import NotFound
from evaluation_service.kernel.settings import Settings
from evaluation_service.kernel.workdays import WorkCalendar
from reports import figures, frames, queries, render, themes
from reports.model import TREND_MONTHS, FlagRules, ReportMonth, ReportOptions
from reports.tables import ReportJob, ReportVersion

Progress = Callable[[str], None]

# Steps after the queries, for the progress bar: themes, frames, figures, page, archive.
LATER_STEPS = ("themes", "frames", "figures", "page", "archive")


def options_from(settings: Settings) -> ReportOptions:
    return ReportOptions(
        basic_satisfied_counts_as_good=settings.basic_satisfied_counts_as_good,
        show_staff_numbers=settings.report_show_staff_numbers,
        timezone=settings.timezone,
        limits=settings.step_days,
        flags=FlagRules(
            device_burst_count=settings.flag_device_burst_count,
            device_burst_gap_seconds=settings.flag_device_burst_gap_seconds,
            phone_burst_count=settings.flag_phone_burst_count,
            phone_burst_gap_seconds=settings.flag_phone_burst_gap_seconds,
            hall_hours=settings.hall_day_span,
            closed_hours_min_ratings=settings.flag_closed_hours_min_ratings,
            jump_points=settings.flag_jump_points,
            jump_min_ratings=settings.flag_jump_min_ratings,
            jump_history_months=settings.flag_jump_history_months,
            run_length=settings.flag_run_length,
        ),
    )


def content_hash(metrics_json: str, html: str) -> str:
    digest = hashlib.sha256()
    digest.update(metrics_json.encode())
    digest.update(b"\n")
    digest.update(html.encode())
    return digest.hexdigest()


def dump_metrics(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class VersionInfo:
    month: str
    version: int
    created_at: datetime
    as_of: datetime
    content_hash: str


def build_page(
    report_frames: frames.ReportFrames,
    version: int,
    earlier: list[render.EarlierVersion],
) -> tuple[str, str]:
    """The pure tail of the pipeline: (metrics JSON, page) for one version of a month."""
    data = frames.metrics(report_frames)
    data["version"] = version
    html = render.page(report_frames, figures.build(report_frames), version, earlier)
    return dump_metrics(data), html


def build_restricted(report_frames: frames.ReportFrames, version: int) -> str:
    """The supervisors' part of a version (flags with evidence, example comments), as JSON."""
    return dump_metrics({**frames.restricted(report_frames), "version": version})


@dataclass
class GenerationJob:
    """One generation started from the page, as any web process reads it from the database."""

    id: int
    month: str
    total: int
    done: int = 0
    state: str = "running"  # running | done | failed | interrupted (its process stopped)
    version: int | None = None
    error: str = ""


class _Counter:
    """The progress callback of a running generation: counted in memory, flushed by `run`."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0

    def step(self, _name: str) -> None:
        self.done = min(self.total, self.done + 1)


class GenerationJobs:
    """Generations started from the page, in the `report_job` table: the process that runs one
    writes its progress there every `FLUSH_SECONDS`, so the page's poll may land on any process.
    A running job whose heartbeat is older than `STALE_SECONDS` lost its process."""

    KEEP = 10
    FLUSH_SECONDS = 0.5
    STALE_SECONDS = 120.0

    def __init__(self, db: Database) -> None:
        self.db = db

    async def start(self, month: str, total: int) -> tuple[int, _Counter]:
        async with self.db.write():
            rows = await ReportJob.insert(ReportJob(month=month, total=total)).returning(
                ReportJob.id
            )
        return int(rows[0]["id"]), _Counter(total)

    async def _save(self, job_id: int, **values: Any) -> None:
        values["heartbeat_at"] = datetime.now(UTC)
        async with self.db.write():
            await ReportJob.update(
                {getattr(ReportJob, name): value for name, value in values.items()}
            ).where(ReportJob.id == job_id)

    async def run(self, job_id: int, counter: _Counter, work: Awaitable[VersionInfo]) -> None:
        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(self.FLUSH_SECONDS)
                await self._save(job_id, done=counter.done)

        beating = asyncio.create_task(heartbeat())
        try:
            info = await work
        except Exception as error:  # shown on the page; the archive is unchanged
            beating.cancel()
            await self._save(
                job_id, state="failed", done=counter.done, error=f"{type(error).__name__} {error}"
            )
            return
        beating.cancel()
        await self._save(job_id, state="done", done=counter.total, version=info.version)

    async def recent(self, now: datetime) -> list[GenerationJob]:
        rows = await ReportJob.select().order_by(ReportJob.id, ascending=False).limit(self.KEEP)
        jobs = []
        for row in rows:
            state = row["state"]
            beat = as_utc(row["heartbeat_at"])
            if state == "running" and (now - beat).total_seconds() > self.STALE_SECONDS:
                state = "interrupted"
            jobs.append(
                GenerationJob(
                    id=row["id"],
                    month=row["month"],
                    total=row["total"],
                    done=row["done"],
                    state=state,
                    version=row["version"],
                    error=row["error"],
                )
            )
        return jobs


class Reports:
    def __init__(self, db: Database, options: ReportOptions, calendar: WorkCalendar) -> None:
        self.db = db
        self.options = options
        self.calendar = calendar
        self.zone = ZoneInfo(options.timezone)
        self.jobs = GenerationJobs(db)

    @classmethod
    def from_settings(cls, db: Database, settings: Settings, calendar: WorkCalendar) -> Reports:
        return cls(db, options_from(settings), calendar)

    def step_count(self) -> int:
        return queries.query_count() + len(LATER_STEPS)

    async def compute(
        self, month: ReportMonth, as_of: datetime, progress: Progress | None = None
    ) -> frames.ReportFrames:
        """Query and shape one month; nothing is stored."""
        trend = month.trend(TREND_MONTHS)
        start, end = month.bounds(self.zone)
        trend_bounds = [m.bounds(self.zone)[0] for m in trend] + [end]
        rules = self.options.flags
        offset = start.astimezone(self.zone).utcoffset()
        archived, unarchived = await self._window_history(month, rules.jump_history_months)
        flag_query = queries.FlagQuery(
            rules=rules,
            timezone=self.options.timezone,
            offset_minutes=int(offset.total_seconds() // 60) if offset else 0,
            archived_history=archived,
            unarchived_months=unarchived,
        )

        async def segmented() -> themes.Themes:
            # jieba works while the database answers the other queries.
            rows = await queries.bad_comments(start, end)
            if progress is not None:
                progress("bad_comments")
            found = await asyncio.to_thread(themes.segment_themes, rows)
            if progress is not None:
                progress("themes")
            return found

        raw, found_themes = await asyncio.gather(
            queries.fetch(
                month,
                (start, end),
                trend_bounds,
                as_of,
                self.db.is_sqlite,
                progress,
                previous=month.shifted(-1).bounds(self.zone),
                flags=flag_query,
                with_comments=False,
            ),
            segmented(),
        )
        # The CPU-bound steps run off the event loop, so a web process keeps answering meanwhile.
        shaped = await asyncio.to_thread(
            frames.build, raw, self.options, self.calendar, found_themes
        )
        if progress is not None:
            progress("frames")
        return shaped

    async def _window_history(
        self, month: ReportMonth, months: int
    ) -> tuple[queries.Rows, list[tuple[datetime, datetime]]]:
        """Each window's first ratings and 5-star ratings in the `months` before `month`: from
        the latest archived version of a month when there is one (no scan of its ratings), else
        the bounds of the month, to be counted by a query."""
        earlier = [month.shifted(-i) for i in range(months, 0, -1)]
        rows: queries.Rows = []
        missing: list[tuple[datetime, datetime]] = []
        for previous in earlier:
            stored = (
                await ReportVersion.select(ReportVersion.metrics)
                .where(ReportVersion.month == str(previous))
                .order_by(ReportVersion.version, ascending=False)
                .first()
            )
            windows = json.loads(stored["metrics"])["breakdowns"].get("window") if stored else None
            if windows is None:
                missing.append(previous.bounds(self.zone))
                continue
            rows += [
                {"window_no": w["window_no"], "ratings": w["ratings"], "five": w["level_5"]}
                for w in windows
                if w.get("window_no")
            ]
        return rows, missing

    async def generate(
        self, month: ReportMonth, as_of: datetime, progress: Progress | None = None
    ) -> VersionInfo:
        """Compute the month and archive it as a new version; earlier versions stay as they were."""
        shaped = await self.compute(month, as_of, progress)
        for attempt in range(3):
            earlier = await self._earlier(str(month))
            version = earlier[-1].version + 1 if earlier else 1
            metrics_json, html = await asyncio.to_thread(build_page, shaped, version, earlier)
            if progress is not None and attempt == 0:
                progress("figures")
                progress("page")
            digest = content_hash(metrics_json, html)
            created_at = datetime.now(UTC)
            try:
                async with self.db.write():
                    await ReportVersion.insert(
                        ReportVersion(
                            month=str(month),
                            version=version,
                            created_at=created_at,
                            as_of=as_of,
                            content_hash=digest,
                            metrics=metrics_json,
                            html=html,
                            restricted=build_restricted(shaped, version),
                        )
                    )
            except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
                # Another process archived version n first; render again as n + 1.
                if attempt == 2:
                    raise
                continue
            if progress is not None:
                progress("archive")
            return VersionInfo(str(month), version, created_at, as_of, digest)
        raise AssertionError("unreachable")

    async def _earlier(self, month: str) -> list[render.EarlierVersion]:
        rows = (
            await ReportVersion.select(
                ReportVersion.version, ReportVersion.created_at, ReportVersion.content_hash
            )
            .where(ReportVersion.month == month)
            .order_by(ReportVersion.version)
        )
        return [
            render.EarlierVersion(
                version=row["version"],
                created_at=as_utc(row["created_at"])
                .astimezone(self.zone)
                .strftime("%Y-%m-%d %H:%M"),
                content_hash=row["content_hash"],
            )
            for row in rows
        ]

    async def list_versions(self) -> list[VersionInfo]:
        rows = (
            await ReportVersion.select(
                ReportVersion.month,
                ReportVersion.version,
                ReportVersion.created_at,
                ReportVersion.as_of,
                ReportVersion.content_hash,
            )
            .order_by(ReportVersion.month, ascending=False)
            .order_by(ReportVersion.version, ascending=False)
        )
        return [
            VersionInfo(
                row["month"],
                row["version"],
                as_utc(row["created_at"]),
                as_utc(row["as_of"]),
                row["content_hash"],
            )
            for row in rows
        ]

    async def _stored(self, month: ReportMonth, version: int | None, column: Any) -> dict[str, Any]:
        query = ReportVersion.select(
            ReportVersion.version, ReportVersion.content_hash, column
        ).where(ReportVersion.month == str(month))
        if version is not None:
            query = query.where(ReportVersion.version == version)
        row = await query.order_by(ReportVersion.version, ascending=False).first()
        if row is None:
            which = f"第{version}版" if version is not None else "报告"
            raise NotFound(
                "report_not_found",
                f"{month.text}的{which}尚未生成。",
                f"no report for {month}" + (f" version {version}" if version else ""),
                "month",
            )
        return dict(row)

    async def metrics(self, month: ReportMonth, version: int | None = None) -> dict[str, Any]:
        row = await self._stored(month, version, ReportVersion.metrics)
        data: dict[str, Any] = json.loads(row["metrics"])
        data["content_hash"] = row["content_hash"]
        return data

    async def restricted(self, month: ReportMonth, version: int | None = None) -> dict[str, Any]:
        """The supervisors' part of a version: integrity flags with evidence, example comments.
        Empty lists for a version archived before it existed."""
        row = await self._stored(month, version, ReportVersion.restricted)
        data: dict[str, Any] = json.loads(row["restricted"] or "{}")
        data.setdefault("flags", [])
        data.setdefault("themes", [])
        data.setdefault("flag_counts", [])
        data.setdefault("rules", {})
        data["version"] = row["version"]
        data["content_hash"] = row["content_hash"]
        return data

    async def page(self, month: ReportMonth, version: int | None = None) -> tuple[str, int, str]:
        """The archived page exactly as generated, its version and its content hash."""
        row = await self._stored(month, version, ReportVersion.html)
        return row["html"], row["version"], row["content_hash"]
