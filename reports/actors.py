"""Background work of reports: the monthly generation actor and the 1st-of-month 01:00 schedule.

Thin: generating is `Reports.generate`. The scheduled message names a month and asks for it only if
that month has no version yet, so a message redelivered by dramatiq, or sent by two schedulers, or
sent again when a scheduler restarts, archives the month once. Regenerating on purpose is the
command line's job (`python -m evaluation_service report generate YYYY-MM`), which always adds a
version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import dramatiq

from reports.model import ReportMonth, local_midnight
from reports.service import Reports

log = logging.getLogger("haochaping.reports")

GENERATE_ACTOR = "reports.generate_month"
QUEUE = "reports"
RUN_HOUR = 1  # 01:00 on the county's clock, on the 1st


def next_run(after: datetime, zone: tzinfo) -> datetime:
    """The first 1st-of-month 01:00 (county clock) strictly after `after`, in UTC."""
    local = after.astimezone(zone)
    month = ReportMonth(local.year, local.month)
    for candidate in (month, month.shifted(1)):
        at = local_midnight(candidate.first_day(), zone) + timedelta(hours=RUN_HOUR)
        if at > after:
            return at
    raise AssertionError("unreachable")


def month_due(now: datetime, zone: tzinfo) -> ReportMonth:
    """The month a run at `now` generates: the one before the county's current month."""
    local = now.astimezone(zone)
    return ReportMonth(local.year, local.month).shifted(-1)


async def generate_scheduled(service: Reports, month: str, as_of: datetime) -> int | None:
    """Generate `month` unless it is archived already; the new version, or None if skipped."""
    parsed = ReportMonth.parse(month)
    if any(v.month == str(parsed) for v in await service.list_versions()):
        log.info("report %s already archived; scheduled run skipped", parsed)
        return None
    info = await service.generate(parsed, as_of)
    log.info("report %s archived as version %d (%s)", parsed, info.version, info.content_hash)
    return info.version


def declare_generate(
    broker: dramatiq.Broker, service: Callable[[], Awaitable[Reports]]
) -> dramatiq.Actor:  # type: ignore[type-arg]
    """The generation actor on `broker` (which needs dramatiq's AsyncIO middleware)."""

    async def generate_month(month: str) -> None:
        await generate_scheduled(await service(), month, datetime.now(UTC))

    declare = dramatiq.actor(
        broker=broker,
        actor_name=GENERATE_ACTOR,
        queue_name=QUEUE,
        max_retries=3,
        time_limit=15 * 60_000,
    )
    return declare(generate_month)


async def schedule(
    send: Callable[[str], Any],
    zone: tzinfo,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """The scheduler: enqueue the previous month now (catch-up after downtime; skipped if archived)
    and then at every 1st-of-month 01:00, until cancelled."""
    while True:
        try:
            await asyncio.to_thread(send, str(month_due(clock(), zone)))
        except Exception:
            log.exception("could not enqueue the monthly report")
        wait = (next_run(clock(), zone) - clock()).total_seconds()
        await sleep(max(wait, 1.0))


def embedded_scheduler(
    service: Reports, zone: tzinfo, enabled: bool
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan hook for the embedded default: the schedule as a task on the web process's loop,
    generating in-process instead of enqueueing."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()

        def send(month: str) -> None:
            future = asyncio.run_coroutine_threadsafe(
                generate_scheduled(service, month, datetime.now(UTC)), loop
            )
            future.add_done_callback(_log_failure)

        task = asyncio.create_task(schedule(send, zone))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @asynccontextmanager
    async def nothing(_: Any) -> AsyncIterator[None]:
        yield

    return lifespan if enabled else nothing


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("monthly report failed: %r", future.exception())
