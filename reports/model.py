"""Monthly report vocabulary and pure rules: the month, rate formulas, what each metric means."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo

from evaluation_service.kernel import rates
from evaluation_service.kernel.errors import InvalidInput
from evaluation_service.kernel.settings import StepDays

LEVELS = (5, 4, 3, 2, 1)
TREND_MONTHS = 12
TOP_TAGS = 10
MIN_RATINGS = 10  # fewer valid ratings than this in a month: listed apart, not ranked
WILSON_Z = 1.96  # 95 % confidence


# A ticket's place in the month's figures: the kernel's definitions (kernel/rates.py).
CLOSED, CLOSED_INVALID = rates.CLOSED, rates.CLOSED_INVALID

# Rating dimensions of the report; "staff" only appears when the setting allows it.
DIMENSIONS = ("department", "item", "channel", "window", "staff")
DIMENSION_TEXT = {
    "department": "部门",
    "item": "服务事项",
    "channel": "评价渠道",
    "window": "窗口",
    "staff": "工作人员（工号）",
}

# What every number on the page means; shown on the page and stored with the metrics.
DEFINITIONS: dict[str, str] = {
    **{key: rates.DEFINITIONS[key] for key in ("ratings", "follow_ups", "good_rate", "bad_rate")},
    "ranking": (
        f"排名：按差评率从高到低；有效评价不足{MIN_RATINGS}条的部门或事项单独列出、不参与排名；"
        "置信区间为 Wilson 95% 区间；“较上月”为与上月差评率之差（百分点）"
    ),
    "active_rate": "主动评价率 = 本月发生且已被主动评价的服务记录数 / 本月发生的服务记录数",
    "transaction_rate": "办件评价覆盖率 = 本月有服务记录且至少一条被评价的办件"
    " / 本月有服务记录的办件",
    "item_coverage": "事项评价覆盖率 = 本月至少有一条评价的事项数 / 目录中的事项数",
    "real_name_bad": "实名差评数：评价人身份已知的差评",
    **{
        key: rates.DEFINITIONS[key]
        for key in (
            "invalid_bad",
            "valid_tickets",
            "feedback_rate",
            "rectification_rate",
            "on_time_rate",
        )
    },
    "days_to_close": "办结用时：从开立到办结的工作日数（法定节假日不计，调休上班日计入）；"
    "p90 为最近秩法第90百分位",
    "overdue": "超期工单：统计时点仍未办结且已过当前环节期限的工单",
    "reopened": rates.DEFINITIONS["reopened"],
    "forwarding": "转送省平台：本月产生的转送记录按状态计数；时延为产生到送达的秒数",
}


@dataclass(frozen=True, order=True)
class ReportMonth:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> ReportMonth:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if (
            not match
            or not 1 <= int(match.group(2)) <= 12
            or not 2000 <= int(match.group(1)) <= 2100
        ):
            raise InvalidInput(
                "bad_month",
                f"月份“{text}”格式不正确，应为 YYYY-MM（2000年至2100年），例如 2026-10。",
                f"month {text!r} must be YYYY-MM",
                "month",
            )
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> ReportMonth:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def text(self) -> str:
        return f"{self.year}年{self.month}月"

    def shifted(self, months: int) -> ReportMonth:
        index = self.year * 12 + self.month - 1 + months
        return ReportMonth(index // 12, index % 12 + 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """The month on the county's clock, as a half-open UTC interval [start, end)."""
        return local_midnight(self.first_day(), zone), local_midnight(
            self.shifted(1).first_day(), zone
        )

    def trend(self, months: int = TREND_MONTHS) -> list[ReportMonth]:
        """The `months` months ending with this one, oldest first."""
        return [self.shifted(offset) for offset in range(1 - months, 1)]


def local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def month_to_generate(local_now: datetime) -> ReportMonth | None:
    """The schedule's rule: on the 1st, from 01:00 on the county's clock, the previous month."""
    if local_now.day == 1 and local_now.hour >= 1:
        return ReportMonth.of(local_now.date()).shifted(-1)
    return None


def previous_month(local_today: date) -> ReportMonth:
    return ReportMonth.of(local_today).shifted(-1)


# --- formulas -----------------------------------------------------------------------------------


def rate(numerator: float, denominator: float) -> float | None:
    """A share in [0, 1]; None (shown as “—”) when there is nothing to divide by."""
    if not denominator:
        return None
    return numerator / denominator


def wilson(successes: float, trials: float, z: float = WILSON_Z) -> tuple[float, float] | None:
    """The Wilson score interval of a share: honest about small counts, never outside [0, 1]."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def points(change: float | None) -> str:
    """A change of a share in percentage points, signed: “+2.5个百分点”."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return "—"
    return f"{change * 100:+.1f}个百分点"


def good_levels(basic_satisfied_counts_as_good: bool) -> tuple[int, ...]:
    return (5, 4, 3) if basic_satisfied_counts_as_good else (5, 4)


def nearest_rank(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q of the values at or below it."""
    ordered = sorted(v for v in values if v is not None and not math.isnan(v))
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float | None:
    ordered = sorted(v for v in values if v is not None and not math.isnan(v))
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def split_tags(text: str) -> list[str]:
    """Indicator codes as stored on a rating: comma-separated, the form the province takes."""
    return [part.strip() for part in text.split(",") if part.strip()]


def percent(value: float | None, digits: int = 1) -> str:
    return (
        "—"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value * 100:.{digits}f}%")
    )


@dataclass(frozen=True)
class FlagRules:
    """Thresholds of the integrity flags (settings FLAG_*; the hall's day is HALL_OPEN_HOURS from
    the first opening to the last closing; operations.md)."""

    device_burst_count: int = 8  # this many 5-star ratings from one device …
    device_burst_gap_seconds: int = 60  # … each at most this long after the one before
    phone_burst_count: int = 4  # the same for one applicant phone (of ≥ 2 transactions)
    phone_burst_gap_seconds: int = 600
    hall_hours: tuple[int, int] = (8 * 60 + 30, 17 * 60 + 30)  # minutes of the day, open–close
    closed_hours_min_ratings: int = 3  # hall ratings outside the hours at one device or window
    jump_points: float = 25.0  # 5-star rate this many points above the window's own history
    jump_min_ratings: int = 30  # … with at least this many ratings this month and before
    jump_history_months: int = 3  # the history: this many months before the report's month
    run_length: int = 30  # this many identical ratings in a row at one device or window

    def hall_hours_text(self) -> str:
        (a, b) = self.hall_hours
        return f"{a // 60:02d}:{a % 60:02d}–{b // 60:02d}:{b % 60:02d}"


@dataclass(frozen=True)
class ReportOptions:
    """The settings a report depends on, passed in by the shell and stored with the metrics."""

    basic_satisfied_counts_as_good: bool = True
    show_staff_numbers: bool = True
    timezone: str = "Asia/Shanghai"
    min_ratings: int = MIN_RATINGS
    limits: StepDays = field(default_factory=StepDays)
    flags: FlagRules = field(default_factory=FlagRules)
