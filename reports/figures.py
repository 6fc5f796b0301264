"""Pure step three: Plotly figures of the month, each with the small table of numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from evaluation_service.kernel.vocabulary import LEVEL_TEXT
from reports.frames import ReportFrames
from reports.model import LEVELS, percent

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


def department_bad(frames: ReportFrames) -> Chart:
    departments = frames.breakdowns["department"]
    shown = _departments_with(frames, ["bad", "valid", "closed"])
    figure = go.Figure()
    for column, name, colour in (
        ("bad", "差评数", "#d73027"),
        ("valid", "有效整改工单", "#fc8d59"),
        ("closed", "已整改办结", "#4575b4"),
    ):
        figure.add_bar(
            name=name, x=shown["name"].tolist(), y=shown[column].tolist(), marker_color=colour
        )
    _layout(figure, "各部门差评与整改情况", shown.empty, barmode="group", yaxis_title="件数")
    table = pd.DataFrame(
        {
            "部门": departments["name"],
            "评价数": departments["ratings"],
            "差评数": departments["bad"],
            "差评率": departments["bad_rate"].map(percent),
            "实名差评": departments["real_name_bad"],
            "有效工单": departments["valid"],
            "已办结": departments["closed"],
            "整改率": departments["rectification_rate"].map(percent),
            "回访率": departments["feedback_rate"].map(percent),
        }
    )
    return Chart("chart-department-bad", "各部门差评与整改情况", figure, table)


def top_tags(frames: ReportFrames) -> Chart:
    tags = frames.tags.head(MAX_BARS)
    figure = go.Figure()
    figure.add_bar(
        x=tags["ratings"].tolist()[::-1],
        y=tags["text"].tolist()[::-1],
        orientation="h",
        marker_color="#d73027",
        name="差评次数",
    )
    _layout(figure, "差评原因（评价指标）前十位", tags.empty, xaxis_title="差评次数")
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
    _layout(figure, "超期与重办工单", shown.empty, barmode="group", yaxis_title="件数")
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
