"""The simulator's page for a person: what the province holds, refreshed every two seconds."""

from __future__ import annotations

from html import escape
from typing import Any

from connectors.province_sim.indicators import BY_CODE

_LEVELS = {"5": "非常满意", "4": "满意", "3": "基本满意", "2": "不满意", "1": "非常不满意"}
_KINDS = (("record", "服务记录"), ("rating", "评价"), ("ticket_result", "整改反馈"))

_STYLE = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;
margin:0;padding:12px;background:#f5f6f8;color:#222;font-size:15px}
h1{font-size:1.2em;margin:0 0 4px}
.note{color:#666;font-size:.85em;margin:0 0 12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px}
.card{background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:1.6em}
h2{font-size:1em;margin:16px 0 6px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.85em}
th,td{padding:6px 4px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#fafafa}
.wrap{overflow-x:auto}
.bad{color:#b00020}
"""


def _level(value: str) -> str:
    label = _LEVELS.get(value, "")
    css = ' class="bad"' if value in ("1", "2") else ""
    return f"<span{css}>{escape(value)} {escape(label)}</span>"


def _tags(value: str) -> str:
    codes = [code for code in value.split(",") if code]
    named = [
        f"{escape(code)} {escape(BY_CODE[code].name)}" if code in BY_CODE else escape(code)
        for code in codes
    ]
    return "<br>".join(named) or "—"


def render_page(stats: dict[str, Any]) -> str:
    cards = "".join(
        f'<div class="card">{label}<b>{stats[kind]["distinct"]:,}</b>'
        f"收到 {stats[kind]['receipts']:,} 次</div>"
        for kind, label in _KINDS
    )
    lag = stats["lag_ms"]
    lag_text = (
        f"p50 {lag['p50']:,} 毫秒 · p95 {lag['p95']:,} 毫秒（最近 {lag['of']:,} 条）"
        if lag["p50"] is not None
        else "暂无"
    )
    rows = "".join(
        "<tr>"
        f"<td>{escape(r['projectNo'])}</td>"
        f"<td>{escape(r['serviceNumber'])}/{escape(r['assessNumber'])}</td>"
        f"<td>{_level(r['satisfaction'])}</td>"
        f"<td>{_tags(r['evalDetail'])}</td>"
        f"<td>{escape(r['accepted_at'])}</td>"
        f"<td>{r['lag_ms']:,}</td>"
        "</tr>"
        for r in stats["last_accepted"]
    )
    refusals = "".join(
        f"<tr><td>{escape(text)}</td><td>{count:,}</td></tr>"
        for text, count in stats["refusals"].items()
    )
    faults = stats.get("faults", {})
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="2">
<title>省好差评系统（模拟）</title><style>{_STYLE}</style></head>
<body>
<h1>省好差评系统（模拟）</h1>
<p class="note">本页每 2 秒自动刷新。这是县里测试用的模拟省平台，不是真实的省级系统。</p>
<div class="cards">{cards}
<div class="card">评价延迟<b style="font-size:1em">{escape(lag_text)}</b></div></div>
<h2>最近接收的 20 条评价</h2>
<div class="wrap"><table>
<tr><th>办件编号</th><th>服务/评价次数</th><th>满意度</th><th>评价指标</th><th>接收时间</th>
<th>延迟(毫秒)</th></tr>
{rows or '<tr><td colspan="6">暂无评价</td></tr>'}
</table></div>
<h2>拒收原因</h2>
<div class="wrap"><table><tr><th>原因</th><th>次数</th></tr>
{refusals or '<tr><td colspan="2">暂无</td></tr>'}
</table></div>
<p class="note">故障模拟：错误率 {faults.get("error_rate", 0)}，
延迟 {faults.get("latency_ms", 0)} 毫秒，停机剩余 {faults.get("down_seconds", 0)} 秒，拒收追加评价：
{"是" if faults.get("refuse_followups") else "否"}</p>
</body></html>
"""
