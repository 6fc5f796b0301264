"""Rectification tickets over HTTP on SQLite and PostgreSQL: workflow, access, audit, deadlines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from evaluation_service.kernel.tables import Outbox
from rectification.actors import sweep_and_escalate
from rectification.model import State, TicketClock
from rectification.tables import Notification, Ticket, TicketEvent
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
from tests.support import DEPARTMENT_CODE, auth, transaction_body

Client = httpx.AsyncClient
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="session")
async def staff(api: Client) -> AsyncIterator[Staff]:
    yield await make_staff(api)


# Fields that make each action succeed; the requested extension date is filled in per ticket.
FIELDS: dict[str, dict[str, Any]] = {
    "accept": {},
    "record_contact": {
        "contact_method": "phone",
        "contact_outcome": "reached",
        "note": "电话联系群众，核实情况属实",
    },
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
    "pause": {"note": "等待群众补正营业执照复印件"},
    "resume": {"note": "群众已补正材料"},
    "record_attempt": {"contact_method": "phone", "note": "电话未接通"},
    "record_feedback": {"contact_method": "phone", "satisfaction": "satisfied", "note": "电话回访"},
    "review_close": {"note": "群众拒绝回访，整改措施已落实，附整改照片"},
    "review_return": {"note": "请改用短信或上门方式再联系"},
    "close": {},
    "close_dissatisfied": {"note": "已重办两轮，群众诉求超出政策规定，予以办结"},
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
    "review_close",
    "review_return",
    "close_dissatisfied",
}
# Steps of the paths below that are an action with other fields than FIELDS gives.
STEPS: dict[str, tuple[str, dict[str, Any]]] = {
    "decide_appeal_upheld": ("decide_appeal", {"decision": "upheld", "note": "经核实为误评"}),
    "feedback_refused": (
        "record_feedback",
        {"contact_method": "phone", "satisfaction": "refused", "note": "群众拒绝回访"},
    ),
    "feedback_dissatisfied": (
        "record_feedback",
        {"contact_method": "phone", "satisfaction": "dissatisfied", "note": "群众仍不满意"},
    ),
}
CONTACTED = ["accept", "record_contact"]
RECTIFYING = [*CONTACTED, "confirm"]
FEEDBACK = [*RECTIFYING, "submit_result"]
PATHS: dict[State, list[str]] = {
    State.opened: [],
    State.verifying: ["accept"],
    State.appeal_review: [*CONTACTED, "appeal"],
    State.explanation_review: [*CONTACTED, "explain"],
    State.rectifying: RECTIFYING,
    State.extension_review: [*RECTIFYING, "request_extension"],
    State.paused: [*RECTIFYING, "pause"],
    State.feedback: FEEDBACK,
    State.contact_review: [*FEEDBACK, "feedback_refused"],
    State.supervision: [*FEEDBACK, "record_feedback"],
    State.closed: [*FEEDBACK, "record_feedback", "close"],
    State.closed_invalid: [*CONTACTED, "appeal", "decide_appeal_upheld"],
}
# After the allowed 重办 rounds (TICKET_REDO_ROUNDS, 2): dissatisfied three times.
STILL_DISSATISFIED = [
    *FEEDBACK,
    "feedback_dissatisfied",
    "submit_result",
    "feedback_dissatisfied",
    "submit_result",
    "feedback_dissatisfied",
]
# Pairs whose ticket must come by another path than PATHS[state] for the action to be allowed.
PREPARED: dict[tuple[State, str], list[str]] = {
    **{(State.verifying, action): CONTACTED for action in ("confirm", "appeal", "explain")},
    (State.supervision, "close_dissatisfied"): STILL_DISSATISFIED,
}
ALLOWED: dict[tuple[State, str], State] = {
    (State.opened, "accept"): State.verifying,
    (State.verifying, "record_contact"): State.verifying,
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
    (State.rectifying, "pause"): State.paused,
    (State.paused, "resume"): State.rectifying,
    (State.feedback, "record_attempt"): State.feedback,
    (State.feedback, "record_feedback"): State.supervision,
    (State.contact_review, "review_close"): State.closed,
    (State.contact_review, "review_return"): State.feedback,
    (State.supervision, "close"): State.closed,
    (State.supervision, "close_dissatisfied"): State.closed,
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


async def walk(api: Client, staff: Staff, ticket_id: int, steps: list[str]) -> None:
    for step in steps:
        action, fields = STEPS.get(step, (step, {}))
        fields = fields or await fields_for(api, staff, ticket_id, action)
        response = await act(api, role_for(staff, action), ticket_id, action, **fields)
        assert response.status_code == 200, (step, response.text)


async def drive(api: Client, staff: Staff, ticket_id: int, state: State) -> None:
    await walk(api, staff, ticket_id, PATHS[state])
    detail = (await api.get(f"/api/v1/tickets/{ticket_id}", headers=staff.supervisor)).json()
    assert detail["state"] == state


async def ticket_in(api: Client, staff: Staff, state: State, department: str = "A") -> int:
    ticket_id = await new_ticket(api, department)
    await drive(api, staff, ticket_id, state)
    return ticket_id


async def ticket_for(api: Client, staff: Staff, state: State, action: str) -> int:
    """A ticket in `state` from which `action` is allowed (some need a particular history)."""
    if (state, action) not in PREPARED:
        return await ticket_in(api, staff, state)
    ticket_id = await new_ticket(api)
    await walk(api, staff, ticket_id, PREPARED[(state, action)])
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
        ticket_id = await ticket_for(api, staff, state, action) if allowed else refused_ticket
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
    ticket_id = await new_ticket(api)
    await walk(api, staff, ticket_id, CONTACTED)

    answers = await asyncio.gather(
        act(api, staff.liaison_a, ticket_id, "confirm", **FIELDS["confirm"]),
        act(api, staff.liaison_a, ticket_id, "appeal", **FIELDS["appeal"]),
    )

    assert sorted(r.status_code for r in answers) == [200, 409]
    assert len((await detail(api, staff.liaison_a, ticket_id))["history"]) == 4


# --- audit, outbox, branches -------------------------------------------------------------------


async def test_history_records_who_role_when_from_to_note_and_attachments(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.feedback)

    history = (await detail(api, staff.liaison_a, ticket_id))["history"]

    assert [(e["action"], e["from_state"], e["to_state"]) for e in history] == [
        ("open", "", "opened"),
        ("accept", "opened", "verifying"),
        ("record_contact", "verifying", "verifying"),
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


# --- issue 10: first contact, 联系不上 / 拒绝回访, 重办 rounds, one cap, pauses -----------------


def instant(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


async def test_the_first_contact_is_due_first_and_then_verification_runs_on_its_own_clock(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.verifying)
    clock: TicketClock = service_of(api).clock
    accepted = await detail(api, staff.liaison_a, ticket_id)
    verifying_at = instant(accepted["state_times"]["verifying"])

    contacted = await act(
        api,
        staff.liaison_a,
        ticket_id,
        "record_contact",
        contact_method="visit",
        contact_outcome="reached",
        note="上门核实",
    )

    body = contacted.json()
    assert instant(accepted["due_at"]) == clock.first_contact_due(verifying_at).at
    assert instant(body["due_at"]) == clock.due_after(verifying_at, 3).at
    assert (body["first_contact_method"], body["first_contact_outcome"]) == ("visit", "reached")
    assert body["history"][-1]["details"]["contact_outcome"] == "reached"
    assert "contacted_at" in body["history"][-1]["details"]


async def test_a_contact_time_in_the_future_is_refused_in_chinese(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.verifying)
    tomorrow = datetime.now(ZONE) + timedelta(days=1)

    response = await act(
        api,
        staff.liaison_a,
        ticket_id,
        "record_contact",
        contact_method="phone",
        contact_outcome="reached",
        contacted_at=tomorrow.isoformat(),
    )

    ancient = await act(
        api,
        staff.liaison_a,
        ticket_id,
        "record_contact",
        contact_method="phone",
        contact_outcome="reached",
        contacted_at="0001-01-01T00:00:00+14:00",
    )

    assert (response.status_code, response.json()["error"]) == (422, "bad_contacted_at")
    assert "联系时间" in response.json()["message"]
    assert ancient.status_code == 422


async def test_confirming_before_the_first_contact_is_refused(api: Client, staff: Staff) -> None:
    ticket_id = await ticket_in(api, staff, State.verifying)

    response = await act(api, staff.liaison_a, ticket_id, "confirm", **FIELDS["confirm"])

    assert (response.status_code, response.json()["error"]) == (409, "first_contact_missing")


async def test_unreachable_needs_three_attempts_on_different_days_then_a_reviewed_close(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.feedback)
    today = datetime.now(ZONE).replace(hour=9, minute=0, second=0, microsecond=0)
    # The ticket was opened a week ago, so calls on earlier days can be recorded now.
    await Ticket.update({Ticket.opened_at: today - timedelta(days=7)}).where(Ticket.id == ticket_id)
    unreachable = {"contact_method": "phone", "satisfaction": "unreachable", "note": "三次未接通"}
    answers = []
    for days_ago in (2, 2, 1):  # two calls on one day count as one day
        called = (today - timedelta(days=days_ago)).isoformat()
        await act(
            api,
            staff.liaison_a,
            ticket_id,
            "record_attempt",
            contact_method="phone",
            contacted_at=called,
        )
    answers.append(await act(api, staff.liaison_a, ticket_id, "record_feedback", **unreachable))
    await act(api, staff.liaison_a, ticket_id, "record_attempt", contact_method="sms")
    reviewed = await act(api, staff.liaison_a, ticket_id, "record_feedback", **unreachable)
    answers.append(reviewed)
    closed = await act(
        api, staff.supervisor, ticket_id, "review_close", note="核对三次通话记录，同意办结"
    )

    assert [(r.status_code, r.json().get("error")) for r in answers] == [
        (409, "too_few_attempts"),
        (200, None),
    ]
    assert "3个不同的日期" in answers[0].json()["message"]
    assert reviewed.json()["state"] == "contact_review"
    assert (closed.json()["state"], closed.json()["result"]) == ("closed", "rectified")
    assert closed.json()["feedback_satisfaction"] == "unreachable"
    # Counted by the one definition of the rates (kernel/rates.py): 回访 done, listed apart.
    assert closed.json()["statistics"] == {
        "valid": True,
        "feedback_done": True,
        "no_view": True,
        "rectified": True,
        "reopened": False,
    }
    assert (
        await Outbox.count().where((Outbox.kind == "ticket_result") & (Outbox.ref_id == ticket_id))
        == 1
    )


async def test_a_refused_call_goes_to_review_and_can_be_returned_for_another_try(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.contact_review)

    no_note = await act(api, staff.supervisor, ticket_id, "review_close")
    returned = await act(api, staff.supervisor, ticket_id, "review_return", note="请上门回访")

    assert (no_note.status_code, no_note.json()["field"]) == (422, "note")
    assert (returned.json()["state"], returned.json()["feedback_satisfaction"]) == ("feedback", "")


async def test_after_two_redo_rounds_the_supervisor_closes_as_still_dissatisfied(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    await walk(api, staff, ticket_id, STILL_DISSATISFIED)

    plain = await act(api, staff.supervisor, ticket_id, "close")
    without_reason = await act(api, staff.supervisor, ticket_id, "close_dissatisfied")
    closed = await act(api, staff.supervisor, ticket_id, "close_dissatisfied", note="诉求超出政策")

    assert (plain.status_code, plain.json()["error"]) == (409, "citizen_dissatisfied")
    assert (without_reason.status_code, without_reason.json()["field"]) == (422, "note")
    body = closed.json()
    assert (body["state"], body["redo_count"], body["result"]) == ("closed", 2, "rectified")
    assert body["history"][-1]["note"] == "诉求超出政策"


async def test_closing_as_still_dissatisfied_before_the_redo_rounds_is_refused(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.supervision)

    response = await act(api, staff.supervisor, ticket_id, "close_dissatisfied", note="x")

    assert (response.status_code, response.json()["error"]) == (409, "redo_rounds_not_used")


async def test_a_redo_round_keeps_the_one_overall_cap_from_confirmation(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.feedback)
    first = await detail(api, staff.liaison_a, ticket_id)
    # The first round began six weeks ago: its cap has passed by the time the citizen says no.
    long_ago = datetime.now(UTC) - timedelta(days=42)
    clock: TicketClock = service_of(api).clock
    await Ticket.update({Ticket.rectify_cap_at: clock.rectify_cap(long_ago)}).where(
        Ticket.id == ticket_id
    )

    action, fields = STEPS["feedback_dissatisfied"]
    redo = (await act(api, staff.liaison_a, ticket_id, action, **fields)).json()

    assert first["rectify_cap_at"] is not None
    assert instant(redo["rectify_cap_at"]) == clock.rectify_cap(long_ago)
    assert instant(redo["due_at"]) == instant(redo["rectify_cap_at"])
    assert redo["overdue"] is True


async def test_a_pause_stops_the_clock_and_its_working_days_move_the_due_date_and_cap(
    api: Client, staff: Staff
) -> None:
    ticket_id = await ticket_in(api, staff, State.rectifying)
    before = await detail(api, staff.liaison_a, ticket_id)
    paused = (await act(api, staff.liaison_a, ticket_id, "pause", **FIELDS["pause"])).json()
    service = service_of(api)
    started = at(2025, 9, 29, 10)  # paused on Mon Sep 29, before National Day
    await Ticket.update({Ticket.paused_at: started}).where(Ticket.id == ticket_id)
    swept = await service.sweep(datetime.now(UTC) + timedelta(days=365))

    resumed = (await act(api, staff.liaison_a, ticket_id, "resume")).json()

    days = service.clock.paused_working_days(started, instant(resumed["state_times"]["rectifying"]))
    assert (paused["state"], paused["due_at"]) == ("paused", None)
    assert ticket_id not in swept.escalated_ticket_ids
    assert resumed["state"] == "rectifying"
    assert resumed["paused_working_days"] == days > 0
    assert instant(resumed["due_at"]) == service.clock.shifted(instant(before["due_at"]), days).at
    assert (
        instant(resumed["rectify_cap_at"])
        == service.clock.shifted(instant(before["rectify_cap_at"]), days).at
    )
    pause_event, resume_event = resumed["history"][-2:]
    assert pause_event["note"] == FIELDS["pause"]["note"]
    assert resume_event["details"]["paused_working_days"] == str(days)
    assert instant(resume_event["details"]["paused_at"]) == started


# --- issue 10: one ticket per service record -----------------------------------------------------


async def rate(api: Client, token: str, level: int, assess_number: int = 1) -> dict[str, Any]:
    key = uuid.uuid4().hex
    body = {
        "channel": "mobile",
        "level": level,
        "tags": ["101"] if level <= 2 else [],
        "comment": "追加：问题还是没有解决" if assess_number == 2 else "材料要求没有一次说清",
        "assess_number": assess_number,
        "idempotency_key": key,
        "rating_token": token,
    }
    response = await api.post("/api/v1/evaluations", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    answer["request"] = body
    return answer


async def rated_record(api: Client, level: int) -> tuple[str, dict[str, Any]]:
    """A new record of department A, rated once from its link: (the link's token, the answer)."""
    body = transaction_body(f"TK-{uuid.uuid4().hex[:16]}")
    registered = await api.post("/api/v1/transactions", json=body, headers=auth())
    token = registered.json()["records"][0]["rating_token"]
    return token, await rate(api, token, level)


async def tickets_of_record(ticket_id: int) -> int:
    record = (await Ticket.select(Ticket.service_record).where(Ticket.id == ticket_id).first())[
        "service_record"
    ]
    return int(await Ticket.count().where(Ticket.service_record == record))


async def test_a_bad_follow_up_joins_the_open_ticket_of_its_record(
    api: Client, staff: Staff
) -> None:
    token, first = await rated_record(api, 1)
    ticket_id = first["ticket_id"]
    await walk(api, staff, ticket_id, RECTIFYING)

    follow_up = await rate(api, token, 2, assess_number=2)
    replay = await api.post("/api/v1/evaluations", json=follow_up["request"])

    body = await detail(api, staff.liaison_a, ticket_id)
    event = body["history"][-1]
    assert follow_up["ticket_id"] == replay.json()["ticket_id"] == ticket_id
    assert await tickets_of_record(ticket_id) == 1
    assert (body["state"], body["reopen_count"], body["evaluation_id"]) == (
        "rectifying",
        0,
        first["id"],
    )
    assert (event["action"], event["from_state"], event["to_state"]) == (
        "follow_up",
        "rectifying",
        "rectifying",
    )
    assert event["details"] == {"evaluation": str(follow_up["id"]), "level": "2"}
    assert "问题还是没有解决" in event["note"]


async def test_a_bad_follow_up_reopens_the_closed_ticket_and_counts_the_reopen(
    api: Client, staff: Staff
) -> None:
    token, first = await rated_record(api, 1)
    ticket_id = first["ticket_id"]
    await walk(api, staff, ticket_id, PATHS[State.closed])

    follow_up = await rate(api, token, 1, assess_number=2)

    body = await detail(api, staff.liaison_a, ticket_id)
    event = body["history"][-1]
    assert follow_up["ticket_id"] == ticket_id
    assert await tickets_of_record(ticket_id) == 1
    assert (body["state"], body["reopen_count"], body["result"]) == ("opened", 1, "")
    assert body["first_contact_at"] is None and body["due_at"] is not None
    assert (event["action"], event["from_state"], event["to_state"]) == (
        "reopen",
        "closed",
        "opened",
    )
    # The department's liaisons are told, in the rating's own statement or transaction.
    told = await Notification.select(Notification.kind).where(Notification.ticket == ticket_id)
    assert "reopened" in [row["kind"] for row in told]
    # The reopened ticket starts again: accepted, contacted, and so on.
    again = await act(api, staff.liaison_a, ticket_id, "accept")
    assert again.json()["state"] == "verifying"


async def test_a_good_follow_up_leaves_the_ticket_alone(api: Client, staff: Staff) -> None:
    token, first = await rated_record(api, 1)

    follow_up = await rate(api, token, 5, assess_number=2)

    body = await detail(api, staff.liaison_a, first["ticket_id"])
    assert follow_up["ticket_id"] is None
    assert [e["action"] for e in body["history"]] == ["open"]


async def test_a_bad_follow_up_of_a_good_first_rating_opens_the_records_one_ticket(
    api: Client, staff: Staff
) -> None:
    token, first = await rated_record(api, 5)

    follow_up = await rate(api, token, 1, assess_number=2)

    assert first["ticket_id"] is None
    assert follow_up["ticket_id"] is not None
    assert await tickets_of_record(follow_up["ticket_id"]) == 1
    body = await detail(api, staff.liaison_a, follow_up["ticket_id"])
    assert (body["evaluation_id"], body["state"]) == (follow_up["id"], "opened")
