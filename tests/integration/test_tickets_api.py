"""Rectification tickets over HTTP on SQLite and PostgreSQL: workflow, access, audit, deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from evaluation_service.kernel.tables import Outbox
from rectification.actors import sweep_and_escalate
from rectification.model import State, TicketClock
from rectification.tables import TicketEvent
from tests.rectification_support import (
    OTHER_DEPARTMENT_CODE,
    Headers,
    Staff,
    act,
    backdate,
    login,
    make_staff,
    new_ticket,
    service_of,
    session_headers,
)
from tests.support import DEPARTMENT_CODE

Client = httpx.AsyncClient
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="session")
async def staff(api: Client) -> AsyncIterator[Staff]:
    yield await make_staff(api)


# Fields that make each action succeed; the requested extension date is filled in per ticket.
FIELDS: dict[str, dict[str, Any]] = {
    "accept": {},
    "confirm": {"note": "已核实属实"},
    "appeal": {"appeal_kind": "malicious", "reason": "评价人与办件无关，系恶意差评"},
    "decide_appeal": {"decision": "rejected", "note": "申诉理由不充分"},
    "explain": {"legal_basis": "《行政许可法》第三十一条", "note": "所需材料系法定材料"},
    "approve_explanation": {},
    "reject_explanation": {"note": "依据不充分"},
    "submit_result": {
        "measures": "对窗口人员开展一次性告知培训",
        "attachments": ["培训签到表.pdf"],
    },
    "request_extension": {"note": "需与市级部门协调"},
    "approve_extension": {},
    "reject_extension": {"note": "不同意延期"},
    "record_feedback": {"contact_method": "phone", "satisfaction": "satisfied", "note": "电话回访"},
    "close": {},
    "send_back": {"note": "整改措施不具体"},
}
SUPERVISOR_ACTIONS = {
    "decide_appeal",
    "approve_explanation",
    "reject_explanation",
    "approve_extension",
    "reject_extension",
    "close",
    "send_back",
}
PATHS: dict[State, list[str]] = {
    State.opened: [],
    State.verifying: ["accept"],
    State.appeal_review: ["accept", "appeal"],
    State.explanation_review: ["accept", "explain"],
    State.rectifying: ["accept", "confirm"],
    State.extension_review: ["accept", "confirm", "request_extension"],
    State.feedback: ["accept", "confirm", "submit_result"],
    State.supervision: ["accept", "confirm", "submit_result", "record_feedback"],
    State.closed: ["accept", "confirm", "submit_result", "record_feedback", "close"],
    State.closed_invalid: ["accept", "appeal", "decide_appeal_upheld"],
}
ALLOWED: dict[tuple[State, str], State] = {
    (State.opened, "accept"): State.verifying,
    (State.verifying, "confirm"): State.rectifying,
    (State.verifying, "appeal"): State.appeal_review,
    (State.verifying, "explain"): State.explanation_review,
    (State.appeal_review, "decide_appeal"): State.rectifying,
    (State.explanation_review, "approve_explanation"): State.feedback,
    (State.explanation_review, "reject_explanation"): State.rectifying,
    (State.rectifying, "explain"): State.explanation_review,
    (State.rectifying, "submit_result"): State.feedback,
    (State.rectifying, "request_extension"): State.extension_review,
    (State.extension_review, "approve_extension"): State.rectifying,
    (State.extension_review, "reject_extension"): State.rectifying,
    (State.feedback, "record_feedback"): State.supervision,
    (State.supervision, "close"): State.closed,
    (State.supervision, "send_back"): State.rectifying,
}


def role_for(staff: Staff, action: str) -> Headers:
    return staff.supervisor if action in SUPERVISOR_ACTIONS else staff.liaison_a


def wrong_role_for(staff: Staff, action: str) -> Headers:
    return staff.liaison_a if action in SUPERVISOR_ACTIONS else staff.supervisor


async def fields_for(api: Client, staff: Staff, ticket_id: int, action: str) -> dict[str, Any]:
    if action != "request_extension":
        return FIELDS[action]
    detail = (await api.get(f"/api/v1/tickets/{ticket_id}", headers=staff.supervisor)).json()
    # A closed ticket has no due date; any date will do to show the action is refused.
    due_at = datetime.fromisoformat(detail["due_at"] or "2099-01-01T00:00:00+00:00")
    next_day = due_at.astimezone(ZONE).date() + timedelta(days=1)
    return {**FIELDS[action], "requested_due_date": next_day.isoformat()}


async def drive(api: Client, staff: Staff, ticket_id: int, state: State) -> None:
    for step in PATHS[state]:
        action = "decide_appeal" if step == "decide_appeal_upheld" else step
        fields = await fields_for(api, staff, ticket_id, action)
        if step == "decide_appeal_upheld":
            fields = {"decision": "upheld", "note": "经核实为误评"}
        response = await act(api, role_for(staff, action), ticket_id, action, **fields)
        assert response.status_code == 200, (step, response.text)
    detail = (await api.get(f"/api/v1/tickets/{ticket_id}", headers=staff.supervisor)).json()
    assert detail["state"] == state


async def ticket_in(api: Client, staff: Staff, state: State, department: str = "A") -> int:
    ticket_id = await new_ticket(api, department)
    await drive(api, staff, ticket_id, state)
    return ticket_id


async def detail(api: Client, headers: Headers, ticket_id: int) -> dict[str, Any]:
    response = await api.get(f"/api/v1/tickets/{ticket_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- the whole (state, action) walk, through HTTP ----------------------------------------------


@pytest.mark.parametrize("state", list(State))
async def test_every_action_in_each_state_is_allowed_only_to_its_role_or_refused(
    api: Client, staff: Staff, state: State
) -> None:
    refused_ticket = await ticket_in(api, staff, state)
    answers: dict[str, tuple[int, int, str]] = {}
    for action in FIELDS:
        allowed = (state, action) in ALLOWED
        ticket_id = await ticket_in(api, staff, state) if allowed else refused_ticket
        fields = await fields_for(api, staff, ticket_id, action)
        wrong = await act(api, wrong_role_for(staff, action), ticket_id, action, **fields)
        right = await act(api, role_for(staff, action), ticket_id, action, **fields)
        answers[action] = (wrong.status_code, right.status_code, right.json().get("state", ""))

    expected = {
        action: (403, 200, ALLOWED[(state, action)])
        if (state, action) in ALLOWED
        else (403, 409, "")
        for action in FIELDS
    }
    assert answers == expected
    assert (await detail(api, staff.supervisor, refused_ticket))["state"] == state


async def test_a_refused_action_says_what_the_state_allows(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api)

    response = await act(api, staff.liaison_a, ticket_id, "submit_result", measures="x")

    assert response.status_code == 409
    assert response.json()["error"] == "action_not_allowed"
    assert "待受理" in response.json()["message"] and "受理" in response.json()["message"]


async def test_an_unknown_action_is_404_with_the_list_of_actions(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api)

    response = await act(api, staff.liaison_a, ticket_id, "approve_everything")

    assert response.status_code == 404
    assert "accept" in response.json()["message"]


async def test_a_missing_required_field_is_named_in_chinese(api: Client, staff: Staff) -> None:
    ticket_id = await ticket_in(api, staff, State.verifying)

    response = await act(api, staff.liaison_a, ticket_id, "explain", note="无法整改")

    assert response.status_code == 422
    assert response.json()["field"] == "legal_basis"
    assert "法律法规" in response.json()["message"]


async def test_a_malformed_action_body_is_422_not_500(api: Client, staff: Staff) -> None:
    ticket_id = await ticket_in(api, staff, State.rectifying)

    response = await act(
        api, staff.liaison_a, ticket_id, "request_extension", requested_due_date="next week"
    )

    assert response.status_code == 422


async def test_an_id_beyond_the_key_range_is_422_not_500(api: Client, staff: Staff) -> None:
    huge = 10**20

    ticket = await api.get(f"/api/v1/tickets/{huge}", headers=staff.supervisor)
    retry = await api.post(f"/api/v1/forwarding/{huge}/retry", headers=staff.supervisor)

    assert (ticket.status_code, retry.status_code) == (422, 422)
    assert "ticket_id" in ticket.json()["message"]


# --- concurrency -------------------------------------------------------------------------------


async def test_the_same_action_fired_twice_at_once_wins_exactly_once(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)

    answers = await asyncio.gather(
        *[act(api, staff.liaison_a, ticket_id, "accept") for _ in range(4)]
    )

    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
    accepted = await TicketEvent.count().where(
        (TicketEvent.ticket == ticket_id) & (TicketEvent.action == "accept")
    )
    assert accepted == 1


async def test_two_different_actions_at_once_cannot_both_win(api: Client, staff: Staff) -> None:
    ticket_id = await ticket_in(api, staff, State.verifying)

    answers = await asyncio.gather(
        act(api, staff.liaison_a, ticket_id, "confirm", **FIELDS["confirm"]),
        act(api, staff.liaison_a, ticket_id, "appeal", **FIELDS["appeal"]),
    )

    assert sorted(r.status_code for r in answers) == [200, 409]
    assert len((await detail(api, staff.liaison_a, ticket_id))["history"]) == 3


# --- audit, outbox, branches -------------------------------------------------------------------


async def test_history_records_who_role_when_from_to_note_and_attachments(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.feedback)

    history = (await detail(api, staff.liaison_a, ticket_id))["history"]

    assert [(e["action"], e["from_state"], e["to_state"]) for e in history] == [
        ("open", "", "opened"),
        ("accept", "opened", "verifying"),
        ("confirm", "verifying", "rectifying"),
        ("submit_result", "rectifying", "feedback"),
    ]
    last = history[-1]
    assert (last["actor"], last["role"]) == (staff.names["liaison_a"], "liaison")
    assert last["attachments"] == ["培训签到表.pdf"]
    assert last["details"]["measures"] == FIELDS["submit_result"]["measures"]
    assert history[0]["role"] == "system"


async def test_closing_queues_the_result_for_the_province_in_the_same_transaction(
    api: Client, staff: Staff
) -> None:
    closed = await ticket_in(api, staff, State.closed)
    invalid = await ticket_in(api, staff, State.closed_invalid)
    still_open = await ticket_in(api, staff, State.supervision)

    queued = {
        ticket_id: await Outbox.count().where(
            (Outbox.kind == "ticket_result") & (Outbox.ref_id == ticket_id)
        )
        for ticket_id in (closed, invalid, still_open)
    }

    assert queued == {closed: 1, invalid: 1, still_open: 0}
    assert (await detail(api, staff.supervisor, closed))["result"] == "rectified"
    assert (await detail(api, staff.supervisor, invalid))["result"] == "invalid"


async def test_an_approved_explanation_closes_as_explained(api: Client, staff: Staff) -> None:
    ticket_id = await ticket_in(api, staff, State.explanation_review)
    for headers, action in [
        (staff.supervisor, "approve_explanation"),
        (staff.liaison_a, "record_feedback"),
        (staff.supervisor, "close"),
    ]:
        assert (await act(api, headers, ticket_id, action, **FIELDS[action])).status_code == 200

    assert (await detail(api, staff.supervisor, ticket_id))["result"] == "explained"


async def test_a_still_dissatisfied_citizen_sends_the_ticket_back_as_a_redo(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.feedback)

    response = await act(
        api,
        staff.liaison_a,
        ticket_id,
        "record_feedback",
        contact_method="visit",
        satisfaction="dissatisfied",
        note="群众认为仍未解决",
    )

    body = response.json()
    assert (body["state"], body["redo_count"]) == ("rectifying", 1)
    assert body["history"][-1]["details"]["redo"] == "true"


async def test_an_approved_extension_moves_the_due_date_and_is_granted_once(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.rectifying)
    fields = await fields_for(api, staff, ticket_id, "request_extension")
    await act(api, staff.liaison_a, ticket_id, "request_extension", **fields)

    approved = (await act(api, staff.supervisor, ticket_id, "approve_extension")).json()
    again = await act(api, staff.liaison_a, ticket_id, "request_extension", **fields)

    due_day = datetime.fromisoformat(approved["due_at"]).astimezone(ZONE).date()
    assert due_day.isoformat() == fields["requested_due_date"]
    assert (again.status_code, again.json()["error"]) == (409, "extension_used")


async def test_an_extension_beyond_the_fifteen_day_cap_is_refused(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.rectifying)
    cap = (await detail(api, staff.liaison_a, ticket_id))["rectify_cap_at"]
    beyond = datetime.fromisoformat(cap).astimezone(ZONE).date() + timedelta(days=1)

    response = await act(
        api,
        staff.liaison_a,
        ticket_id,
        "request_extension",
        requested_due_date=str(beyond),
        note="x",
    )

    assert (response.status_code, response.json()["error"]) == (422, "bad_extension_date")


# --- people and access -------------------------------------------------------------------------


async def test_liaisons_of_another_department_cannot_see_or_act_on_a_ticket(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")

    seen = await api.get(f"/api/v1/tickets/{ticket_id}", headers=staff.liaison_b)
    acted = await act(api, staff.liaison_b, ticket_id, "accept")
    listed = (await api.get("/api/v1/tickets?limit=200", headers=staff.liaison_b)).json()
    asked = await api.get(
        "/api/v1/tickets", params={"department": DEPARTMENT_CODE}, headers=staff.liaison_b
    )

    assert (seen.status_code, acted.status_code, asked.status_code) == (404, 404, 403)
    assert ticket_id not in [item["id"] for item in listed["items"]]
    assert {item["department_code"] for item in listed["items"]} <= {OTHER_DEPARTMENT_CODE}
    assert (await detail(api, staff.supervisor, ticket_id))["state"] == "opened"


async def test_a_liaison_lists_only_the_tickets_of_their_department(
    api: Client, staff: Staff
) -> None:
    mine = await new_ticket(api, "B")
    theirs = await new_ticket(api, "A")

    listed = (await api.get("/api/v1/tickets?limit=200", headers=staff.liaison_b)).json()

    ids = [item["id"] for item in listed["items"]]
    assert mine in ids and theirs not in ids
    assert {item["department_code"] for item in listed["items"]} <= {OTHER_DEPARTMENT_CODE}


async def test_lists_mask_contacts_and_the_ticket_shows_them_to_its_department_only(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")

    listed = (await api.get("/api/v1/tickets?limit=200", headers=staff.supervisor)).json()
    in_list = next(item for item in listed["items"] if item["id"] == ticket_id)
    contacts = {
        who: (await detail(api, headers, ticket_id))["contact"]
        for who, headers in [
            ("liaison_a", staff.liaison_a),
            ("supervisor", staff.supervisor),
            ("admin", staff.admin),
        ]
    }

    assert in_list["contact"] == {
        "name": "张*",
        "phone": "138****1234",
        "cert_no": "1101**********002X",
        "masked": True,
    }
    assert contacts["liaison_a"]["phone"] == "13800001234"
    assert contacts["supervisor"]["cert_no"] == "11010519491231002X"
    assert contacts["admin"]["phone"] == "138****1234"


async def test_deputies_read_reports_not_tickets(api: Client, staff: Staff) -> None:
    response = await api.get("/api/v1/tickets", headers=staff.deputy)

    assert response.status_code == 403


async def test_tickets_need_a_login(api: Client) -> None:
    response = await api.get("/api/v1/tickets")

    assert (response.status_code, response.json()["error"]) == (401, "not_logged_in")


async def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(
    api: Client, staff: Staff
) -> None:
    username = staff.names["deputy"]
    answers = [(await login(api, username, "wrong-password")).json()["error"] for _ in range(5)]
    locked = await login(api, username)

    assert answers == ["bad_credentials"] * 4 + ["account_locked"]
    assert (locked.status_code, locked.json()["error"]) == (401, "account_locked")


async def test_logout_ends_the_session(api: Client, staff: Staff) -> None:
    headers = session_headers(await login(api, staff.names["admin"]))
    before = await api.get("/api/v1/auth/me", headers=headers)

    await api.post("/api/v1/auth/logout", headers=headers)
    api.cookies.clear()
    after = await api.get("/api/v1/auth/me", headers=headers)

    assert before.json()["role"] == "admin"
    assert (after.status_code, after.json()["error"]) == (401, "session_expired")


# --- deadlines and the sweep -------------------------------------------------------------------


def at(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZONE)


async def test_a_ticket_opened_before_national_day_is_due_on_the_first_working_day_after(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    clock: TicketClock = service_of(api).clock
    opened = at(2025, 9, 30, 16)
    await backdate(ticket_id, opened, clock.accept_due(opened))

    due = datetime.fromisoformat((await detail(api, staff.liaison_a, ticket_id))["due_at"])

    assert due.astimezone(ZONE).date() == date(2025, 10, 9)


async def test_the_sweep_marks_yellow_then_red_and_escalates_to_supervisors(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    service = service_of(api)
    opened = at(2025, 9, 29, 10)
    # Three working days after Mon Sep 29 across the holiday: Sep 30, Oct 9, Oct 10.
    await backdate(ticket_id, opened, service.clock.due_after(opened, 3))

    quiet = await service.sweep(at(2025, 10, 8, 12))
    alerts = [(await detail(api, staff.supervisor, ticket_id))["alert"]]
    warned = await service.sweep(at(2025, 10, 9, 9))
    alerts.append((await detail(api, staff.supervisor, ticket_id))["alert"])
    escalated = await service.sweep(at(2025, 10, 11, 9))
    alerts.append((await detail(api, staff.supervisor, ticket_id))["alert"])
    repeated = await service.sweep(at(2025, 10, 11, 10))

    assert alerts == ["none", "yellow", "red"]
    assert ticket_id not in quiet.escalated_ticket_ids
    assert warned.yellow >= 1
    assert ticket_id in escalated.escalated_ticket_ids
    assert ticket_id not in repeated.escalated_ticket_ids
    for_supervisor = (await api.get("/api/v1/notifications", headers=staff.supervisor)).json()
    for_liaison = (await api.get("/api/v1/notifications", headers=staff.liaison_a)).json()
    assert [n["kind"] for n in for_supervisor if n["ticket_id"] == ticket_id] == ["overdue"]
    # The liaison was also told of the new ticket when it opened (issue 10).
    assert sorted(n["kind"] for n in for_liaison if n["ticket_id"] == ticket_id) == [
        "due_soon",
        "new_ticket",
        "overdue",
    ]


async def test_the_make_up_saturday_counts_as_a_working_day_for_the_sweep(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    service = service_of(api)
    opened = at(2025, 10, 10, 15)  # Friday; the next working day is Saturday Oct 11 (调休)
    await backdate(ticket_id, opened, service.clock.accept_due(opened))

    on_saturday_evening = await service.sweep(at(2025, 10, 11, 23))
    on_sunday = await service.sweep(at(2025, 10, 12, 9))

    assert ticket_id not in on_saturday_evening.escalated_ticket_ids
    assert ticket_id in on_sunday.escalated_ticket_ids


async def test_overdue_and_month_filters_find_old_tickets(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api)
    service = service_of(api)
    opened = at(2025, 9, 30, 16)
    await backdate(ticket_id, opened, service.clock.accept_due(opened))

    overdue = (
        await api.get(
            "/api/v1/tickets",
            params={"overdue": "true", "month": "2025-09", "limit": 200},
            headers=staff.liaison_a,
        )
    ).json()
    not_overdue = (
        await api.get(
            "/api/v1/tickets",
            params={"overdue": "false", "month": "2025-09", "limit": 200},
            headers=staff.liaison_a,
        )
    ).json()

    assert ticket_id in [item["id"] for item in overdue["items"]]
    assert all(item["overdue"] for item in overdue["items"])
    assert ticket_id not in [item["id"] for item in not_overdue["items"]]


async def test_a_bad_month_filter_is_422(api: Client, staff: Staff) -> None:
    response = await api.get(
        "/api/v1/tickets", params={"month": "2025-13"}, headers=staff.supervisor
    )

    assert (response.status_code, response.json()["error"]) == (422, "bad_month")


async def test_escalation_is_posted_to_the_webhook_after_the_sweep(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    service = service_of(api)
    opened = at(2025, 9, 1, 10)
    await backdate(ticket_id, opened, service.clock.accept_due(opened))
    posted: list[Any] = []

    def hook(request: httpx.Request) -> httpx.Response:
        posted.append(request.read())
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hook)) as client:
        await sweep_and_escalate(service, at(2025, 9, 5, 10), "http://hooks.test/overdue", client)

    assert len(posted) == 1
    assert str(ticket_id).encode() in posted[0]


async def test_an_unreachable_webhook_loses_no_notification(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api)
    service = service_of(api)
    opened = at(2025, 8, 1, 10)
    await backdate(ticket_id, opened, service.clock.accept_due(opened))

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as client:
        result = await sweep_and_escalate(
            service, at(2025, 8, 8, 10), "http://hooks.test/x", client
        )

    assert ticket_id in result.escalated_ticket_ids
    notes = (await api.get("/api/v1/notifications", headers=staff.supervisor)).json()
    assert ticket_id in [n["ticket_id"] for n in notes]


async def test_a_notification_can_be_marked_read(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api)
    service = service_of(api)
    opened = at(2025, 7, 1, 10)
    await backdate(ticket_id, opened, service.clock.accept_due(opened))
    await service.sweep(at(2025, 7, 8, 10))
    note = next(
        n
        for n in (await api.get("/api/v1/notifications", headers=staff.supervisor)).json()
        if n["ticket_id"] == ticket_id
    )

    response = await api.post(f"/api/v1/notifications/{note['id']}/read", headers=staff.supervisor)
    unread = (
        await api.get("/api/v1/notifications", params={"unread": "true"}, headers=staff.supervisor)
    ).json()

    assert response.status_code == 204
    assert note["id"] not in [n["id"] for n in unread]
