"""The schedule table: which jobs exist, when each fires on the county's clock, what each sends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from evaluation_service.kernel.settings import Settings
from evaluation_service.root.schedule import (
    Job,
    Sends,
    reconcile_day_due,
    report_month_due,
    schedule_table,
)

ZONE = ZoneInfo("Asia/Shanghai")
sent: list[tuple[str, str]] = []


async def _sweep() -> None:
    sent.append(("sweep", ""))


async def _report(month: str) -> None:
    sent.append(("report", month))


async def _reconcile(day: str) -> None:
    sent.append(("reconcile", day))


async def _indicators() -> None:
    sent.append(("indicators", ""))


SENDS = Sends(sweep=_sweep, report=_report, reconcile=_reconcile, indicators=_indicators)


def _jobs(
    forwarding: bool, now: datetime = datetime(2026, 11, 1, 1, 0, tzinfo=ZONE)
) -> dict[str, Job]:
    settings = replace(Settings(), forwarding_enabled=forwarding, ticket_sweep_minutes=10)
    return {job.name: job for job in schedule_table(settings, SENDS, clock=lambda: now)}


def test_without_forwarding_only_the_sweep_and_the_report_are_scheduled() -> None:
    assert set(_jobs(False)) == {"deadline-sweep", "monthly-report"}


def test_with_forwarding_reconciliation_and_indicator_sync_join_the_table() -> None:
    assert set(_jobs(True)) == {
        "deadline-sweep",
        "monthly-report",
        "reconcile-yesterday",
        "indicator-sync",
    }


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2026, 10, 15, 12, 0, tzinfo=ZONE), datetime(2026, 11, 1, 1, 0, tzinfo=ZONE)),
        (datetime(2026, 11, 1, 0, 59, tzinfo=ZONE), datetime(2026, 11, 1, 1, 0, tzinfo=ZONE)),
        (datetime(2026, 11, 1, 1, 0, 1, tzinfo=ZONE), datetime(2026, 12, 1, 1, 0, tzinfo=ZONE)),
        (datetime(2026, 12, 20, 0, 0, tzinfo=ZONE), datetime(2027, 1, 1, 1, 0, tzinfo=ZONE)),
    ],
)
def test_the_report_runs_on_the_first_of_the_month_at_one_county_time(
    after: datetime, expected: datetime
) -> None:
    trigger = _jobs(False)["monthly-report"].trigger
    assert trigger.get_next_fire_time(None, after.astimezone(UTC)) == expected


def test_reconciliation_runs_daily_at_two_county_time() -> None:
    trigger = _jobs(True)["reconcile-yesterday"].trigger
    before = datetime(2026, 11, 27, 1, 59, tzinfo=ZONE)
    assert trigger.get_next_fire_time(None, before) == datetime(2026, 11, 27, 2, 0, tzinfo=ZONE)


def test_a_run_on_the_first_archives_the_month_before_on_the_county_clock() -> None:
    # 17:00 UTC on 31 October is already 1 November 01:00 in the county.
    assert report_month_due(datetime(2026, 10, 31, 17, 0, tzinfo=UTC), ZONE) == "2026-10"
    assert report_month_due(datetime(2027, 1, 1, 1, 0, tzinfo=ZONE), ZONE) == "2026-12"


def test_reconciliation_takes_yesterday_on_the_county_clock() -> None:
    assert reconcile_day_due(datetime(2026, 11, 27, 2, 0, tzinfo=ZONE), ZONE) == date(2026, 11, 26)
    # 17:00 UTC on 26 November is 01:00 on the 27th in the county: yesterday is the 26th.
    assert reconcile_day_due(datetime(2026, 11, 26, 17, 0, tzinfo=UTC), ZONE) == date(2026, 11, 26)


async def test_each_job_sends_what_its_moment_calls_for() -> None:
    sent.clear()
    jobs = _jobs(True, now=datetime(2026, 11, 1, 2, 0, tzinfo=ZONE))
    for name in ("deadline-sweep", "monthly-report", "reconcile-yesterday", "indicator-sync"):
        await jobs[name].run()
    assert sent == [
        ("sweep", ""),
        ("report", "2026-10"),
        ("reconcile", "2026-10-31"),
        ("indicators", ""),
    ]
