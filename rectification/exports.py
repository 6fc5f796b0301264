"""The supervisor console's filtered ticket list as an Excel file (openpyxl, Chinese headers).

Built from the same `TicketSummary` rows the list shows, so personal data is masked exactly as on
the page (DESIGN.md §3 rule 8).
"""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from evaluation_service.kernel.vocabulary import LEVEL_TEXT
from rectification.schemas import TicketSummary

HEADERS = (
    "工单号",
    "状态",
    "部门",
    "服务事项",
    "办件编号",
    "评价等级",
    "窗口",
    "工号",
    "评价人",
    "联系电话",
    "立案时间",
    "当前期限",
    "超期",
    "预警",
    "重办次数",
    "办结结果",
)
ALERT_TEXT = {"red": "红", "yellow": "黄", "": ""}
RESULT_TEXT = {"rectified": "已整改", "explained": "情况说明", "invalid": "无效差评", "": ""}


def tickets_xlsx(tickets: list[TicketSummary], zone: ZoneInfo, title: str) -> bytes:
    def local(value: datetime | None) -> str:
        return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    sheet.append(HEADERS)

    def row(t: TicketSummary) -> tuple[object, ...]:
        return (
            t.id,
            t.state_text,
            t.department_name,
            t.item_name,
            t.project_no,
            LEVEL_TEXT.get(t.level, str(t.level)),
            t.window_no,
            t.staff_no,
            t.contact.name,
            t.contact.phone,
            local(t.opened_at),
            local(t.due_at) + ("（估算）" if t.due_estimated and t.due_at else ""),
            "是" if t.overdue else "否",
            ALERT_TEXT.get(t.alert, t.alert),
            t.redo_count,
            RESULT_TEXT.get(t.result, t.result),
        )

    for ticket in tickets:
        sheet.append(row(ticket))
    for index, width in enumerate((8, 14, 22, 28, 22, 12, 8, 10, 10, 14, 18, 18, 6, 6, 8, 10), 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
