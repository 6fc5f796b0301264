"""The supervisor console's filtered ticket list downloads as Excel: exactly the list, masked."""

from __future__ import annotations

import io
import re

import httpx
import openpyxl
import pytest

from tests.integration.test_desk_pages import DESK_B_CODE, new_ticket, page, staff
from tests.rectification_support import Staff

__all__ = ["staff"]  # the desk pages' accounts fixture, shared


async def test_the_filtered_ticket_list_downloads_as_excel_with_chinese_headers(
    api: httpx.AsyncClient, staff: Staff
) -> None:
    made = {await new_ticket(api, "B"), await new_ticket(api, "B")}
    query = f"state=opened&department={DESK_B_CODE}"

    listed = await page(api, f"/console/tickets?{query}", staff.supervisor)
    excel = await page(api, f"/console/tickets.xlsx?{query}", staff.supervisor)
    book = openpyxl.load_workbook(io.BytesIO(excel.content), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]

    on_page = {int(i) for i in re.findall(r'href="/desk/tickets/(\d+)"', listed.text)}
    assert f'href="/console/tickets.xlsx?{query.replace("&", "&amp;")}"' in listed.text
    assert excel.status_code == 200
    assert excel.headers["content-disposition"].startswith('attachment; filename="tickets-')
    assert rows[0][:4] == ("工单号", "状态", "部门", "服务事项")
    assert {r[0] for r in rows[1:]} == on_page
    assert made <= on_page
    assert {r[1] for r in rows[1:]} == {"待受理"}
    assert {r[2] for r in rows[1:]} == {"平阴县医疗保障局"}
    assert all("****" in str(r[9]) for r in rows[1:])  # phones masked as on the list


@pytest.mark.parametrize(("query", "status"), [("month=2026-13", 422), ("department=NOPE", 422)])
async def test_a_bad_filter_is_refused_in_chinese(
    api: httpx.AsyncClient, staff: Staff, query: str, status: int
) -> None:
    answer = await page(api, f"/console/tickets.xlsx?{query}", staff.supervisor)

    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")


async def test_deputies_and_liaisons_cannot_download_the_ticket_list(
    api: httpx.AsyncClient, staff: Staff
) -> None:
    assert (await page(api, "/console/tickets.xlsx", staff.deputy)).status_code == 403
    assert (await page(api, "/console/tickets.xlsx", staff.liaison_a)).status_code == 403
