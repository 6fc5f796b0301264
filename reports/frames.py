"""Pure step two: shape the grouped rows into pandas frames and compute every rate of the month."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from evaluation_service.kernel.vocabulary import CHANNEL_TEXT, is_bad
from evaluation_service.kernel.workdays import WorkCalendar
from reports import integrity
from reports.model import (
    DEFINITIONS,
    LEVELS,
    TOP_TAGS,
    ReportOptions,
    good_levels,
    median,
    nearest_rank,
    percent,
    points,
    split_tags,
    wilson,
)
from reports.queries import LAG_BUCKETS, RawReport, Rows
from reports.themes import Themes, named_themes, segment_themes

LEVEL_COLUMNS = [f"level_{level}" for level in LEVELS]
RATING_COUNTS = [
    *LEVEL_COLUMNS,
    "ratings",
    "good",
    "bad",
    "real_name_bad",
    "invalid_bad",
    "valid_ratings",
    "valid_bad",
    "follow_ups",
]
RECORD_COUNTS = ["records", "rated_records", "transactions", "rated_transactions"]
TICKET_COUNTS = [
    "tickets",
    "invalid",
    "valid",
    "closed",
    "feedback_done",
    "no_view",
    "overdue",
    "reopened",
]
CLOSE_COUNTS = ["closed_on_time"]
ITEM_COUNTS = ["items", "rated_items"]
COUNT_COLUMNS = RATING_COUNTS + RECORD_COUNTS + TICKET_COUNTS + CLOSE_COUNTS + ITEM_COUNTS
RATE_COLUMNS = [
    "good_rate",
    "bad_rate",
    "bad_rate_low",
    "bad_rate_high",
    "active_rate",
    "transaction_rate",
    "item_coverage",
    "feedback_rate",
    "rectification_rate",
    "on_time_rate",
]
DAY_COLUMNS = ["median_days", "p90_days"]
UNREGISTERED = "（未登记）"


@dataclass
class ReportFrames:
    """The month, shaped: one frame per breakdown, plus tags, forwarding and the trend."""

    month: str
    as_of: datetime
    options: ReportOptions
    county: pd.DataFrame
    breakdowns: dict[str, pd.DataFrame]
    tags: pd.DataFrame
    forwarding: pd.DataFrame
    forwarding_summary: dict[str, Any]
    trend: pd.DataFrame
    summary: str = ""
    estimated_days: bool = False
    notes: list[str] = field(default_factory=list)
    themes: Themes = field(default_factory=lambda: Themes([], []))
    flags: list[dict[str, Any]] = field(default_factory=list)  # supervisors only, with evidence
    flag_counts: list[dict[str, Any]] = field(default_factory=list)  # per kind, for everyone


def _frame(rows: Rows, columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    return frame


def _numeric(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    return frame


def _ratings_by(frame: pd.DataFrame, keys: list[str], options: ReportOptions) -> pd.DataFrame:
    """Level mix, good, bad and real-name bad per key, from rows grouped by key and level."""
    if frame.empty:
        columns = [*LEVEL_COLUMNS, "ratings", "good", "bad", "real_name_bad", "invalid_bad"]
        return pd.DataFrame(columns=[*keys, *columns]).set_index(keys)
    levels = frame.pivot_table(
        index=keys, columns="level", values="ratings", aggfunc="sum", fill_value=0
    ).reindex(columns=list(LEVELS), fill_value=0)
    levels.columns = LEVEL_COLUMNS
    out = levels.copy()
    out["ratings"] = levels.sum(axis=1)
    out["good"] = levels[
        [f"level_{level}" for level in good_levels(options.basic_satisfied_counts_as_good)]
    ].sum(axis=1)
    out["bad"] = levels[["level_2", "level_1"]].sum(axis=1)
    bad_rows = frame[frame["level"].map(is_bad)]
    out["real_name_bad"] = bad_rows.groupby(keys)["real_name"].sum().reindex(out.index).fillna(0)
    out["invalid_bad"] = bad_rows.groupby(keys)["invalid_bad"].sum().reindex(out.index).fillna(0)
    return out


def _first_and_follow_ups(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First ratings (the rates) and follow-ups (assess_number 2, counted on their own)."""
    follow = frame["assess"] == 2
    return frame[~follow], frame[follow].rename(columns={"ratings": "follow_ups"})


def _sum_by(frame: pd.DataFrame, keys: list[str], columns: list[str]) -> pd.DataFrame:
    present = [c for c in columns if c in frame.columns]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *present]).set_index(keys)
    return frame.groupby(keys)[present].sum()


def _closed_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    columns = ["closed_on_time", "median_days", "p90_days"]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *columns]).set_index(keys)
    grouped = frame.groupby(keys)
    return pd.DataFrame(
        {
            "closed_on_time": grouped["on_time"].sum(),
            "median_days": grouped["days"].agg(lambda s: median(s.tolist())),
            "p90_days": grouped["days"].agg(lambda s: nearest_rank(s.tolist(), 0.9)),
        }
    )


def _with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    for column in COUNT_COLUMNS:
        if column not in frame.columns:
            frame[column] = 0
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    frame["valid"] = frame["tickets"] - frame["invalid"]
    frame["valid_ratings"] = frame["ratings"] - frame["invalid_bad"]
    frame["valid_bad"] = frame["bad"] - frame["invalid_bad"]

    def share(numerator: str, denominator: str) -> pd.Series:
        den = frame[denominator].astype("float64")
        return (frame[numerator].astype("float64") / den).where(den > 0)

    frame["good_rate"] = share("good", "valid_ratings")
    frame["bad_rate"] = share("valid_bad", "valid_ratings")
    bounds = [
        wilson(bad, n) or (float("nan"), float("nan"))
        for bad, n in zip(frame["valid_bad"], frame["valid_ratings"], strict=True)
    ]
    frame["bad_rate_low"] = pd.Series([b[0] for b in bounds], index=frame.index, dtype="float64")
    frame["bad_rate_high"] = pd.Series([b[1] for b in bounds], index=frame.index, dtype="float64")
    frame["active_rate"] = share("rated_records", "records")
    frame["transaction_rate"] = share("rated_transactions", "transactions")
    frame["item_coverage"] = share("rated_items", "items")
    frame["feedback_rate"] = share("feedback_done", "valid")
    frame["rectification_rate"] = share("closed", "valid")
    frame["on_time_rate"] = share("closed_on_time", "closed")
    for column in DAY_COLUMNS:
        if column not in frame.columns:
            frame[column] = float("nan")
        frame[column] = pd.to_numeric(frame[column]).astype("float64")
    return frame


def _join(index: pd.Index, parts: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.DataFrame(index=index)
    for part in parts:
        out = out.join(part, how="left")
    return out


def _closed_frame(
    rows: Rows, calendar: WorkCalendar, zone: ZoneInfo, options: ReportOptions
) -> tuple[pd.DataFrame, bool]:
    columns = [
        "department",
        "item",
        "channel",
        "window_no",
        "staff_no",
        "opened_at",
        "closed_at",
        "extension_used",
        "paused_days",
    ]
    frame = _frame(rows, columns)
    if frame.empty:
        return frame.assign(days=pd.Series(dtype="int64"), on_time=pd.Series(dtype="int64")), False
    opened = pd.to_datetime(frame["opened_at"], utc=True).dt.tz_convert(zone).dt.date
    closed = pd.to_datetime(frame["closed_at"], utc=True).dt.tz_convert(zone).dt.date
    counts = [calendar.count_working_days(a, b) for a, b in zip(opened, closed, strict=True)]
    # Working days paused while waiting on the citizen (材料补正) are not the department's time.
    paused = pd.to_numeric(frame["paused_days"]).fillna(0).astype("int64")
    frame["days"] = pd.Series([c.count for c in counts], index=frame.index) - paused
    limits = [options.limits.on_time_total(bool(int(x))) for x in frame["extension_used"]]
    frame["on_time"] = (frame["days"] <= pd.Series(limits, index=frame.index)).astype("int64")
    return frame, any(c.estimated for c in counts)


def _labels_department(rows: Rows) -> pd.DataFrame:
    frame = _frame(rows, ["id", "code", "name"]).rename(columns={"id": "department"})
    return frame.set_index("department")


def _labels_item(rows: Rows) -> pd.DataFrame:
    frame = _frame(rows, ["id", "code", "name", "department"])
    return frame.rename(columns={"id": "item", "department": "item_department"}).set_index("item")


def build(
    raw: RawReport,
    options: ReportOptions,
    calendar: WorkCalendar,
    found_themes: Themes | None = None,
) -> ReportFrames:
    """The month shaped; `found_themes` when the comments were segmented already (the service
    does it beside the queries), else they are segmented here from `raw.bad_comments`."""
    zone = ZoneInfo(options.timezone)
    rating_columns = ["level", "assess", "ratings", "real_name", "invalid_bad"]
    all_ratings = _numeric(
        _frame(raw.ratings, ["department", "item", "channel", *rating_columns]),
        ["department", "item", *rating_columns],
    )
    ratings, follow_ups = _first_and_follow_ups(all_ratings)
    ratings_ws, follow_ups_ws = _first_and_follow_ups(
        _numeric(
            _frame(raw.ratings_by_window_staff, ["window_no", "staff_no", *rating_columns]),
            rating_columns,
        )
    )
    previous, _ = _first_and_follow_ups(
        _numeric(
            _frame(raw.previous_ratings, ["department", "item", "channel", *rating_columns]),
            ["department", "item", *rating_columns],
        )
    )
    records = _numeric(
        _frame(raw.records, ["department", "item", *RECORD_COUNTS]),
        ["department", "item", *RECORD_COUNTS],
    )
    records_ws = _numeric(
        _frame(raw.records_by_window_staff, ["window_no", "staff_no", "records", "rated_records"]),
        ["records", "rated_records"],
    )
    ticket_counts = [
        "tickets",
        "invalid",
        "closed",
        "feedback_done",
        "no_view",
        "overdue",
        "reopened",
    ]
    tickets = _numeric(
        _frame(raw.tickets, ["department", "item", "channel", *ticket_counts]),
        ["department", "item", *ticket_counts],
    )
    tickets_ws = _numeric(
        _frame(raw.tickets_by_window_staff, ["window_no", "staff_no", *ticket_counts]),
        ticket_counts,
    )
    closed, estimated = _closed_frame(raw.closed_tickets, calendar, zone, options)
    ratings, follow_ups, ratings_ws, follow_ups_ws, previous = (
        f.copy() for f in (ratings, follow_ups, ratings_ws, follow_ups_ws, previous)
    )
    for frame in (
        ratings,
        follow_ups,
        previous,
        records,
        tickets,
        closed,
        ratings_ws,
        follow_ups_ws,
        records_ws,
        tickets_ws,
    ):
        frame["county"] = "county"

    departments = _labels_department(raw.departments)
    items = _labels_item(raw.items)
    rated_items = ratings.groupby("item")["ratings"].sum() if not ratings.empty else pd.Series()
    items["items"] = 1
    items["rated_items"] = (rated_items.reindex(items.index).fillna(0) > 0).astype("int64")
    coverage_by_department = items.groupby("item_department")[ITEM_COUNTS].sum()
    coverage_by_department.index.name = "department"

    def dimension(
        keys: list[str],
        index: pd.Index,
        rating_rows: pd.DataFrame,
        follow_rows: pd.DataFrame,
        record_rows: pd.DataFrame | None,
        ticket_rows: pd.DataFrame,
        extra: list[pd.DataFrame],
    ) -> pd.DataFrame:
        parts = [
            _ratings_by(rating_rows, keys, options),
            _sum_by(follow_rows, keys, ["follow_ups"]),
            _sum_by(ticket_rows, keys, ticket_counts),
            _closed_by(closed, keys),
            *extra,
        ]
        if record_rows is not None:
            parts.insert(1, _sum_by(record_rows, keys, RECORD_COUNTS))
        return _with_rates(_join(index, parts))

    county_index = pd.Index(["county"], name="county")
    county = dimension(
        ["county"],
        county_index,
        ratings,
        follow_ups,
        records,
        tickets,
        [
            pd.DataFrame(
                {"items": [len(items)], "rated_items": [int(items["rated_items"].sum())]},
                index=county_index,
            )
        ],
    )

    department_index = pd.Index(departments.index, name="department")
    by_department = dimension(
        ["department"],
        department_index,
        ratings,
        follow_ups,
        records,
        tickets,
        [coverage_by_department],
    )
    by_department = _with_change(
        departments.join(by_department).reset_index(), previous, "department", options
    )

    item_index = pd.Index(items.index, name="item")
    by_item = dimension(
        ["item"], item_index, ratings, follow_ups, records, tickets, [items[ITEM_COUNTS]]
    )
    by_item = items[["code", "name"]].join(by_item).reset_index()
    by_item["department_name"] = (
        by_item["item"].map(items["item_department"]).map(departments["name"]).fillna("")
    )
    by_item = _with_change(by_item, previous, "item", options)

    channel_index = pd.Index(list(CHANNEL_TEXT), name="channel")
    by_channel = dimension(["channel"], channel_index, ratings, follow_ups, None, tickets, [])
    by_channel = by_channel.reset_index()
    by_channel.insert(1, "name", by_channel["channel"].map(CHANNEL_TEXT))
    for column in ("records", "rated_records", "transactions", "rated_transactions"):
        by_channel[column] = 0
    by_channel["active_rate"] = float("nan")  # a service record has no channel until it is rated
    by_channel["transaction_rate"] = float("nan")
    by_channel["item_coverage"] = float("nan")

    def seen(column: str) -> pd.Index:
        values: set[str] = set()
        for frame in (ratings_ws, records_ws, tickets_ws):
            values.update(str(v) for v in frame[column].tolist())
        return pd.Index(sorted(values), name=column)

    breakdowns: dict[str, pd.DataFrame] = {
        "department": by_department,
        "item": by_item,
        "channel": by_channel,
    }
    people = [("window", "window_no")]
    if options.show_staff_numbers:
        people.append(("staff", "staff_no"))
    for name, column in people:
        frame = dimension(
            [column], seen(column), ratings_ws, follow_ups_ws, records_ws, tickets_ws, []
        ).reset_index()
        frame.insert(1, "name", frame[column].replace("", UNREGISTERED))
        frame["transactions"] = 0
        frame["rated_transactions"] = 0
        frame["transaction_rate"] = float("nan")  # a transaction spans windows: not additive
        breakdowns[name] = frame

    tags = _tags(raw.bad_tags, raw.indicators, int(county["bad"].iloc[0]))
    forwarding, forwarding_summary = _forwarding(raw.forwarding, raw.as_of)
    trend = _trend(raw, county, options)
    notes = []
    follow_total = int(county["follow_ups"].iloc[0])
    if follow_total:
        notes.append(f"本月另有追加评价 {follow_total:,} 条，单独统计，不计入各项比率。")
    if estimated:
        notes.append("部分办结用时跨越尚未公布放假安排的年份，按周一至周五估算。")
    names = {int(k): str(v) for k, v in departments["name"].items()}
    month_themes = named_themes(
        found_themes if found_themes is not None else segment_themes(raw.bad_comments), names
    )
    month_flags = integrity.flags(raw, options.flags, zone)
    return ReportFrames(
        month=str(raw.month),
        as_of=raw.as_of,
        options=options,
        county=county.reset_index(drop=True),
        breakdowns=breakdowns,
        tags=tags,
        forwarding=forwarding,
        forwarding_summary=forwarding_summary,
        trend=trend,
        summary=summary(county.iloc[0], by_department, options),
        estimated_days=estimated,
        notes=notes,
        themes=month_themes,
        flags=month_flags,
        flag_counts=integrity.counts(month_flags, options.flags),
    )


def _with_change(
    frame: pd.DataFrame, previous: pd.DataFrame, key: str, options: ReportOptions
) -> pd.DataFrame:
    """Last month's bad rate beside this month's, and the rank (worst first, enough volume only)."""
    before = _with_rates(
        _ratings_by(previous, [key], options).reindex(pd.Index(frame[key], name=key))
    )
    frame["previous_bad_rate"] = before["bad_rate"].to_numpy()
    frame["bad_rate_change"] = frame["bad_rate"] - frame["previous_bad_rate"]
    frame["ranked"] = frame["valid_ratings"] >= options.min_ratings
    order = frame[frame["ranked"]].sort_values(
        ["bad_rate", "bad_rate_low", "valid_ratings", "code"],
        ascending=[False, False, False, True],
    )
    frame["rank"] = pd.Series(range(1, len(order) + 1), index=order.index).reindex(frame.index)
    return frame


def ranking(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ranked rows worst first, rows below the minimum volume by volume) of a breakdown."""
    ranked = frame[frame["ranked"]].sort_values("rank")
    apart = frame[~frame["ranked"]].sort_values(["valid_ratings", "code"], ascending=[False, True])
    return ranked, apart


def summary(county: pd.Series, departments: pd.DataFrame, options: ReportOptions) -> str:
    """The page's first paragraph, in plain Chinese, written from the figures alone."""
    ranked, apart = ranking(departments)
    parts: list[str] = []
    if int(county["valid_ratings"]) == 0:
        parts.append("本月没有有效评价")
    else:
        parts.append(
            f"本月共收到有效评价 {int(county['valid_ratings']):,} 条，"
            f"全县差评率 {percent(county['bad_rate'])}"
        )
    worst = ranked[ranked["valid_bad"] > 0].head(3)
    if len(worst):
        named = "、".join(
            f"{r['name']}（{percent(r['bad_rate'])}"
            + (
                f"，较上月{points(r['bad_rate_change'])}"
                if not pd.isna(r["bad_rate_change"])
                else ""
            )
            + "）"
            for _, r in worst.iterrows()
        )
        parts.append(f"差评率最高的{'三' if len(worst) == 3 else len(worst)}个部门：{named}")
    elif len(ranked):
        parts.append("参与排名的部门本月均无差评")
    parts.append(
        f"有效整改工单 {int(county['valid']):,} 件，已办结 {int(county['closed']):,} 件"
        f"（整改率 {percent(county['rectification_rate'])}），"
        f"其中按时办结 {int(county['closed_on_time']):,} 件；"
        f"逾期未整改 {int(county['overdue']):,} 件"
    )
    if int(county["no_view"]):
        parts.append(
            f"回访时联系不上或拒绝回访 {int(county['no_view']):,} 件，计入已回访，另行列出"
        )
    if int(county["invalid_bad"]):
        parts.append(f"申诉成立的无效差评 {int(county['invalid_bad']):,} 条不计入差评率")
    small = len(apart)
    if small:
        parts.append(
            f"另有 {small} 个部门有效评价不足 {options.min_ratings} 条，单独列出、不参与排名"
        )
    return "；".join(parts) + "。"


def _tags(rows: Rows, indicators: Rows, bad_total: int) -> pd.DataFrame:
    counts: dict[str, int] = {}
    for row in rows:
        for code in split_tags(str(row["tags"] or "")):
            counts[code] = counts.get(code, 0) + int(row["ratings"])
    text: dict[str, str] = {}
    for row in sorted(indicators, key=lambda r: (str(r["code"]), str(r["text"]))):
        text.setdefault(str(row["code"]), str(row["text"]))
    frame = pd.DataFrame(
        [{"code": code, "text": text.get(code, code), "ratings": n} for code, n in counts.items()],
        columns=["code", "text", "ratings"],
    )
    frame = frame.sort_values(["ratings", "code"], ascending=[False, True]).head(TOP_TAGS)
    frame["share"] = frame["ratings"] / bad_total if bad_total else float("nan")
    return frame.reset_index(drop=True)


FORWARD_KINDS = {"service_record": "服务记录", "evaluation": "评价", "ticket_result": "整改结果"}
FORWARD_STATES = ("delivered", "pending", "failed")


def _forwarding(rows: Rows, as_of: datetime) -> tuple[pd.DataFrame, dict[str, Any]]:
    bucket_columns = [f"within_{limit}" for limit in LAG_BUCKETS]
    frame = _frame(
        rows,
        ["kind", "state", "messages", "lag_total", "lag_max", "oldest_created_at", *bucket_columns],
    )
    for column in ["messages", *bucket_columns]:
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    for column in ["lag_total", "lag_max"]:
        frame[column] = pd.to_numeric(frame[column].astype("object")).astype("float64")
    if frame.empty:
        by_kind = pd.DataFrame(0, index=list(FORWARD_KINDS), columns=list(FORWARD_STATES))
    else:
        by_kind = frame.pivot_table(
            index="kind", columns="state", values="messages", aggfunc="sum", fill_value=0
        )
    by_kind = by_kind.reindex(
        index=list(FORWARD_KINDS), columns=list(FORWARD_STATES), fill_value=0
    ).astype("int64")
    by_kind.index.name = "kind"
    by_kind.columns = list(FORWARD_STATES)
    delivered = frame[frame["state"] == "delivered"]
    by_kind["lag_mean_s"] = (
        delivered.groupby("kind")["lag_total"].sum() / delivered.groupby("kind")["messages"].sum()
    ).reindex(by_kind.index)
    by_kind["lag_max_s"] = delivered.groupby("kind")["lag_max"].max().reindex(by_kind.index)
    by_kind = by_kind.reset_index().rename(columns={"index": "kind"})
    by_kind.insert(1, "name", by_kind["kind"].map(FORWARD_KINDS))

    total_delivered = int(delivered["messages"].sum())
    pending = frame[frame["state"] == "pending"]
    oldest = pd.to_datetime(pending["oldest_created_at"], utc=True).min() if len(pending) else None
    summary: dict[str, Any] = {
        "messages": int(frame["messages"].sum()),
        **{
            state: int(frame.loc[frame["state"] == state, "messages"].sum())
            for state in FORWARD_STATES
        },
        "lag_mean_s": (
            float(delivered["lag_total"].sum()) / total_delivered if total_delivered else None
        ),
        "lag_max_s": float(delivered["lag_max"].max()) if total_delivered else None,
        "oldest_pending_hours": (
            (as_of - oldest.to_pydatetime()).total_seconds() / 3600
            if oldest is not None and not pd.isna(oldest)
            else None
        ),
    }
    for limit, column in zip(LAG_BUCKETS, bucket_columns, strict=True):
        summary[f"delivered_within_{limit}s"] = (
            int(delivered[column].sum()) / total_delivered if total_delivered else None
        )
    return by_kind, summary


def _trend(raw: RawReport, county: pd.DataFrame, options: ReportOptions) -> pd.DataFrame:
    months = [str(m) for m in raw.trend_months]
    last = len(months) - 1
    frame = pd.DataFrame({"month": months})
    for column in [
        "ratings",
        "good",
        "bad",
        "records",
        "rated_records",
        "tickets",
        "invalid",
        "closed",
        "feedback_done",
    ]:
        frame[column] = 0
    good = set(good_levels(options.basic_satisfied_counts_as_good))
    frame["invalid_bad"] = 0
    for row in raw.trend_ratings:
        i, level, n = int(row["month_index"]), int(row["level"]), int(row["ratings"])
        frame.loc[i, "ratings"] += n
        frame.loc[i, "invalid_bad"] += int(row.get("invalid_bad") or 0)
        frame.loc[i, "good"] += n if level in good else 0
        frame.loc[i, "bad"] += n if is_bad(level) else 0
    for row in raw.trend_records:
        i = int(row["month_index"])
        frame.loc[i, "records"] = int(row["records"])
        frame.loc[i, "rated_records"] = int(row["rated_records"] or 0)
    for row in raw.trend_tickets:
        i = int(row["month_index"])
        for column in ("tickets", "invalid", "closed", "feedback_done"):
            frame.loc[i, column] = int(row[column] or 0)
    # The report's own month is the headline itself, so the trend ends exactly there.
    head = county.iloc[0]
    for column in [
        "invalid_bad",
        "ratings",
        "good",
        "bad",
        "records",
        "rated_records",
        "tickets",
        "invalid",
        "closed",
        "feedback_done",
    ]:
        frame.loc[last, column] = int(head[column])
    frame["valid"] = frame["tickets"] - frame["invalid"]
    return _with_rates(frame)


# --- metrics JSON -------------------------------------------------------------------------------


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(
        frame.to_json(orient="records", force_ascii=False, double_precision=10)
    )
    return loaded


BREAKDOWN_COLUMNS = {
    "department": ["code", "name", "rank", "previous_bad_rate", "bad_rate_change"],
    "item": ["code", "name", "department_name", "rank", "previous_bad_rate", "bad_rate_change"],
    "channel": ["channel", "name"],
    "window": ["window_no", "name"],
    "staff": ["staff_no", "name"],
}
METRIC_COLUMNS = COUNT_COLUMNS + RATE_COLUMNS + DAY_COLUMNS


def metrics(frames: ReportFrames) -> dict[str, Any]:
    """The month as JSON-ready data: what the API answers and what the archive stores."""
    county = _records(frames.county[METRIC_COLUMNS])[0]
    return {
        "month": frames.month,
        "as_of": frames.as_of.isoformat(),
        "settings": {
            "basic_satisfied_counts_as_good": frames.options.basic_satisfied_counts_as_good,
            "show_staff_numbers": frames.options.show_staff_numbers,
            "timezone": frames.options.timezone,
            "on_time_limit_working_days": frames.options.limits.on_time_total(False),
            "on_time_limit_with_extension": frames.options.limits.on_time_total(True),
        },
        "county": county,
        "breakdowns": {
            name: _records(frame[BREAKDOWN_COLUMNS[name] + METRIC_COLUMNS])
            for name, frame in frames.breakdowns.items()
        },
        "tags": _records(frames.tags),
        "forwarding": {
            "summary": frames.forwarding_summary,
            "by_kind": _records(frames.forwarding),
        },
        "trend": _records(
            frames.trend[
                [
                    "month",
                    "ratings",
                    "good",
                    "bad",
                    "good_rate",
                    "bad_rate",
                    "records",
                    "rated_records",
                    "active_rate",
                    "tickets",
                    "valid",
                    "closed",
                    "feedback_rate",
                    "rectification_rate",
                ]
            ]
        ),
        "summary": frames.summary,
        "notes": frames.notes,
        "definitions": DEFINITIONS,
        "themes": frames.themes.public,
        "integrity": frames.flag_counts,
    }


def restricted(frames: ReportFrames) -> dict[str, Any]:
    """What only supervisors read: every flag with its evidence, themes with example comments."""
    return {
        "month": frames.month,
        "flags": frames.flags,
        "flag_counts": frames.flag_counts,
        "rules": integrity.rules_text(frames.options.flags),
        "themes": frames.themes.restricted,
    }
