"""Pure step three: Plotly figures of the month, each with the small table of numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from evaluation_service.kernel.vocabulary import LEVEL_TEXT
from reports.frames import ReportFrames, ranking
from reports.model import LEVELS, percent, points

FONT = "Noto Sans CJK SC, WenQuanYi Micro Hei, Microsoft YaHei, PingFang SC, sans-serif"
LEVEL_COLOURS = {5: "#1a9850", 4: "#91cf60", 3: "#fee08b", 2: "#fc8d59", 1: "#d73027"}
NO_DATA = "本月无数据"
MAX_BARS = 15  # departments or tags in one chart; the table and the JSON keep them all


@dataclass(frozen=True)
class Chart:
    key: str  # the element id on the page; the browser check looks for each one
    title: str
    figure: go.Figure
    table: pd.DataFrame  # the numbers behind the chart, with Chinese column names
    note: str = ""


def _layout(figure: go.Figure, title: str, empty: bool, **axes: object) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0.01},
        font={"family": FONT, "size": 13},
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
        legend={"orientation": "h", "y": -0.18},
        plot_bgcolor="white",
        paper_bgcolor="white",
        **axes,
    )
    figure.update_xaxes(showline=True, linecolor="#999")
    figure.update_yaxes(gridcolor="#e5e5e5", rangemode="tozero")
    if empty:
        figure.add_annotation(
            text=NO_DATA,
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            font={"size": 18, "color": "#888"},
        )
    return figure


def level_mix(frames: ReportFrames) -> Chart:
    channels = frames.breakdowns["channel"]
    figure = go.Figure()
    for level in LEVELS:
        figure.add_bar(
            name=LEVEL_TEXT[level],
            x=channels["name"].tolist(),
            y=channels[f"level_{level}"].tolist(),
            marker_color=LEVEL_COLOURS[level],
        )
    empty = int(channels["ratings"].sum()) == 0
    _layout(figure, "各渠道评价等级构成", empty, barmode="stack", yaxis_title="评价数")
    table = pd.DataFrame({"评价渠道": channels["name"]})
    for level in LEVELS:
        table[LEVEL_TEXT[level]] = channels[f"level_{level}"]
    table["合计"] = channels["ratings"]
    table["好评率"] = channels["good_rate"].map(percent)
    table["差评率"] = channels["bad_rate"].map(percent)
    return Chart("chart-level-mix", "各渠道评价等级构成", figure, table)


def good_rate_trend(frames: ReportFrames) -> Chart:
    trend = frames.trend
    figure = go.Figure()
    for column, name, colour in (
        ("good_rate", "好评率", "#1a9850"),
        ("bad_rate", "差评率", "#d73027"),
        ("rectification_rate", "整改率", "#4575b4"),
    ):
        figure.add_scatter(
            name=name,
            x=trend["month"].tolist(),
            y=(trend[column] * 100).round(2).tolist(),
            mode="lines+markers",
            line={"color": colour},
            connectgaps=False,
        )
    empty = int(trend["ratings"].sum()) == 0 and int(trend["tickets"].sum()) == 0
    _layout(
        figure,
        "近12个月好评率、差评率与整改率趋势",
        empty,
        yaxis={"title": "%", "range": [0, 105]},
        xaxis={"type": "category"},
    )
    table = pd.DataFrame(
        {
            "月份": trend["month"],
            "评价数": trend["ratings"],
            "好评率": trend["good_rate"].map(percent),
            "差评率": trend["bad_rate"].map(percent),
            "主动评价率": trend["active_rate"].map(percent),
            "有效工单": trend["valid"],
            "整改率": trend["rectification_rate"].map(percent),
        }
    )
    return Chart("chart-trend", "近12个月好评率趋势", figure, table)


def _departments_with(frames: ReportFrames, columns: list[str]) -> pd.DataFrame:
    departments = frames.breakdowns["department"]
    active = departments[departments[columns].sum(axis=1) > 0]
    return active.sort_values(columns[0], ascending=False).head(MAX_BARS)


def _pct(series: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else round(float(v) * 100, 2) for v in series]


def department_bad(frames: ReportFrames) -> Chart:
    """Rates, not counts: ranked departments' bad rate with its interval, and their follow-up."""
    ranked, _ = ranking(frames.breakdowns["department"])
    shown = ranked.head(MAX_BARS).iloc[::-1]  # worst at the top of a horizontal chart
    names = shown["name"].tolist()
    figure = go.Figure()
    figure.add_bar(
        name="差评率",
        y=names,
        x=_pct(shown["bad_rate"]),
        orientation="h",
        marker_color="#d73027",
        error_x={
            "type": "data",
            "symmetric": False,
            "array": _pct(shown["bad_rate_high"] - shown["bad_rate"]),
            "arrayminus": _pct(shown["bad_rate"] - shown["bad_rate_low"]),
            "color": "#555",
        },
    )
    for column, name, colour in (
        ("rectification_rate", "整改率", "#4575b4"),
        ("on_time_rate", "按时办结率", "#91bfdb"),
    ):
        figure.add_bar(
            name=name, y=names, x=_pct(shown[column]), orientation="h", marker_color=colour
        )
    _layout(
        figure,
        "各部门差评率（含95%置信区间）与整改率",
        shown.empty,
        barmode="group",
        xaxis={"title": "%", "range": [0, 105]},
    )
    figure.update_layout(margin={"l": 130}, height=max(380, 90 + 60 * len(shown)))
    table = ranking_table(ranked)
    return Chart(
        "chart-department-bad",
        "各部门差评率与整改情况",
        figure,
        table,
        note=f"仅列出有效评价不少于{frames.options.min_ratings}条的部门；横线为差评率的95%置信区间。",
    )


def ranking_table(ranked: pd.DataFrame, name_column: str = "部门") -> pd.DataFrame:
    """The ranking as read: worst first, the rate, its interval, the change, the follow-up."""
    interval = [
        "—" if pd.isna(lo) else f"{percent(lo)}–{percent(hi)}"
        for lo, hi in zip(ranked["bad_rate_low"], ranked["bad_rate_high"], strict=True)
    ]
    table = pd.DataFrame(
        {
            "排名": ranked["rank"].map(lambda v: "—" if pd.isna(v) else f"{int(v)}"),
            name_column: ranked["name"],
            "差评率": ranked["bad_rate"].map(percent),
            "95%置信区间": interval,
            "较上月": ranked["bad_rate_change"].map(points),
            "有效评价": ranked["valid_ratings"],
            "差评": ranked["valid_bad"],
            "整改率": ranked["rectification_rate"].map(percent),
            "按时办结率": ranked["on_time_rate"].map(percent),
            "逾期未整改": ranked["overdue"],
        }
    )
    return table


def top_tags(frames: ReportFrames) -> Chart:
    tags = frames.tags.head(MAX_BARS)
    figure = go.Figure()
    figure.add_bar(
        x=_pct(tags["share"])[::-1],
        y=tags["text"].tolist()[::-1],
        orientation="h",
        marker_color="#d73027",
        name="占差评比例",
        customdata=tags["ratings"].tolist()[::-1],
        hovertemplate="%{y}：%{x:.1f}%（%{customdata} 次）<extra></extra>",
    )
    _layout(figure, "差评原因（评价指标）前十位", tags.empty, xaxis_title="占差评比例（%）")
    figure.update_layout(margin={"l": 200})
    table = pd.DataFrame(
        {
            "评价指标": tags["text"],
            "编码": tags["code"],
            "次数": tags["ratings"],
            "占差评比例": tags["share"].map(percent),
        }
    )
    return Chart("chart-tags", "差评原因前十位", figure, table)


def overdue(frames: ReportFrames) -> Chart:
    departments = frames.breakdowns["department"]
    shown = _departments_with(frames, ["overdue", "reopened"])
    figure = go.Figure()
    figure.add_bar(
        name="超期未办结",
        x=shown["name"].tolist(),
        y=shown["overdue"].tolist(),
        marker_color="#d73027",
    )
    figure.add_bar(
        name="重办", x=shown["name"].tolist(), y=shown["reopened"].tolist(), marker_color="#fdae61"
    )
    _layout(figure, "超期与重办工单", shown.empty, barmode="group", yaxis=_count_axis(shown))
    table = pd.DataFrame(
        {
            "部门": departments["name"],
            "工单": departments["tickets"],
            "超期未办结": departments["overdue"],
            "重办": departments["reopened"],
            "按时办结率": departments["on_time_rate"].map(percent),
            "办结用时中位数（工作日）": departments["median_days"].map(_days),
            "办结用时P90（工作日）": departments["p90_days"].map(_days),
        }
    )
    return Chart("chart-overdue", "超期与重办工单", figure, table)


def forwarding(frames: ReportFrames) -> Chart:
    kinds = frames.forwarding
    figure = go.Figure()
    for column, name, colour in (
        ("delivered", "已送达", "#1a9850"),
        ("pending", "待送达", "#fee08b"),
        ("failed", "送达失败", "#d73027"),
    ):
        figure.add_bar(
            name=name, x=kinds["name"].tolist(), y=kinds[column].tolist(), marker_color=colour
        )
    empty = int(kinds[["delivered", "pending", "failed"]].to_numpy().sum()) == 0
    _layout(figure, "转送省平台情况", empty, barmode="stack", yaxis_title="条数")
    table = pd.DataFrame(
        {
            "类别": kinds["name"],
            "已送达": kinds["delivered"],
            "待送达": kinds["pending"],
            "送达失败": kinds["failed"],
            "平均时延（秒）": kinds["lag_mean_s"].map(_seconds),
            "最大时延（秒）": kinds["lag_max_s"].map(_seconds),
        }
    )
    return Chart("chart-forwarding", "转送省平台情况", figure, table)


def _count_axis(shown: pd.DataFrame) -> dict[str, object]:
    """Whole numbers on a count axis: never “0.5 件”."""
    numbers = shown.select_dtypes("number")
    largest = float(numbers.to_numpy().max()) if numbers.size else 0.0
    axis: dict[str, object] = {"title": "件数", "tickformat": ",d"}
    if largest <= 10:
        axis["dtick"] = 1
    return axis


def _days(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:g}"


def _seconds(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:.1f}"


def build(frames: ReportFrames) -> list[Chart]:
    return [
        level_mix(frames),
        good_rate_trend(frames),
        department_bad(frames),
        top_tags(frames),
        overdue(frames),
        forwarding(frames),
    ]
