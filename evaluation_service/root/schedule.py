"""The service's schedules as one table: what runs when. APScheduler decides when; a job only
*sends* — a dramatiq message from the `scheduler` process, or an in-process call in the embedded
default — and every job is idempotent, so a catch-up run at start or a redelivered message costs
work, never a duplicate (a month already archived is skipped, a sweep marks what is due, a
reconciliation recomputes, an indicator version already stored changes nothing).

| job                 | when (county clock)        | does                                       |
|---------------------|----------------------------|--------------------------------------------|
| deadline-sweep      | every TICKET_SWEEP_MINUTES | yellow/red marks, escalation               |
| monthly-report      | the 1st at 01:00           | archive the previous month (once)          |
| reconcile-yesterday | daily at 02:00             | compare yesterday with the province        |
| indicator-sync      | every INDICATOR_SYNC_HOURS | national indicators from the norm service  |

Each job also runs once when the schedule starts, so a node that was down catches up. Every job
names its period (the 10-minute slot, the month, the day); before sending, a scheduler inserts
(job, period) into `schedule_run`, whose unique index lets exactly one of any number of schedulers
send it — so two scheduler processes on two nodes do not both archive the month or both sweep.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from evaluation_service.kernel.settings import Settings
from evaluation_service.kernel.tables import ScheduleRun

log = logging.getLogger("haochaping.schedule")

REPORT_HOUR = 1  # 01:00 on the 1st: the month before is complete
RECONCILE_HOUR = 2  # 02:00: yesterday is complete and the province is quiet


@dataclass(frozen=True)
class Sends:
    """What the jobs send: in the scheduler process, dramatiq messages; embedded, direct calls."""

    sweep: Callable[[], Awaitable[None]]
    report: Callable[[str], Awaitable[None]]
    reconcile: Callable[[str], Awaitable[None]]
    indicators: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    name: str
    trigger: BaseTrigger
    run: Callable[[], Awaitable[None]]
    # The period a run at that instant belongs to: one send per period across all schedulers.
    period: Callable[[datetime], str]


def _slot(seconds: float) -> Callable[[datetime], str]:
    def period(now: datetime) -> str:
        return f"{int(now.timestamp() // seconds)}x{int(seconds)}s"

    return period


def report_month_due(now: datetime, zone: tzinfo) -> str:
    """The month a run at `now` archives: the one before the county's current month."""
    local = now.astimezone(zone)
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def reconcile_day_due(now: datetime, zone: tzinfo) -> date:
    """The day a run at `now` reconciles: yesterday on the county's clock."""
    return now.astimezone(zone).date() - timedelta(days=1)


def schedule_table(
    settings: Settings, sends: Sends, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> list[Job]:
    zone = ZoneInfo(settings.timezone)

    async def report() -> None:
        await sends.report(report_month_due(clock(), zone))

    async def reconcile() -> None:
        await sends.reconcile(reconcile_day_due(clock(), zone).isoformat())

    jobs = [
        Job(
            "deadline-sweep",
            IntervalTrigger(minutes=settings.ticket_sweep_minutes, timezone=zone),
            sends.sweep,
            _slot(settings.ticket_sweep_minutes * 60),
        ),
        Job(
            "monthly-report",
            CronTrigger(day=1, hour=REPORT_HOUR, timezone=zone),
            report,
            lambda now: report_month_due(now, zone),
        ),
    ]
    if settings.forwarding_enabled:
        jobs += [
            Job(
                "reconcile-yesterday",
                CronTrigger(hour=RECONCILE_HOUR, timezone=zone),
                reconcile,
                lambda now: reconcile_day_due(now, zone).isoformat(),
            ),
            Job(
                "indicator-sync",
                IntervalTrigger(hours=settings.indicator_sync_hours, timezone=zone),
                sends.indicators,
                _slot(settings.indicator_sync_hours * 3600),
            ),
        ]
    return jobs


Claim = Callable[[str, str], Awaitable[bool]]


async def claim_run(job: str, period: str) -> bool:
    """True for the one scheduler that records (job, period) first; False for every other."""
    inserted = (
        await ScheduleRun.insert(ScheduleRun(job=job, period=period))
        .on_conflict(action="DO NOTHING")
        .returning(ScheduleRun.id)
    )
    return bool(inserted)


def _once_per_period(
    job: Job, claim: Claim, clock: Callable[[], datetime]
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            period = job.period(clock())
            if not await claim(job.name, period):
                log.info(
                    "scheduled job %s for %s already sent by another scheduler", job.name, period
                )
                return
            await job.run()
        except Exception:  # the next fire time tries again; one failure must not stop the table
            log.exception("scheduled job %s failed", job.name)

    return run


@asynccontextmanager
async def running(
    jobs: list[Job],
    claim: Claim = claim_run,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AsyncIterator[AsyncIOScheduler]:
    """The table on this event loop, each job once now and then on its trigger, until the block
    ends. A job still running when its next time comes is not started twice (max_instances=1)."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime.now(UTC)
    for job in jobs:
        scheduler.add_job(
            _once_per_period(job, claim, clock),
            job.trigger,
            id=job.name,
            name=job.name,
            next_run_time=now,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
    scheduler.start()
    log.info("schedule: %s", ", ".join(job.name for job in jobs))
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)
