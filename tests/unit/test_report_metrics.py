"""Pure rules of the monthly report: the month on the county's clock, rates, percentiles, limits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from evaluation_service.kernel.errors import InvalidInput
from evaluation_service.kernel.settings import StepDays
from reports.model import (
    ReportMonth,
    good_levels,
    median,
    month_to_generate,
    nearest_rank,
    percent,
    points,
    rate,
    split_tags,
    wilson,
)

ZONE = ZoneInfo("Asia/Shanghai")


def test_a_month_is_a_half_open_utc_interval_on_the_county_clock() -> None:
    start, end = ReportMonth(2026, 10).bounds(ZONE)

    assert start == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)


def test_december_ends_at_the_first_of_january() -> None:
    _, end = ReportMonth(2026, 12).bounds(ZONE)

    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"), [("2026-10", ReportMonth(2026, 10)), (" 2027-01 ", ReportMonth(2027, 1))]
)
def test_month_text_is_parsed(text: str, expected: ReportMonth) -> None:
    assert ReportMonth.parse(text) == expected


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "202610", "October", "1999-12"])
def test_a_malformed_month_is_refused_in_chinese_and_english(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        ReportMonth.parse(text)

    assert "YYYY-MM" in error.value.zh and "YYYY-MM" in error.value.en


def test_the_trend_is_twelve_months_ending_with_the_month_across_a_year_end() -> None:
    months = [str(m) for m in ReportMonth(2026, 3).trend()]

    assert months[0] == "2025-04"
    assert months[-1] == "2026-03"
    assert len(months) == 12
    assert "2025-12" in months and "2026-01" in months


@pytest.mark.parametrize(
    ("local_now", "expected"),
    [
        (datetime(2026, 11, 1, 1, 0, tzinfo=ZONE), "2026-10"),
        (datetime(2027, 1, 1, 1, 30, tzinfo=ZONE), "2026-12"),
        (datetime(2026, 11, 1, 0, 59, tzinfo=ZONE), None),
        (datetime(2026, 11, 2, 1, 0, tzinfo=ZONE), None),
    ],
)
def test_the_schedule_generates_the_previous_month_on_the_first_from_one_o_clock(
    local_now: datetime, expected: str | None
) -> None:
    month = month_to_generate(local_now)

    assert (str(month) if month else None) == expected


def test_a_rate_without_a_denominator_is_unknown_not_zero() -> None:
    assert rate(0, 0) is None
    assert rate(0, 5) == 0.0
    assert rate(3, 4) == 0.75


def test_basic_satisfied_counts_as_good_only_by_setting() -> None:
    assert good_levels(True) == (5, 4, 3)
    assert good_levels(False) == (5, 4)


def test_p90_is_the_nearest_rank() -> None:
    assert nearest_rank([4, 18, 16], 0.9) == 18
    assert nearest_rank(list(range(1, 11)), 0.9) == 9
    assert nearest_rank([7], 0.9) == 7
    assert nearest_rank([], 0.9) is None


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    assert median([4, 18]) == 11
    assert median([4, 16, 18]) == 16
    assert median([]) is None


def test_the_on_time_limit_is_the_sum_of_step_deadlines_with_the_cap_when_extended() -> None:
    limits = StepDays(accept=1, verify=3, rectify=5, rectify_cap=15, feedback=2, supervision=3)

    assert limits.on_time_total(extension_used=False) == 14
    assert limits.on_time_total(extension_used=True) == 24


def test_stored_tags_are_split_on_commas() -> None:
    assert split_tags("103,104") == ["103", "104"]
    assert split_tags(" 103 , ") == ["103"]
    assert split_tags("") == []


def test_percent_shows_unknown_as_a_dash() -> None:
    assert percent(None) == "—"
    assert percent(float("nan")) == "—"
    assert percent(0.5) == "50.0%"


def test_month_of_a_day() -> None:
    assert ReportMonth.of(date(2026, 10, 31)).shifted(1) == ReportMonth(2026, 11)


def test_the_wilson_interval_is_honest_about_small_counts() -> None:
    none_of_ten = wilson(0, 10)
    half = wilson(5, 10)

    assert none_of_ten is not None and half is not None
    assert none_of_ten[0] == 0.0
    assert none_of_ten[1] == pytest.approx(1.96**2 / (10 + 1.96**2))
    assert half == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 0) is None
    wide, narrow = wilson(1, 2), wilson(100, 200)
    assert wide is not None and narrow is not None
    assert wide[1] - wide[0] > 3 * (narrow[1] - narrow[0])


def test_a_change_of_a_share_reads_in_signed_percentage_points() -> None:
    assert points(0.025) == "+2.5个百分点"
    assert points(-0.636) == "-63.6个百分点"
    assert points(None) == "—"


def test_hall_hours_and_flag_thresholds_are_read_from_the_environment() -> None:
    from evaluation_service.kernel.settings import Settings, SettingsError
    from reports.service import options_from

    env = {
        "TOKEN_SECRET": "x",
        "HALL_OPEN_HOURS": "09:00-12:00,13:30-17:00",
        "FLAG_RUN_LENGTH": "12",
        "FLAG_JUMP_POINTS": "30",
    }
    rules = options_from(Settings.from_env(env)).flags

    assert (rules.hall_hours, rules.hall_hours_text()) == ((540, 1020), "09:00–17:00")
    assert (rules.run_length, rules.jump_points, rules.device_burst_count) == (12, 30.0, 8)
    for bad in ("9-17", "17:00-09:00", "08:30-25:00"):
        with pytest.raises(SettingsError, match="HALL_OPEN_HOURS"):
            Settings.from_env({**env, "HALL_OPEN_HOURS": bad})
