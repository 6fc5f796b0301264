"""The citizen's case page (issue 10, item 2) over HTTP on SQLite and PostgreSQL: the thank-you page
gives the case, the signed link follows it to the closed result, the 回访 answer is taken online,
and nothing personal is shown."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from rectification.tables import Ticket, TicketEvent
from tests.rectification_support import FIRST_CONTACT, Staff, act, make_staff
from tests.support import auth, transaction_body

Client = httpx.AsyncClient
PERSONAL = ("张三", "13800001234", "11010519491231002X")


@pytest.fixture(scope="session")
async def staff(api: Client) -> AsyncIterator[Staff]:
    yield await make_staff(api)


async def rate_on_the_page(api: Client) -> tuple[str, httpx.Response]:
    """A real-name citizen rates 非常不满意 through the rating page's plain form."""
    body = transaction_body(f"CASE-{uuid.uuid4().hex[:12]}")
    registered = await api.post("/api/v1/transactions", json=body, headers=auth())
    token = registered.json()["records"][0]["rating_token"]
    thanks = await api.post(
        f"/r/{token}",
        data={
            "level": "1",
            "tags": "103",
            "comment": "要求提供指南以外的材料",
            "assess_number": "1",
            "channel": "mobile",
            "idempotency_key": f"web-{uuid.uuid4().hex}",
        },
    )
    return token, thanks


def case_path(page: str) -> str:
    found = re.search(r'href="(/case/[^"]+)" id="case-link"', page)
    assert found, page
    return found.group(1)


async def ticket_of(path: str) -> int:
    return int(path.removeprefix("/case/").split(".")[0])


async def test_thank_you_page_gives_case_number_step_due_date_and_link(api: Client) -> None:
    _, thanks = await rate_on_the_page(api)
    assert thanks.status_code == 200
    assert 'id="case-no">ZG20' in thanks.text
    assert "等待办理部门受理" in thanks.text
    assert 'id="case-due"' in thanks.text
    path = case_path(thanks.text)
    case = await api.get(path)
    assert case.status_code == 200
    assert "已立案，等待办理部门受理" in case.text
    assert 'aria-current="step">受理' in case.text
    for personal in PERSONAL:
        assert personal not in case.text and personal not in thanks.text


async def test_the_rating_link_leads_to_the_case_once_rated(api: Client) -> None:
    token, thanks = await rate_on_the_page(api)
    path = case_path(thanks.text)
    # The follow-up rating is still offered, beside the case.
    rated = await api.get(f"/r/{token}")
    assert rated.status_code == 409
    # The same case (the link's expiry may differ if the day turned between the two answers).
    assert await ticket_of(case_path(rated.text)) == await ticket_of(path)
    assert f'href="/r/{token}?follow_up=1"' in rated.text
    follow_up = await api.post(
        f"/r/{token}",
        data={
            "level": "2",
            "tags": "101",
            "assess_number": "2",
            "channel": "mobile",
            "idempotency_key": f"web-{uuid.uuid4().hex}",
        },
    )
    assert follow_up.status_code == 200
    # Nothing left to rate: the link goes straight to the case.
    done = await api.get(f"/r/{token}")
    assert done.status_code == 303
    assert done.headers["location"].startswith("/case/")
    assert (await api.get(done.headers["location"])).status_code == 200


async def test_citizen_answers_the_feedback_online_and_follows_the_case_to_its_result(
    api: Client, staff: Staff
) -> None:
    _, thanks = await rate_on_the_page(api)
    path = case_path(thanks.text)
    ticket_id = await ticket_of(path)
    assert (await act(api, staff.liaison_a, ticket_id, "accept")).status_code == 200
    assert (
        await act(api, staff.liaison_a, ticket_id, "record_contact", **FIRST_CONTACT)
    ).status_code == 200
    assert (await act(api, staff.liaison_a, ticket_id, "confirm", note="属实")).status_code == 200
    early = await api.post(f"{path}/feedback", data={"satisfaction": "satisfied"})
    assert early.status_code == 409
    assert "不在回访环节" in early.text
    measures = "对窗口人员开展一次性告知培训"
    result = await act(api, staff.liaison_a, ticket_id, "submit_result", measures=measures)
    assert result.status_code == 200

    at_feedback = await api.get(path)
    assert "请评价整改结果" in at_feedback.text and measures in at_feedback.text
    refused = await api.post(f"{path}/feedback", data={"satisfaction": "perfect"})
    assert refused.status_code == 422
    assert "请选择您对整改结果的评价" in refused.text
    answered = await api.post(
        f"{path}/feedback", data={"satisfaction": "basically_satisfied", "comment": "基本解决"}
    )
    assert answered.status_code == 303
    row = (
        await Ticket.select(
            Ticket.state, Ticket.feedback_contact_method, Ticket.feedback_satisfaction
        )
        .where(Ticket.id == ticket_id)
        .first()
    )
    assert row == {
        "state": "supervision",
        "feedback_contact_method": "online",
        "feedback_satisfaction": "basically_satisfied",
    }
    event = (
        await TicketEvent.select(TicketEvent.role, TicketEvent.actor)
        .where((TicketEvent.ticket == ticket_id) & (TicketEvent.action == "record_feedback"))
        .first()
    )
    assert event == {"role": "citizen", "actor": None}
    twice = await api.post(f"{path}/feedback", data={"satisfaction": "satisfied"})
    assert twice.status_code == 409

    assert (await act(api, staff.supervisor, ticket_id, "close")).status_code == 200
    closed = await api.get(path)
    assert closed.status_code == 200
    assert "办理结果：已整改" in closed.text
    assert measures in closed.text
    assert "基本满意（在线答复）" in closed.text
    assert "监督员审核通过，办结" in closed.text
    assert closed.text.count('class="done"') == 5
    for personal in PERSONAL:
        assert personal not in closed.text
    assert staff.names["liaison_a"] not in closed.text


async def test_a_changed_or_foreign_case_link_is_refused_in_chinese(api: Client) -> None:
    _, thanks = await rate_on_the_page(api)
    path = case_path(thanks.text)
    ticket_id, expiry, mac = path.removeprefix("/case/").split(".")
    other = f"/case/{int(ticket_id) + 1}.{expiry}.{mac}"
    for broken in (other, "/case/abc", f"{path}x"):
        page = await api.get(broken)
        assert page.status_code == 401, broken
        assert "链接无效" in page.text
    posted = await api.post(f"{other}/feedback", data={"satisfaction": "satisfied"})
    assert posted.status_code == 401


async def test_a_bad_answer_is_refused_in_chinese_and_changes_nothing(
    api: Client, staff: Staff
) -> None:
    _, thanks = await rate_on_the_page(api)
    path = case_path(thanks.text)
    ticket_id = await ticket_of(path)
    await act(api, staff.liaison_a, ticket_id, "accept")
    await act(api, staff.liaison_a, ticket_id, "record_contact", **FIRST_CONTACT)
    await act(api, staff.liaison_a, ticket_id, "confirm", note="属实")
    await act(api, staff.liaison_a, ticket_id, "submit_result", measures="培训")
    for data, message in (
        ({"satisfaction": "satisfied", "comment": "a\x00b"}, "控制字符"),
        ({"satisfaction": "satisfied", "comment": "长" * 501}, "最多500字"),
        ({}, "请选择您对整改结果的评价"),
    ):
        answer = await api.post(f"{path}/feedback", data=data)
        assert answer.status_code == 422, data
        assert message in answer.text
    as_json = await api.post(f"{path}/feedback", json={"satisfaction": "satisfied"})
    assert as_json.status_code == 422
    row = await Ticket.select(Ticket.state).where(Ticket.id == ticket_id).first()
    assert row == {"state": "feedback"}
