"""Background work of reports: the monthly generation actor (the schedule table sends it).

Thin: generating is `Reports.generate`. The scheduled message names a month and asks for it only if
that month has no version yet, so a message redelivered by dramatiq, or sent by two schedulers, or
sent again when a scheduler restarts, archives the month once. Regenerating on purpose is the
command line's job (`python -m evaluation_service report generate YYYY-MM`), which always adds a
version.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import dramatiq

from reports.model import ReportMonth
from reports.service import Reports

log = logging.getLogger("haochaping.reports")

GENERATE_ACTOR = "reports.generate_month"
QUEUE = "reports"
RUN_HOUR = 1  # 01:00 on the county's clock, on the 1st


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
