"""Pure step: integrity flags of the month (刷好评 and pressure), each with its evidence.

A flag never changes or removes a rating: it names what looks wrong, which ratings show it, the
counts and the threshold it crossed, so a supervisor can look and decide. Six kinds:

- device_burst: 5-star ratings at one device, each soon after the one before;
- phone_burst: the same from one applicant phone, over several transactions;
- staff_own_phone: a rating given from the phone of the staff member who served the record;
- closed_hours: ratings at a hall device (window evaluator, kiosk) while the hall is closed;
- rate_jump: a window whose 5-star rate jumps far above its own recent months;
- identical_run: the same level many times in a row at one device.

The rows come from `queries.py` (islands and rows already cut by the thresholds there); this module
turns them into flags. Phones appear masked; deputies get only the counts per kind.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from reports.model import FlagRules, percent
from reports.queries import RawReport, Rows

KINDS: dict[str, str] = {
    "device_burst": "同一设备短时间内连续五星",
    "phone_burst": "同一手机号短时间内连续五星",
    "staff_own_phone": "工作人员本人手机评价本人服务",
    "closed_hours": "大厅非办公时间的现场评价",
    "rate_jump": "窗口五星率较自身历史骤升",
    "identical_run": "同一设备连续相同评价",
}
EVIDENCE_IDS = 50  # rating ids listed per flag; the count is always the whole


def rules_text(rules: FlagRules) -> dict[str, str]:
    """Each kind's rule in words, with the thresholds in force."""
    return {
        "device_burst": f"同一评价设备至少{rules.device_burst_count}条五星评价，"
        f"相邻两条间隔均不超过{rules.device_burst_gap_seconds}秒",
        "phone_burst": f"同一申请人手机号至少{rules.phone_burst_count}条五星评价、涉及至少2个办件，"
        f"相邻两条间隔均不超过{rules.phone_burst_gap_seconds}秒",
        "staff_own_phone": "评价所属办件的申请人手机号与经办工作人员登记的本人手机号相同",
        "closed_hours": f"大厅办公时间为{rules.hall_hours_text()}（县时间），同一评价设备"
        f"在此之外至少有{rules.closed_hours_min_ratings}条现场评价",
        "rate_jump": f"窗口本月五星率比前{rules.jump_history_months}个月高出至少"
        f"{rules.jump_points:g}个百分点，且本月和前期各至少{rules.jump_min_ratings}条评价",
        "identical_run": f"同一评价设备连续至少{rules.run_length}条评价等级完全相同",
    }


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def _ids(value: Any) -> list[int]:
    if isinstance(value, list):
        return sorted(int(v) for v in value)
    return sorted(int(v) for v in str(value or "").split(",") if v.strip())


def _local(value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    moment = pd.Timestamp(value)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment
    stamp: datetime = moment.tz_convert(zone).to_pydatetime()
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def _place(key: str, devices: dict[int, str]) -> str:
    """A hall rating's place: its device (the queries' key is the device's row id)."""
    return f"设备 {devices.get(int(key), key)}" if key.isdigit() else f"设备 {key}"


def _flag(
    kind: str,
    subject: str,
    ratings: int,
    ids: list[int],
    first_at: str,
    last_at: str,
    evidence: str,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "kind_text": KINDS[kind],
        "subject": subject,
        "ratings": ratings,
        "rating_ids": ids[:EVIDENCE_IDS],
        "first_at": first_at,
        "last_at": last_at,
        "evidence": evidence,
    }


def _devices(rows: Rows) -> dict[int, str]:
    return {
        int(r["id"]): str(r["device_id"]) + (f"（{r['name']}）" if r.get("name") else "")
        for r in rows
    }


def _islands(
    kind: str, rows: Rows, zone: ZoneInfo, subject: Any, describe: Any
) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        first, last = _local(row["first_at"], zone), _local(row["last_at"], zone)
        out.append(
            _flag(
                kind,
                subject(str(row["k"])),
                int(row["ratings"]),
                _ids(row["ids"]),
                first,
                last,
                describe(row, first, last),
            )
        )
    return out


def flags(raw: RawReport, rules: FlagRules, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Every flag of the month, kind by kind, the largest first within a kind."""
    devices = _devices(raw.devices)
    found: list[dict[str, Any]] = []

    def place(key: str) -> str:
        return _place(key, devices)

    found += _islands(
        "device_burst",
        raw.device_bursts,
        zone,
        place,
        lambda r, a, b: (
            f"{a} 至 {b} 连续{int(r['ratings'])}条五星评价，"
            f"相邻间隔均不超过{rules.device_burst_gap_seconds}秒"
        ),
    )
    found += _islands(
        "phone_burst",
        [r for r in raw.phone_bursts if int(r.get("transactions") or 0) >= 2],
        zone,
        lambda key: f"手机 {mask_phone(key)}",
        lambda r, a, b: (
            f"{a} 至 {b} 连续{int(r['ratings'])}条五星评价，涉及"
            f"{int(r['transactions'])}个办件，相邻间隔均不超过{rules.phone_burst_gap_seconds}秒"
        ),
    )

    by_staff: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in raw.staff_own_phone:
        by_staff[str(row["staff_no"])].append(row)
    for staff_no, rows in sorted(by_staff.items()):
        levels = sorted((int(r["level"]) for r in rows), reverse=True)
        times = sorted(_local(r["received_at"], zone) for r in rows)
        mix = "、".join(f"{lv}星×{levels.count(lv)}" for lv in sorted(set(levels), reverse=True))
        found.append(
            _flag(
                "staff_own_phone",
                f"工号 {staff_no}",
                len(rows),
                _ids([r["id"] for r in rows]),
                times[0],
                times[-1],
                f"{len(rows)}条评价来自该工作人员本人登记的手机号，评价其本人经办的服务（{mix}）",
            )
        )

    by_place: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in raw.closed_hours:
        by_place[str(row["k"])].append(row)
    for key, rows in sorted(by_place.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(rows) < rules.closed_hours_min_ratings:
            continue
        times = sorted(_local(r["received_at"], zone) for r in rows)
        shown = "、".join(t[5:16] for t in times[:5]) + ("等" if len(times) > 5 else "")
        found.append(
            _flag(
                "closed_hours",
                place(key),
                len(rows),
                _ids([r["id"] for r in rows]),
                times[0],
                times[-1],
                f"{len(rows)}条现场评价在办公时间（{rules.hall_hours_text()}）以外：{shown}",
            )
        )

    found += _jumps(raw.ratings_by_window_staff, raw.window_history, rules)
    found += _islands(
        "identical_run",
        raw.identical_runs,
        zone,
        place,
        lambda r, a, b: f"{a} 至 {b} 连续{int(r['ratings'])}条评价均为{int(r['level'])}星",
    )
    return found


def _jumps(this_month: Rows, history: Rows, rules: FlagRules) -> list[dict[str, Any]]:
    """`this_month`: the month's ratings by window, staff, level and assess number (the report's
    own query); `history`: (window_no, ratings, five) rows of the earlier months."""
    counts: dict[str, dict[int, tuple[int, int]]] = defaultdict(dict)

    def add(window: str, period: int, ratings: int, five: int) -> None:
        n, f = counts[window].get(period, (0, 0))
        counts[window][period] = (n + ratings, f + five)

    for row in this_month:
        if str(row["window_no"]) and int(row["assess"]) == 1:
            n = int(row["ratings"])
            add(str(row["window_no"]), 1, n, n if int(row["level"]) == 5 else 0)
    for row in history:
        add(str(row["window_no"]), 0, int(row["ratings"]), int(row["five"] or 0))
    out = []
    for window, by_period in sorted(counts.items()):
        now_n, now_five = by_period.get(1, (0, 0))
        was_n, was_five = by_period.get(0, (0, 0))
        if now_n < rules.jump_min_ratings or was_n < rules.jump_min_ratings:
            continue
        now_rate, was_rate = now_five / now_n, was_five / was_n
        points = (now_rate - was_rate) * 100
        if points < rules.jump_points:
            continue
        out.append(
            _flag(
                "rate_jump",
                f"窗口 {window}",
                now_n,
                [],
                "",
                "",
                f"本月五星 {now_five}/{now_n}（{percent(now_rate)}），前"
                f"{rules.jump_history_months}个月 {was_five}/{was_n}（{percent(was_rate)}），"
                f"高出{points:.1f}个百分点",
            )
        )
    return sorted(out, key=lambda f: -f["ratings"])


def counts(found: list[dict[str, Any]], rules: FlagRules) -> list[dict[str, Any]]:
    """What deputies see: per kind, how many flags and how many ratings they involve, and the
    rule. Never a subject, a time or a rating id."""
    texts = rules_text(rules)
    return [
        {
            "kind": kind,
            "kind_text": text,
            "flags": sum(1 for f in found if f["kind"] == kind),
            "ratings": sum(int(f["ratings"]) for f in found if f["kind"] == kind),
            "rule": texts[kind],
        }
        for kind, text in KINDS.items()
    ]
