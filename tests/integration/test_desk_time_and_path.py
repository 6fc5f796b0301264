"""The desk shows time and path (issue 10, item 6), over HTTP on SQLite and PostgreSQL:
working days left or overdue, the five-step bar, 待我办理 apart from 等待审核, the supervisor's
reason on top with the right form open after 退回, evidence upload (type and size limits,
SHA-256, staff only), and the ID number masked for liaisons."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rectification.tables import TicketEvidence
from tests.rectification_support import (
    FIRST_CONTACT,
    Headers,
    Staff,
    act,
    backdate,
    make_staff,
    new_ticket,
    service_of,
)

Client = httpx.AsyncClient
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%test\n"


@pytest.fixture(scope="session")
async def staff(api: Client) -> AsyncIterator[Staff]:
    yield await make_staff(api)


def services_of(api: Client) -> Any:
    transport: Any = api._transport
    return transport.app.state.services


def section(page: str, element_id: str) -> str:
    """The HTML of one <section id=…> of a page."""
    found = re.search(rf'<section[^>]*id="{element_id}"[^>]*>(.*?)</section>', page, re.S)
    assert found, element_id
    return found.group(1)


async def to_rectifying(api: Client, staff: Staff, ticket_id: int) -> None:
    assert (await act(api, staff.liaison_a, ticket_id, "accept")).status_code == 200
    assert (
        await act(api, staff.liaison_a, ticket_id, "record_contact", **FIRST_CONTACT)
    ).status_code == 200
    assert (await act(api, staff.liaison_a, ticket_id, "confirm", note="属实")).status_code == 200


async def test_desk_rows_show_working_days_left_and_overdue(api: Client, staff: Staff) -> None:
    fresh = await new_ticket(api)
    late = await new_ticket(api)
    service = service_of(api)
    long_ago = datetime.now(UTC) - timedelta(days=30)
    await backdate(late, long_ago, service.clock.accept_due(long_ago))

    desk = (await api.get("/desk", headers=staff.liaison_a)).text
    mine = section(desk, "mine")
    fresh_row = mine.split(f'href="/desk/tickets/{fresh}"')[1].split("</li>")[0]
    late_row = mine.split(f'href="/desk/tickets/{late}"')[1].split("</li>")[0]
    assert re.search(r"剩 \d+ 个工作日|今天到期", fresh_row)
    overdue = re.search(r"超期 (\d+) 个工作日", late_row)
    assert overdue and int(overdue.group(1)) >= 15

    page = (await api.get(f"/desk/tickets/{late}", headers=staff.liaison_a)).text
    assert 'id="time-left"' in page and "超期" in page
    steps = re.search(r'<ol class="steps".*?</ol>', page, re.S)
    assert steps is not None
    titles = re.findall(r"<li[^>]*>(受理|核实|整改|回访|审核)", steps.group(0))
    assert titles == ["受理", "核实", "整改", "回访", "审核"]
    assert 'aria-current="step">受理' in steps.group(0)


async def test_tickets_waiting_on_the_supervisor_are_apart_from_the_liaisons_own(
    api: Client, staff: Staff
) -> None:
    to_do = await new_ticket(api)
    appealed = await new_ticket(api)
    assert (await act(api, staff.liaison_a, appealed, "accept")).status_code == 200
    assert (
        await act(api, staff.liaison_a, appealed, "record_contact", **FIRST_CONTACT)
    ).status_code == 200
    appeal = {"appeal_kind": "mistaken", "reason": "误评"}
    assert (await act(api, staff.liaison_a, appealed, "appeal", **appeal)).status_code == 200

    desk = (await api.get("/desk", headers=staff.liaison_a)).text
    assert f'href="/desk/tickets/{to_do}"' in section(desk, "mine")
    assert f'href="/desk/tickets/{appealed}"' not in section(desk, "mine")
    assert f'href="/desk/tickets/{appealed}"' in section(desk, "waiting")
    console = (await api.get("/console", headers=staff.supervisor)).text
    row = console.split(f'href="/desk/tickets/{appealed}"')[1].split("</li>")[0]
    assert re.search(r"剩 \d+ 个工作日|今天到期", row)


async def test_after_a_send_back_the_reason_is_on_top_and_the_result_form_is_open(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    await to_rectifying(api, staff, ticket_id)
    await act(api, staff.liaison_a, ticket_id, "submit_result", measures="培训")
    feedback = {"contact_method": "phone", "satisfaction": "satisfied", "note": "电话回访"}
    await act(api, staff.liaison_a, ticket_id, "record_feedback", **feedback)
    reason = "整改措施不具体，请补充培训记录"
    sent_back = await act(api, staff.supervisor, ticket_id, "send_back", note=reason)
    assert sent_back.status_code == 200

    page = (await api.get(f"/desk/tickets/{ticket_id}", headers=staff.liaison_a)).text
    top = page.index('id="latest-reason"')
    assert reason in page[top : top + 400]
    assert top < page.index('id="history"')
    assert '<details class="action" id="action-submit_result" open>' in page
    assert '<details class="action" id="action-explain">' in page
    # The citizen's own online answer is not a method staff may pick.
    assert 'value="online"' not in page
    # An evidence upload since then leaves the reason on top.
    png = await upload(api, staff.liaison_a, ticket_id, "照片.png", PNG, "image/png")
    assert png.status_code == 303
    page = (await api.get(f"/desk/tickets/{ticket_id}", headers=staff.liaison_a)).text
    assert reason in page[page.index('id="latest-reason"') :][:400]


async def test_liaisons_see_the_phone_but_not_the_id_number(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api)
    liaison = (await api.get(f"/desk/tickets/{ticket_id}", headers=staff.liaison_a)).text
    supervisor = (await api.get(f"/desk/tickets/{ticket_id}", headers=staff.supervisor)).text
    assert "13800001234" in liaison
    assert "11010519491231002X" not in liaison
    assert "1101**********002X" in liaison
    assert "11010519491231002X" in supervisor
    api_view = await api.get(f"/api/v1/tickets/{ticket_id}", headers=staff.liaison_a)
    assert api_view.json()["contact"]["cert_no"] == "1101**********002X"


async def upload(
    api: Client, headers: Headers, ticket_id: int, name: str, data: bytes, kind: str
) -> httpx.Response:
    return await api.post(
        f"/desk/tickets/{ticket_id}/evidence",
        files={"file": (name, data, kind)},
        headers=headers,
    )


async def test_evidence_is_stored_outside_the_database_with_its_checksum_for_staff_only(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    await to_rectifying(api, staff, ticket_id)
    stored = await upload(api, staff.liaison_a, ticket_id, "整改照片.png", PNG, "image/png")
    assert stored.status_code == 303
    assert (
        await upload(api, staff.liaison_a, ticket_id, "签到表.pdf", PDF, "application/pdf")
    ).status_code == 303

    rows = (
        await TicketEvidence.select()
        .where(TicketEvidence.ticket == ticket_id)
        .order_by(TicketEvidence.id)
    )
    digest = hashlib.sha256(PNG).hexdigest()
    assert (rows[0]["file_name"], rows[0]["sha256"], rows[0]["size"]) == (
        "整改照片.png",
        digest,
        len(PNG),
    )
    on_disk = services_of(api).evidence.path_of(digest)
    assert on_disk.read_bytes() == PNG
    page = (await api.get(f"/desk/tickets/{ticket_id}", headers=staff.liaison_a)).text
    assert "整改照片.png" in page and digest[:12] in page and "上传证明材料" in page

    link = f"/desk/tickets/{ticket_id}/evidence/{rows[0]['id']}"
    mine = await api.get(link, headers=staff.liaison_a)
    assert mine.status_code == 200
    assert mine.content == PNG
    assert mine.headers["content-type"].startswith("image/png")
    assert (await api.get(link, headers=staff.supervisor)).status_code == 200
    assert (await api.get(link, headers=staff.liaison_b)).status_code == 404
    assert (await api.get(link, headers=staff.deputy)).status_code == 403
    assert (await api.get(link)).status_code in (302, 303)  # anonymous: to the login page


async def test_evidence_of_another_type_or_too_large_is_refused_in_chinese(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    exe = await upload(api, staff.liaison_a, ticket_id, "setup.exe", b"MZ\x90\x00", "image/png")
    assert exe.status_code == 422
    assert "只能上传 JPG、PNG 图片或 PDF 文件" in exe.text
    disguised = await upload(api, staff.liaison_a, ticket_id, "photo.png", PDF, "image/png")
    assert disguised.status_code == 422
    evidence = services_of(api).evidence
    limit = evidence.max_bytes
    evidence.max_bytes = 32
    try:
        large = await upload(api, staff.liaison_a, ticket_id, "big.png", PNG, "image/png")
    finally:
        evidence.max_bytes = limit
    assert large.status_code == 422
    assert "文件过大" in large.text
    missing = await api.post(
        f"/desk/tickets/{ticket_id}/evidence", data={"x": "1"}, headers=staff.liaison_a
    )
    assert missing.status_code == 422
    assert "请选择要上传的文件" in missing.text
    other = await upload(api, staff.liaison_b, ticket_id, "a.png", PNG, "image/png")
    assert other.status_code == 404
    assert await TicketEvidence.count().where(TicketEvidence.ticket == ticket_id) == 0
