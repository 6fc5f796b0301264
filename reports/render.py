"""Pure step four: the month's HTML page, as archived and as a self-contained download.

The archived page names plotly.js and the small drawing script by versioned paths (served once,
cached for good, by `reports.api`), and carries each figure as a JSON data block, so no copy of
plotly.js is stored per version and the page runs no inline script. `self_contained` puts both
scripts inline for the download, which opens offline and prints on A4.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.io as pio
from jinja2 import Environment, PackageLoader, select_autoescape

from reports.figures import Chart, ranking_table
from reports.frames import ReportFrames, ranking
from reports.model import DIMENSION_TEXT, ReportMonth, percent

TITLE = "政务服务“好差评”月度报告"
ITEM_ROWS = 30  # the page lists the most-rated items; the JSON has every item

_ENV = Environment(
    loader=PackageLoader("reports", "templates"),
    autoescape=select_autoescape(["html"]),
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class EarlierVersion:
    version: int
    created_at: str
    content_hash: str


# Draws every `<script type="application/json" data-chart>` block into the div after it.
REPORT_JS = """(function () {
  document.querySelectorAll('script[data-chart]').forEach(function (block) {
    var figure = JSON.parse(block.textContent);
    var target = document.getElementById(block.getAttribute('data-chart'));
    Plotly.newPlot(target, figure.data, figure.layout,
                   {displaylogo: false, responsive: true});
  });
})();
"""
ASSET_PREFIX = "/reports/assets/"


# plotly.js's "basic" bundle (scatter, bar, pie: every chart here), the same plotly.js version as
# the one plotly.py ships (get_plotlyjs_version()); a third of the full bundle's size, which is
# what keeps a first view under 500 KB. From npm's plotly.js-basic-dist-min (MIT, LICENSE beside).
PLOTLY_BUNDLE = Path(__file__).parent / "static" / "plotly-basic-4.1.1.min.js"


@lru_cache(maxsize=1)
def plotly_js() -> str:
    return PLOTLY_BUNDLE.read_text(encoding="utf-8")


def plotly_asset_name() -> str:
    """Versioned by the file's name: a new plotly.js gets a new path, so caching is forever."""
    return PLOTLY_BUNDLE.name


@lru_cache(maxsize=1)
def report_asset_name() -> str:
    return f"report-{hashlib.sha256(REPORT_JS.encode()).hexdigest()[:12]}.js"


def asset(name: str) -> str | None:
    """The text of a static asset by its versioned name, or None."""
    if name == plotly_asset_name():
        return plotly_js()
    if name == report_asset_name():
        return REPORT_JS
    return None


def _script_tag(name: str) -> str:
    return f'<script src="{ASSET_PREFIX}{name}"></script>'


def self_contained(html: str) -> str:
    """The archived page with its scripts inline: opens offline, needs nothing from the server."""
    for name in (plotly_asset_name(), report_asset_name()):
        text = asset(name) or ""
        html = html.replace(_script_tag(name), f"<script>{_inline(text)}</script>", 1)
    return html


@dataclass(frozen=True)
class FramedParts:
    """An archived page taken apart to be shown inside the staff frame (`framed`)."""

    title: str
    style: str  # its stylesheet, every rule scoped under `.report-body`
    body: str  # what was between <body> and </body>, unchanged


SCOPE = ".report-body"


def _scoped(css: str) -> str:
    """Each rule of a plain stylesheet (rules, @media and @page blocks) limited to the report's
    box, so the archived page's `body`, `h1`, `table` rules do not restyle the staff frame."""
    out: list[str] = []
    i = 0
    while i < len(css):
        brace = css.find("{", i)
        if brace < 0:
            break
        head = css[i:brace].strip()
        depth, j = 1, brace + 1
        while j < len(css) and depth:
            depth += {"{": 1, "}": -1}.get(css[j], 0)
            j += 1
        inner = css[brace + 1 : j - 1]
        if head.startswith("@media"):
            out.append(f"{head} {{ {_scoped(inner)} }}")
        elif head.startswith("@"):
            out.append(f"{head} {{{inner}}}")
        else:
            selectors = []
            for selector in head.split(","):
                selector = selector.strip()
                if selector in ("body", "html"):
                    selectors.append(SCOPE)
                else:
                    selectors.append(f"{SCOPE} {selector}")
            out.append(f"{', '.join(selectors)} {{{inner}}}")
        i = j
    return "\n".join(out)


def framed(html: str) -> FramedParts:
    """The archived page's title, scoped stylesheet and body: its content shown as it is, inside
    the site's own frame; the archived document itself is served unchanged elsewhere."""

    def between(start: str, end: str) -> str:
        a = html.find(start)
        if a < 0:
            return ""
        a = html.find(">", a) + 1
        b = html.find(end, a)
        return html[a:b] if b >= 0 else ""

    return FramedParts(
        title=between("<title", "</title>"),
        style=_scoped(between("<style", "</style>")),
        body=between("<body", "</body>"),
    )


def _inline(text: str) -> str:
    return text.replace("</script", "<\\/script")


def _table(frame: pd.DataFrame) -> str:
    html: str = frame.to_html(index=False, escape=True, border=0, na_rep="—")
    # A wide table scrolls inside its own box, never the page (a phone is 360–390 px wide).
    return f'<div class="scroll">{html}</div>'


def _figure_div(chart: Chart) -> str:
    data = pio.to_json(chart.figure, validate=False, remove_uids=True) or "{}"
    data = data.replace("</", "<\\/")
    return (
        f'<script type="application/json" data-chart="{chart.key}">{data}</script>'
        f'<div class="plot" id="{chart.key}"></div>'
    )


def _days(value: Any) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:g}"


def _cards(frames: ReportFrames) -> list[dict[str, str]]:
    c = frames.county.iloc[0]
    f = frames.forwarding_summary
    return [
        {"label": "有效评价数（首次评价）", "value": f"{int(c['valid_ratings']):,}"},
        {"label": "追加评价（另计）", "value": f"{int(c['follow_ups']):,}"},
        {"label": "好评率", "value": percent(c["good_rate"])},
        {"label": "差评率", "value": percent(c["bad_rate"])},
        {"label": "主动评价率", "value": percent(c["active_rate"])},
        {"label": "事项评价覆盖率", "value": percent(c["item_coverage"])},
        {"label": "办件评价覆盖率", "value": percent(c["transaction_rate"])},
        {"label": "实名差评", "value": f"{int(c['real_name_bad']):,}"},
        {"label": "回访率", "value": percent(c["feedback_rate"])},
        {"label": "其中联系不上/拒绝回访", "value": f"{int(c['no_view']):,}"},
        {"label": "整改率", "value": percent(c["rectification_rate"])},
        {"label": "按时办结率（占已办结）", "value": percent(c["on_time_rate"])},
        {"label": "办结用时中位数（工作日）", "value": _days(c["median_days"])},
        {"label": "办结用时P90（工作日）", "value": _days(c["p90_days"])},
        {"label": "超期未办结工单", "value": f"{int(c['overdue']):,}"},
        {"label": "重办工单", "value": f"{int(c['reopened']):,}"},
        {"label": "申诉成立（无效差评）", "value": f"{int(c['invalid']):,}"},
        {"label": "转送已送达", "value": f"{f['delivered']:,}"},
        {"label": "转送待送达", "value": f"{f['pending']:,}"},
        {"label": "转送失败", "value": f"{f['failed']:,}"},
    ]


def _breakdown_table(frame: pd.DataFrame, name_column: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name_column: frame["name"],
            "评价数": frame["ratings"],
            "好评率": frame["good_rate"].map(percent),
            "差评率": frame["bad_rate"].map(percent),
            "主动评价率": frame["active_rate"].map(percent),
            "实名差评": frame["real_name_bad"],
            "工单": frame["tickets"],
            "回访率": frame["feedback_rate"].map(percent),
            "整改率": frame["rectification_rate"].map(percent),
            "按时办结率": frame["on_time_rate"].map(percent),
            "超期": frame["overdue"],
            "重办": frame["reopened"],
        }
    )


def _breakdowns(frames: ReportFrames) -> list[dict[str, str]]:
    out = []
    for name, frame in frames.breakdowns.items():
        note = ""
        shown = frame
        if name == "item":
            shown = frame.sort_values(["ratings", "code"], ascending=[False, True]).head(ITEM_ROWS)
            note = f"按评价数列出前{ITEM_ROWS}个事项；全部事项见指标数据（JSON）。"
        if name == "department":
            table = _breakdown_table(shown, DIMENSION_TEXT[name])
            table.insert(5, "事项覆盖率", shown["item_coverage"].map(percent))
        else:
            table = _breakdown_table(shown, DIMENSION_TEXT[name])
        if name == "staff":
            note = "工作人员仅以工号显示。"
        out.append({"title": DIMENSION_TEXT[name], "table": _table(table), "note": note})
    return out


RANKED_ITEMS = 15


def _rankings(frames: ReportFrames) -> list[dict[str, str]]:
    """Departments and items, worst bad rate first; those below the minimum volume apart."""
    out = []
    minimum = frames.options.min_ratings
    for name, label, limit in (("department", "部门", None), ("item", "服务事项", RANKED_ITEMS)):
        ranked, apart = ranking(frames.breakdowns[name])
        shown = ranked if limit is None else ranked.head(limit)
        note = f"有效评价不少于{minimum}条的{label}按差评率从高到低排列。"
        if limit is not None and len(ranked) > limit:
            note += f"列出前{limit}位；全部见下载的表格。"
        names = "、".join(apart["name"].head(30).tolist())
        more = "等" if len(apart) > 30 else ""
        out.append(
            {
                "key": f"ranking-{name}",
                "title": f"{label}差评率排名",
                "table": _table(ranking_table(shown, label)) if len(shown) else "",
                "note": note,
                "apart": (
                    f"有效评价不足{minimum}条、不参与排名的{label}（{len(apart)}个）：{names}{more}。"
                    if len(apart)
                    else ""
                ),
            }
        )
    return out


def _forwarding(frames: ReportFrames) -> str:
    f = frames.forwarding_summary
    rows = [
        ("本月产生的转送记录", f"{f['messages']:,}"),
        ("已送达", f"{f['delivered']:,}"),
        ("待送达", f"{f['pending']:,}"),
        ("送达失败", f"{f['failed']:,}"),
        ("平均时延（秒）", "—" if f["lag_mean_s"] is None else f"{f['lag_mean_s']:.1f}"),
        ("最大时延（秒）", "—" if f["lag_max_s"] is None else f"{f['lag_max_s']:.1f}"),
        ("1分钟内送达比例", percent(f["delivered_within_60s"])),
        (
            "最早待送达记录已等待（小时）",
            "—" if f["oldest_pending_hours"] is None else f"{f['oldest_pending_hours']:.1f}",
        ),
    ]
    return _table(pd.DataFrame(rows, columns=["项目", "数值"]))


def _themes(frames: ReportFrames) -> str:
    """Bad-review themes per department: themes from the domain list and counts, no text."""
    rows = [
        {
            "部门": row["department"],
            "有文字的差评": row["comments"],
            "主要主题（条数）": "、".join(f"{t['theme']}（{t['comments']}）" for t in row["themes"])
            or "—",
        }
        for row in frames.themes.public
    ]
    if not rows:
        return ""
    return _table(pd.DataFrame(rows, columns=["部门", "有文字的差评", "主要主题（条数）"]))


def _integrity(frames: ReportFrames) -> str:
    """How many integrity flags of each kind were raised: counts and rules, no evidence."""
    rows = [
        {
            "类型": row["kind_text"],
            "标记数": row["flags"],
            "涉及评价": row["ratings"],
            "规则": row["rule"],
        }
        for row in frames.flag_counts
    ]
    return _table(pd.DataFrame(rows, columns=["类型", "标记数", "涉及评价", "规则"]))


def page(
    frames: ReportFrames,
    charts: list[Chart],
    version: int,
    earlier: list[EarlierVersion],
) -> str:
    month = ReportMonth.parse(frames.month)
    zone = ZoneInfo(frames.options.timezone)
    as_of: datetime = frames.as_of.astimezone(zone)
    from reports.model import DEFINITIONS

    labels = {
        "ratings": "评价数",
        "good_rate": "好评率",
        "bad_rate": "差评率",
        "active_rate": "主动评价率",
        "transaction_rate": "办件评价覆盖率",
        "item_coverage": "事项评价覆盖率",
        "real_name_bad": "实名差评",
        "feedback_rate": "回访率",
        "rectification_rate": "整改率",
        "on_time_rate": "按时办结率",
        "follow_ups": "追加评价",
        "ranking": "排名",
        "days_to_close": "办结用时",
        "overdue": "超期工单",
        "reopened": "重办工单",
        "invalid_bad": "无效差评",
        "valid_tickets": "有效工单",
        "forwarding": "转送省平台",
    }
    definitions = [(labels.get(key, key), text) for key, text in DEFINITIONS.items()]
    basic = "计入" if frames.options.basic_satisfied_counts_as_good else "不计入"
    notes = [f"“基本满意”{basic}好评（按本县设置）。", *frames.notes]
    return _ENV.get_template("report.html").render(
        title=TITLE,
        month=str(month),
        month_text=month.text,
        version=version,
        as_of_text=as_of.strftime("%Y-%m-%d %H:%M"),
        scripts=_script_tag(plotly_asset_name()) + _script_tag(report_asset_name()),
        summary=frames.summary,
        rankings=_rankings(frames),
        cards=_cards(frames),
        notes=notes,
        charts=[
            {
                "key": c.key,
                "title": c.title,
                "div": _figure_div(c),
                "table": _table(c.table),
                "note": c.note,
            }
            for c in charts
        ],
        breakdowns=_breakdowns(frames),
        themes=_themes(frames),
        integrity=_integrity(frames),
        flag_total=sum(int(row["flags"]) for row in frames.flag_counts),
        forwarding=_forwarding(frames),
        earlier=earlier,
        definitions=definitions,
    )
