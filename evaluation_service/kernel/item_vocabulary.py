"""What a service item and its transactions say about handling: item type, case kind, time limits.

Our names for the facts the province's service record carries (DESIGN.md §8 taskType, projectType,
promiseDay/promiseType, anticipateDay); the connector maps them to the wire.
"""

from __future__ import annotations

from enum import StrEnum


class ItemKind(StrEnum):
    """The national item-type code of the catalogue (事项类型); `unknown` when not given."""

    licensing = "01"  # 行政许可
    benefit = "05"  # 行政给付
    confirmation = "07"  # 行政确认
    reward = "08"  # 行政奖励
    adjudication = "09"  # 行政裁决
    other_power = "10"  # 其他行政权力
    public_service = "20"  # 公共服务
    unknown = ""


ITEM_KIND_TEXT = {
    "01": "行政许可",
    "05": "行政给付",
    "07": "行政确认",
    "08": "行政奖励",
    "09": "行政裁决",
    "10": "其他行政权力",
    "20": "公共服务",
}


class CaseKind(StrEnum):
    """How a transaction is handled: on the spot (即办件) or within promised days (承诺件)."""

    immediate = "immediate"
    promised = "promised"


CASE_KIND_TEXT = {"immediate": "即办件", "promised": "承诺件"}


class TimeUnit(StrEnum):
    """The unit of a promised or statutory time limit."""

    day = "day"
    working_day = "working_day"
    month = "month"
    year = "year"


TIME_UNIT_TEXT = {"day": "自然日", "working_day": "工作日", "month": "月", "year": "年"}

MAX_LIMIT_DAYS = 3650  # ten years: longer than any published limit, short of a typo in the units
