"""The Chinese working-day calendar: statutory holidays, 调休 make-up days, local overrides."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import chinese_calendar

HOLIDAY = "holiday"
WORKDAY = "workday"
CSV_HEADER = ("date", "kind", "name")

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _package_years() -> range:
    # The same bounds chinese_calendar.is_workday checks before raising NotImplementedError.
    known = chinese_calendar.constants.holidays.keys()
    return range(min(day.year for day in known), max(day.year for day in known) + 1)


PACKAGE_YEARS: range = _package_years()


def _require_date(value: object, name: str) -> dt.date:
    # A datetime would compare unequal to every cached date and fail inside bisect, and which
    # calendar day it means depends on a timezone only the caller knows.
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise TypeError(f"{name} must be a datetime.date, got {type(value).__name__}")
    return value


class CalendarFileError(ValueError):
    """A calendar CSV has bad lines; nothing from it was loaded."""

    def __init__(self, path: str | Path, problems: Sequence[tuple[int, str]]) -> None:
        self.path = Path(path)
        self.problems: tuple[tuple[int, str], ...] = tuple(problems)
        details = "\n".join(f"  line {line}: {message}" for line, message in self.problems)
        super().__init__(
            f"calendar file {self.path} has {len(self.problems)} problem(s):\n{details}"
        )

    @property
    def line_numbers(self) -> tuple[int, ...]:
        return tuple(sorted({line for line, _ in self.problems}))


@dataclass(frozen=True)
class CalendarOverrides:
    """Local days off and working days, plus the years whose whole schedule the county supplied."""

    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    official_years: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        for day in self.holidays | self.workdays:
            _require_date(day, "an override day")
        clash = self.holidays & self.workdays
        if clash:
            listed = ", ".join(day.isoformat() for day in sorted(clash))
            raise ValueError(f"days cannot be both holiday and workday: {listed}")

    @classmethod
    def from_lists(
        cls, *, holidays: Iterable[dt.date] = (), workdays: Iterable[dt.date] = ()
    ) -> CalendarOverrides:
        """Extra local days; they never make a year official, so uncovered years stay estimated."""
        return cls(holidays=frozenset(holidays), workdays=frozenset(workdays))

    def merged_with(self, other: CalendarOverrides) -> CalendarOverrides:
        """Both sets of overrides; where they disagree about a day, `other` wins."""
        return CalendarOverrides(
            holidays=(self.holidays - other.workdays) | other.holidays,
            workdays=(self.workdays - other.holidays) | other.workdays,
            official_years=self.official_years | other.official_years,
        )


def _parse_date(raw: str) -> dt.date | None:
    # fromisoformat alone would also accept forms like 20270101 that a clerk's typo can produce.
    if not _ISO_DATE.fullmatch(raw):
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def load_calendar_file(path: str | Path) -> CalendarOverrides:
    """Read a `date,kind,name` CSV; every year it mentions becomes officially known.

    All rows are checked before anything is returned, so a file with any bad line raises
    CalendarFileError listing every bad line and loads nothing. The name column is for people.
    """
    raw = Path(path).read_bytes()
    try:
        # utf-8-sig because spreadsheet programs on Chinese Windows save CSV with a BOM.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise CalendarFileError(path, [(line, "not UTF-8 text")]) from None

    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[tuple[int, str]] = []
    holidays: set[dt.date] = set()
    workdays: set[dt.date] = set()
    first_line_of: dict[dt.date, int] = {}
    try:
        header = next(reader, None)
        if header is None or tuple(cell.strip() for cell in header) != CSV_HEADER:
            raise CalendarFileError(path, [(1, f"header must be {','.join(CSV_HEADER)}")])
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(CSV_HEADER):
                problems.append((line, f"expected 3 fields date,kind,name, got {len(row)}"))
                continue
            raw_date, kind, _name = (cell.strip() for cell in row)
            day = _parse_date(raw_date)
            if day is None:
                problems.append((line, f"bad date {raw_date!r}, expected YYYY-MM-DD"))
            if kind not in (HOLIDAY, WORKDAY):
                problems.append((line, f"unknown kind {kind!r}, expected {HOLIDAY} or {WORKDAY}"))
            if day is None:
                continue
            if day in first_line_of:
                problems.append(
                    (line, f"duplicate date {day.isoformat()}, first on line {first_line_of[day]}")
                )
                continue
            first_line_of[day] = line
            if kind == HOLIDAY:
                holidays.add(day)
            elif kind == WORKDAY:
                workdays.add(day)
    except csv.Error as error:
        problems.append((reader.line_num, f"unreadable CSV: {error}"))

    if problems:
        raise CalendarFileError(path, problems)
    return CalendarOverrides(
        holidays=frozenset(holidays),
        workdays=frozenset(workdays),
        official_years=frozenset(day.year for day in first_line_of),
    )


@dataclass(frozen=True)
class WorkdayResult:
    """A date reached by counting working days; estimated if any day consulted had no schedule."""

    date: dt.date
    estimated: bool


@dataclass(frozen=True)
class CountResult:
    """A number of working days; estimated if any day counted had no schedule."""

    count: int
    estimated: bool


@dataclass(frozen=True)
class _Year:
    official: bool
    days: tuple[dt.date, ...]
    members: frozenset[dt.date]


class WorkCalendar:
    """Working days from chinese_calendar plus overrides, Monday–Friday for unknown years."""

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self._overrides = overrides if overrides is not None else CalendarOverrides()
        # Filled lazily; building a year is deterministic, so a race between threads only
        # duplicates work and never stores a different answer.
        self._years: dict[int, _Year] = {}

    @property
    def overrides(self) -> CalendarOverrides:
        return self._overrides

    def is_official(self, year: int) -> bool:
        return year in PACKAGE_YEARS or year in self._overrides.official_years

    def is_workday(self, day: dt.date) -> bool:
        day = _require_date(day, "day")
        return day in self._year(day.year).members

    def add_working_days(self, start: dt.date, n: int) -> WorkdayResult:
        """The n-th working day strictly after `start`; `start` itself never counts."""
        start = _require_date(start, "start")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return WorkdayResult(date=start, estimated=False)
        remaining = n
        estimated = False
        # When start is 31 December its own year holds no day after it and is not consulted.
        first_year = start.year + 1 if (start.month, start.day) == (12, 31) else start.year
        for year in count(first_year):
            table = self._year(year)
            estimated = estimated or not table.official
            index = bisect_right(table.days, start)
            available = len(table.days) - index
            if remaining <= available:
                return WorkdayResult(date=table.days[index + remaining - 1], estimated=estimated)
            remaining -= available
        raise AssertionError("unreachable: count() never ends")

    def count_working_days(self, start: dt.date, end: dt.date) -> CountResult:
        """Working days in the half-open interval (start, end]; 0 if end <= start."""
        start = _require_date(start, "start")
        end = _require_date(end, "end")
        if end <= start:
            return CountResult(count=0, estimated=False)
        total = 0
        estimated = False
        first_day = start + dt.timedelta(days=1)
        for year in range(first_day.year, end.year + 1):
            table = self._year(year)
            estimated = estimated or not table.official
            total += bisect_right(table.days, end) - bisect_right(table.days, start)
        return CountResult(count=total, estimated=estimated)

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is None:
            table = self._build_year(year)
            self._years[year] = table
        return table

    def _build_year(self, year: int) -> _Year:
        in_package = year in PACKAGE_YEARS
        holidays = self._overrides.holidays
        workdays = self._overrides.workdays
        days: list[dt.date] = []
        day = dt.date(year, 1, 1)
        one_day = dt.timedelta(days=1)
        while day.year == year:
            if day in holidays:
                working = False
            elif day in workdays:
                working = True
            elif in_package:
                working = bool(chinese_calendar.is_workday(day))
            else:
                working = day.weekday() < 5
            if working:
                days.append(day)
            if day == dt.date.max:
                break
            day += one_day
        return _Year(official=self.is_official(year), days=tuple(days), members=frozenset(days))
