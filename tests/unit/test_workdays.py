"""Working-day calendar: statutory schedule, 调休, county overrides and the Mon–Fri fallback."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import chinese_calendar
import pytest

from evaluation_service.kernel.workdays import (
    CalendarFileError,
    CalendarOverrides,
    CountResult,
    WorkCalendar,
    WorkdayResult,
    load_calendar_file,
)


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar()


def _write(tmp_path: Path, text: str, name: str = "calendar.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


CALENDAR_2027 = (
    "date,kind,name\n"
    "2027-01-01,holiday,元旦\n"
    "2027-01-02,holiday,元旦\n"
    "2027-01-03,holiday,元旦\n"
    "2027-01-10,workday,测试用调休\n"
)


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 1, 28),
        date(2025, 1, 31),
        date(2025, 2, 3),
        date(2025, 2, 4),
        date(2025, 10, 1),
        date(2025, 10, 8),
        date(2026, 2, 16),
        date(2026, 2, 23),
        date(2026, 9, 25),
        date(2026, 10, 1),
        date(2026, 10, 7),
    ],
)
def test_statutory_holiday_weekdays_are_not_working_days(calendar: WorkCalendar, day: date) -> None:
    assert day.weekday() < 5
    assert calendar.is_workday(day) is False


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 1, 26),
        date(2025, 2, 8),
        date(2025, 9, 28),
        date(2025, 10, 11),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ],
)
def test_make_up_weekend_days_are_working_days(calendar: WorkCalendar, day: date) -> None:
    assert day.weekday() >= 5
    assert calendar.is_workday(day) is True


def test_ordinary_weekend_is_not_a_working_day(calendar: WorkCalendar) -> None:
    assert calendar.is_workday(date(2025, 3, 8)) is False
    assert calendar.is_workday(date(2025, 3, 7)) is True


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 2025 Spring Festival: off 01-28..02-04, make-up Saturday 02-08 counts.
        (date(2025, 1, 27), date(2025, 2, 10)),
        # 2025 National Day: off 10-01..10-08, make-up Saturday 10-11 counts.
        (date(2025, 9, 30), date(2025, 10, 14)),
        # 2026 Spring Festival: make-up Saturday 02-14 counts, off 02-15..02-23.
        (date(2026, 2, 12), date(2026, 2, 26)),
        # 2026 National Day: off 10-01..10-07, make-up Saturday 10-10 counts.
        (date(2026, 9, 30), date(2026, 10, 13)),
    ],
)
def test_adding_five_working_days_skips_the_holiday_and_counts_make_up_days(
    calendar: WorkCalendar, start: date, expected: date
) -> None:
    assert calendar.add_working_days(start, 5) == WorkdayResult(date=expected, estimated=False)


def test_make_up_saturday_after_spring_festival_2026_is_reached_as_a_working_day(
    calendar: WorkCalendar,
) -> None:
    assert calendar.add_working_days(date(2026, 2, 27), 1).date == date(2026, 2, 28)


def test_make_up_sunday_before_national_day_2026_is_reached_as_a_working_day(
    calendar: WorkCalendar,
) -> None:
    assert calendar.add_working_days(date(2026, 9, 19), 1).date == date(2026, 9, 20)


def test_start_day_never_counts_even_when_it_is_a_working_day(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2025, 1, 26), 1).date == date(2025, 1, 27)


def test_starting_on_a_holiday_counts_from_the_next_working_day(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2025, 10, 3), 1).date == date(2025, 10, 9)


def test_adding_zero_working_days_returns_start_unchanged_even_on_a_holiday(
    calendar: WorkCalendar,
) -> None:
    assert calendar.add_working_days(date(2025, 10, 1), 0) == WorkdayResult(
        date=date(2025, 10, 1), estimated=False
    )


def test_adding_negative_working_days_is_rejected(calendar: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="n must be >= 0"):
        calendar.add_working_days(date(2025, 1, 2), -1)


def test_datetime_is_rejected_rather_than_silently_truncated(calendar: WorkCalendar) -> None:
    with pytest.raises(TypeError, match=r"must be a datetime\.date"):
        calendar.add_working_days(datetime(2025, 1, 2, 9, 30), 1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2025, 1, 27), date(2025, 2, 10), 5),
        (date(2025, 9, 30), date(2025, 10, 14), 5),
        (date(2026, 2, 12), date(2026, 2, 28), 7),
        (date(2026, 9, 30), date(2026, 10, 13), 5),
        (date(2025, 9, 30), date(2025, 10, 8), 0),
    ],
)
def test_counting_across_a_holiday_counts_only_working_days(
    calendar: WorkCalendar, start: date, end: date, expected: int
) -> None:
    assert calendar.count_working_days(start, end) == CountResult(count=expected, estimated=False)


def test_count_excludes_start_and_includes_end(calendar: WorkCalendar) -> None:
    assert calendar.count_working_days(date(2025, 3, 3), date(2025, 3, 4)).count == 1


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2025, 3, 4), date(2025, 3, 4)), (date(2025, 3, 5), date(2025, 3, 4))],
)
def test_count_is_zero_when_end_is_not_after_start(
    calendar: WorkCalendar, start: date, end: date
) -> None:
    assert calendar.count_working_days(start, end) == CountResult(count=0, estimated=False)


def test_count_agrees_with_add_over_a_whole_year(calendar: WorkCalendar) -> None:
    start = date(2025, 12, 20)
    end = calendar.add_working_days(start, 250).date
    assert calendar.count_working_days(start, end).count == 250


@pytest.mark.parametrize(
    ("year", "official"),
    [(2004, True), (2025, True), (2026, True), (2003, False), (2027, False)],
)
def test_only_package_years_are_official_without_a_file(
    calendar: WorkCalendar, year: int, official: bool
) -> None:
    assert calendar.is_official(year) is official


def test_reaching_into_an_unknown_year_falls_back_to_weekdays_and_reports_estimated(
    calendar: WorkCalendar,
) -> None:
    result = calendar.add_working_days(date(2026, 12, 30), 5)
    assert result == WorkdayResult(date=date(2027, 1, 6), estimated=True)
    assert result.date.weekday() < 5


def test_fallback_treats_new_years_day_2027_as_a_working_friday(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2026, 12, 31), 1) == WorkdayResult(
        date=date(2027, 1, 1), estimated=True
    )


def test_staying_inside_a_known_year_is_not_estimated(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2026, 12, 30), 1) == WorkdayResult(
        date=date(2026, 12, 31), estimated=False
    )


def test_counting_into_an_unknown_year_reports_estimated(calendar: WorkCalendar) -> None:
    assert calendar.count_working_days(date(2026, 12, 30), date(2027, 1, 6)) == CountResult(
        count=5, estimated=True
    )


def test_counting_ending_on_new_years_eve_does_not_consult_the_next_year(
    calendar: WorkCalendar,
) -> None:
    assert calendar.count_working_days(date(2026, 12, 1), date(2026, 12, 31)).estimated is False


def test_a_year_before_the_package_falls_back_and_reports_estimated(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2003, 12, 30), 1) == WorkdayResult(
        date=date(2003, 12, 31), estimated=True
    )


def test_calendar_file_makes_its_year_official_and_is_honoured(tmp_path: Path) -> None:
    calendar = WorkCalendar(load_calendar_file(_write(tmp_path, CALENDAR_2027)))
    assert calendar.is_official(2027) is True
    assert calendar.add_working_days(date(2026, 12, 31), 1) == WorkdayResult(
        date=date(2027, 1, 4), estimated=False
    )
    assert calendar.add_working_days(date(2027, 1, 8), 1) == WorkdayResult(
        date=date(2027, 1, 10), estimated=False
    )


def test_file_year_defaults_to_weekdays_for_days_the_file_does_not_list(tmp_path: Path) -> None:
    calendar = WorkCalendar(load_calendar_file(_write(tmp_path, CALENDAR_2027)))
    assert calendar.is_workday(date(2027, 3, 5)) is True
    assert calendar.is_workday(date(2027, 3, 6)) is False


def test_a_year_after_the_file_year_still_reports_estimated(tmp_path: Path) -> None:
    calendar = WorkCalendar(load_calendar_file(_write(tmp_path, CALENDAR_2027)))
    assert calendar.is_official(2028) is False
    assert calendar.add_working_days(date(2027, 12, 30), 2).estimated is True


def test_file_rows_override_the_package_for_a_covered_year(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "date,kind,name\n2026-05-06,holiday,县庆\n2026-05-10,workday,县庆调休\n",
    )
    calendar = WorkCalendar(load_calendar_file(path))
    assert calendar.is_workday(date(2026, 5, 6)) is False
    assert calendar.is_workday(date(2026, 5, 10)) is True
    assert calendar.is_workday(date(2026, 5, 9)) is True


def test_calendar_file_with_byte_order_mark_and_blank_lines_loads(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text("date,kind,name\r\n2027-01-01,holiday,元旦\r\n\r\n", encoding="utf-8-sig")
    assert load_calendar_file(path) == CalendarOverrides(
        holidays=frozenset({date(2027, 1, 1)}), official_years=frozenset({2027})
    )


def test_local_extra_holiday_in_2026_is_skipped() -> None:
    plain = WorkCalendar()
    local = WorkCalendar(
        CalendarOverrides.from_lists(holidays=[date(2026, 5, 6), date(2026, 5, 7)])
    )
    assert plain.add_working_days(date(2026, 5, 5), 1).date == date(2026, 5, 6)
    assert local.add_working_days(date(2026, 5, 5), 1) == WorkdayResult(
        date=date(2026, 5, 8), estimated=False
    )


def test_local_extra_workday_on_a_weekend_counts() -> None:
    calendar = WorkCalendar(CalendarOverrides.from_lists(workdays=[date(2026, 3, 7)]))
    assert calendar.add_working_days(date(2026, 3, 6), 1).date == date(2026, 3, 7)


def test_extra_lists_do_not_make_an_unknown_year_official() -> None:
    calendar = WorkCalendar(CalendarOverrides.from_lists(holidays=[date(2027, 1, 1)]))
    assert calendar.is_official(2027) is False
    assert calendar.add_working_days(date(2026, 12, 31), 1) == WorkdayResult(
        date=date(2027, 1, 4), estimated=True
    )


def test_a_day_in_both_lists_is_rejected() -> None:
    with pytest.raises(ValueError, match="2026-05-06"):
        CalendarOverrides.from_lists(holidays=[date(2026, 5, 6)], workdays=[date(2026, 5, 6)])


def test_merged_overrides_keep_file_years_and_let_the_later_lists_win(tmp_path: Path) -> None:
    from_file = load_calendar_file(_write(tmp_path, CALENDAR_2027))
    extra = CalendarOverrides.from_lists(holidays=[date(2026, 5, 6)], workdays=[date(2027, 1, 2)])
    calendar = WorkCalendar(from_file.merged_with(extra))
    assert calendar.is_official(2027) is True
    assert calendar.is_workday(date(2027, 1, 1)) is False
    assert calendar.is_workday(date(2027, 1, 2)) is True
    assert calendar.is_workday(date(2026, 5, 6)) is False


def test_bad_calendar_file_reports_every_offending_line_number(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "date,kind,name\n"
        "2027-01-01,holiday,元旦\n"
        "2027-02-30,holiday,没有这一天\n"
        "2027-02-06,day-off,春节\n"
        "2027-01-04,workday,调休\n"
        "2027-01-01,workday,重复\n"
        "20270105,holiday,格式不对\n"
        "2027-01-06,holiday\n",
    )
    with pytest.raises(CalendarFileError) as caught:
        load_calendar_file(path)
    assert caught.value.line_numbers == (3, 4, 6, 7, 8)
    message = str(caught.value)
    assert "line 3: bad date '2027-02-30'" in message
    assert "line 4: unknown kind 'day-off'" in message
    assert "line 6: duplicate date 2027-01-01, first on line 2" in message


def test_calendar_file_with_wrong_header_is_rejected_at_line_one(tmp_path: Path) -> None:
    with pytest.raises(CalendarFileError) as caught:
        load_calendar_file(_write(tmp_path, "day,type\n2027-01-01,holiday\n"))
    assert caught.value.line_numbers == (1,)


def test_calendar_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("date,kind,name\n2027-01-01,holiday,元旦\n".encode("gbk"))
    with pytest.raises(CalendarFileError) as caught:
        load_calendar_file(path)
    assert caught.value.line_numbers == (2,)


def test_each_year_is_computed_once_and_then_served_from_cache(
    calendar: WorkCalendar, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[date] = []
    real_is_workday = chinese_calendar.is_workday

    def counting_is_workday(day: date) -> bool:
        calls.append(day)
        return bool(real_is_workday(day))

    monkeypatch.setattr(chinese_calendar, "is_workday", counting_is_workday)
    calendar.add_working_days(date(2025, 1, 27), 5)
    calls_for_first_lookup = len(calls)
    calendar.add_working_days(date(2025, 9, 30), 5)
    calendar.count_working_days(date(2025, 3, 1), date(2025, 11, 30))
    assert 0 < calls_for_first_lookup <= 366
    assert len(calls) == calls_for_first_lookup
