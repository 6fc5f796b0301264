"""Pure step five: a month's tables for download, from its archived metrics (Excel and CSV).

Built from the stored metrics JSON, so a download shows exactly the archived version's numbers.
Headers are Chinese; shares are given in per cent, rounded to two places.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

COLUMNS: dict[str, str] = {
    "rank": "排名",
    "code": "编码",
    "name": "名称",
    "department_name": "所属部门",
    "channel": "渠道代码",
    "window_no": "窗口号",
    "staff_no": "工号",
    "ratings": "评价数（首次）",
    "follow_ups": "追加评价",
    "invalid_bad": "申诉成立的无效差评",
    "valid_ratings": "有效评价数",
    "good": "好评数",
    "bad": "差评数",
    "valid_bad": "有效差评数",
    "real_name_bad": "实名差评",
    "good_rate": "好评率（%）",
    "bad_rate": "差评率（%）",
    "bad_rate_low": "差评率95%区间下限（%）",
    "bad_rate_high": "差评率95%区间上限（%）",
    "previous_bad_rate": "上月差评率（%）",
    "bad_rate_change": "较上月（百分点）",
    "records": "服务记录",
    "rated_records": "已评价服务记录",
    "active_rate": "主动评价率（%）",
    "item_coverage": "事项评价覆盖率（%）",
    "tickets": "工单",
    "valid": "有效工单",
    "closed": "已办结",
    "closed_on_time": "按时办结",
    "rectification_rate": "整改率（%）",
    "on_time_rate": "按时办结率（%）",
    "feedback_rate": "回访率（%）",
    "overdue": "逾期未整改",
    "reopened": "重办",
    "median_days": "办结用时中位数（工作日）",
    "p90_days": "办结用时P90（工作日）",
    "month": "月份",
    "text": "评价指标",
    "share": "占差评比例（%）",
    "kind": "类别代码",
    "delivered": "已送达",
    "pending": "待送达",
    "failed": "送达失败",
    "lag_mean_s": "平均时延（秒）",
    "lag_max_s": "最大时延（秒）",
}
SHARES = {c for c, text in COLUMNS.items() if "（%）" in text or c == "bad_rate_change"}
BREAKDOWN_FIRST = ["rank", "code", "name", "department_name", "channel", "window_no", "staff_no"]
BREAKDOWN_COLUMNS = [
    *BREAKDOWN_FIRST,
    "valid_ratings",
    "valid_bad",
    "bad_rate",
    "bad_rate_low",
    "bad_rate_high",
    "previous_bad_rate",
    "bad_rate_change",
    "rectification_rate",
    "on_time_rate",
    "overdue",
    "ratings",
    "follow_ups",
    "invalid_bad",
    "good",
    "bad",
    "good_rate",
    "real_name_bad",
    "records",
    "rated_records",
    "active_rate",
    "item_coverage",
    "tickets",
    "valid",
    "closed",
    "closed_on_time",
    "feedback_rate",
    "reopened",
    "median_days",
    "p90_days",
]
SHEETS: dict[str, str] = {
    "department": "部门排名",
    "item": "事项排名",
    "channel": "渠道",
    "window": "窗口",
    "staff": "工号",
    "tags": "差评原因",
    "forwarding": "转送省平台",
    "trend": "近12个月趋势",
    "themes": "差评主题",
    "integrity": "评价真实性核查",
}


def _shaped(rows: list[dict[str, Any]], columns: list[str], ranked: bool) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    present = [c for c in columns if c in frame.columns]
    frame = frame[present] if present else frame
    if ranked and "rank" in frame.columns:
        frame = frame.sort_values(["rank", "valid_ratings"], ascending=[True, False])
    for column in frame.columns:
        if column in SHARES:
            frame[column] = (pd.to_numeric(frame[column]) * 100).round(2)
    return frame.rename(columns=COLUMNS).reset_index(drop=True)


def tables(metrics: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Every table of the month, keyed by a short name, with Chinese headers."""
    out: dict[str, pd.DataFrame] = {}
    breakdowns = metrics["breakdowns"]
    for name in [n for n in SHEETS if n in breakdowns]:  # the archive's JSON sorts its keys
        out[name] = _shaped(
            breakdowns[name], BREAKDOWN_COLUMNS, ranked=name in ("department", "item")
        )
    out["tags"] = _shaped(metrics["tags"], ["code", "text", "ratings", "share"], ranked=False)
    out["forwarding"] = _shaped(
        metrics["forwarding"]["by_kind"],
        ["kind", "name", "delivered", "pending", "failed", "lag_mean_s", "lag_max_s"],
        ranked=False,
    )
    trend = metrics["trend"]
    out["trend"] = _shaped(trend, list(trend[0]) if trend else [], ranked=False)
    # Versions archived before themes and flags existed have neither table.
    if "themes" in metrics:
        out["themes"] = pd.DataFrame(
            [
                (d["department"], d["comments"], t["theme"], t["comments"])
                for d in metrics["themes"]
                for t in d["themes"]
            ],
            columns=["部门", "有文字的差评", "主题", "含该主题的差评"],
        )
    if "integrity" in metrics:
        out["integrity"] = pd.DataFrame(
            [(r["kind_text"], r["flags"], r["ratings"], r["rule"]) for r in metrics["integrity"]],
            columns=["类型", "标记数", "涉及评价", "规则"],
        )
    return out


def xlsx(named: dict[str, pd.DataFrame]) -> bytes:
    """One sheet per table, named in Chinese."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in named.items():
            frame.to_excel(writer, sheet_name=SHEETS.get(name, name)[:31], index=False)
    return buffer.getvalue()


def csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so Excel on Windows reads the Chinese headers."""
    text: str = frame.to_csv(index=False)
    return "\ufeff".encode() + text.encode()
