"""Staff pages over HTTP on both databases: who may open what; forms that run the workflow."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from evaluation_service.evaluations.model import OutboxState, uscc_check_char
from evaluation_service.identity.service import create_user
from evaluation_service.identity.tables import StaffUser
from evaluation_service.kernel.tables import Department, Outbox, ServiceItem
from rectification.tables import Notification, Ticket
from tests.rectification_support import (
    CHEAP_HASHER,
    FIRST_CONTACT,
    PASSWORD,
    Headers,
    Staff,
    act,
    csrf_token,
    login,
    session_headers,
)
from tests.support import DEPARTMENT_CODE, auth, transaction_body

Client = httpx.AsyncClient
# A department of these tests' own: other modules treat the shared catalog's other codes as unknown.
DESK_B_CODE = "11370124MA9999997" + uscc_check_char("11370124MA9999997")
DESK_B_ITEM = DESK_B_CODE + "2040002001001"  # 医保关系转移 (20 公共服务), see ITEM_CODE


async def ensure_department_b() -> None:
    if await Department.exists().where(Department.code == DESK_B_CODE):
        return
    await Department.insert(
        Department(code=DESK_B_CODE, name="平阴县医疗保障局", area_code="370124000000")
    )
    row = await Department.select(Department.id).where(Department.code == DESK_B_CODE).first()
    assert row is not None
    await ServiceItem.insert(
        ServiceItem(code=DESK_B_ITEM, name="医保关系转移", department=row["id"])
    )


@pytest.fixture(scope="session")
async def staff(api: Client) -> AsyncIterator[Staff]:
    await ensure_department_b()
    suffix = uuid.uuid4().hex[:8]
    accounts = {
        "liaison_a": ("liaison", DEPARTMENT_CODE),
        "liaison_b": ("liaison", DESK_B_CODE),
        "supervisor": ("supervisor", None),
        "deputy": ("deputy", None),
        "admin": ("admin", None),
    }
    names: dict[str, str] = {}
    headers: dict[str, Headers] = {}
    for key, (role, department) in accounts.items():
        names[key] = f"desk-{key}-{suffix}"
        await create_user(names[key], key, role, PASSWORD, department, CHEAP_HASHER)
        headers[key] = session_headers(await login(api, names[key]))
    yield Staff(names=names, **headers)


async def new_ticket(api: Client, department: str = "A") -> int:
    """A real-name 非常不满意 through the API, in department A or this module's department B."""
    overrides = {"department_code": DESK_B_CODE, "item_code": DESK_B_ITEM}
    body = transaction_body(
        f"DESK-{uuid.uuid4().hex[:16]}", **(overrides if department == "B" else {})
    )
    registered = await api.post("/api/v1/transactions", json=body, headers=auth())
    assert registered.status_code == 200, registered.text
    rated = await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "mobile",
            "level": 1,
            "tags": ["103"],
            "comment": "材料要求没有一次说清",
            "idempotency_key": uuid.uuid4().hex,
            "rating_token": registered.json()["records"][0]["rating_token"],
        },
    )
    assert rated.status_code == 201, rated.text
    ticket_id: int = rated.json()["ticket_id"]
    return ticket_id


async def form_login(api: Client, username: str, password: str) -> httpx.Response:
    token = await csrf_token(api)
    response = await api.post(
        "/login",
        data={"username": username, "password": password, "next": "", "_csrf_token": token},
        headers={"Cookie": f"hcp_csrf={token}"},
    )
    api.cookies.clear()  # sessions travel explicitly, as in the API tests
    return response


async def page(api: Client, path: str, headers: Headers) -> httpx.Response:
    return await api.get(path, headers=headers)


async def post_action(
    api: Client, headers: Headers, ticket_id: int, action: str, **fields: str
) -> httpx.Response:
    return await api.post(
        f"/desk/tickets/{ticket_id}/actions/{action}", data=fields, headers=headers
    )


async def state_of(api: Client, staff: Staff, ticket_id: int) -> str:
    detail = await api.get(f"/api/v1/tickets/{ticket_id}", headers=staff.supervisor)
    state: str = detail.json()["state"]
    return state


# --- access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/desk", "/console", "/console/tickets", "/desk/tickets/1", "/notifications"]
)
async def test_anonymous_people_are_sent_to_the_login_page(api: Client, path: str) -> None:
    response = await api.get(path)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert path.replace("/", "%2F") in response.headers["location"]


async def test_login_page_is_in_chinese(api: Client) -> None:
    response = await api.get("/login?next=/desk")

    assert response.status_code == 200
    assert "工作人员登录" in response.text
    assert 'name="next" value="/desk"' in response.text


async def test_liaison_of_department_b_cannot_open_a_ticket_of_department_a(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")

    response = await page(api, f"/desk/tickets/{ticket_id}", staff.liaison_b)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "不存在，或不属于您所在的部门" in response.text
    assert "13800001234" not in response.text


async def test_liaison_of_department_b_cannot_act_on_a_ticket_of_department_a(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")

    response = await post_action(api, staff.liaison_b, ticket_id, "accept")

    assert response.status_code == 404
    assert "不属于您所在的部门" in response.text
    assert await state_of(api, staff, ticket_id) == "opened"


@pytest.mark.parametrize("path", ["/desk", "/console", "/console/forwarding", "/desk/tickets/1"])
async def test_deputies_cannot_open_the_desk_or_the_console(
    api: Client, staff: Staff, path: str
) -> None:
    response = await page(api, path, staff.deputy)

    assert response.status_code == 403
    assert "只能查看月度统计报告" in response.text
    assert 'href="/reports"' in response.text


async def test_liaisons_cannot_open_the_console(api: Client, staff: Staff) -> None:
    response = await page(api, "/console", staff.liaison_a)

    assert response.status_code == 403
    assert "此页面不向部门联络员开放" in response.text


async def test_supervisors_who_open_the_desk_land_on_the_console(api: Client, staff: Staff) -> None:
    response = await page(api, "/desk", staff.supervisor)

    assert response.status_code == 303
    assert response.headers["location"] == "/console"


# --- login ---------------------------------------------------------------------------------------


async def test_form_login_sets_the_session_and_goes_to_the_desk(api: Client, staff: Staff) -> None:
    response = await form_login(api, staff.names["liaison_a"], PASSWORD)

    assert response.status_code == 303
    assert response.headers["location"] == "/desk"
    assert "hcp_session=" in response.headers["set-cookie"]
    assert "httponly" in response.headers["set-cookie"].lower()


async def test_wrong_password_is_refused_in_chinese_and_locks_after_five_tries(
    api: Client,
) -> None:
    username = f"lock-{uuid.uuid4().hex[:8]}"
    await create_user(username, "锁定测试", "supervisor", PASSWORD, None, CHEAP_HASHER)

    first = await form_login(api, username, "wrong-password")
    for _ in range(3):
        await form_login(api, username, "wrong-password")
    fifth = await form_login(api, username, "wrong-password")
    with_right_password = await form_login(api, username, PASSWORD)

    assert first.status_code == 401
    assert "用户名或密码不正确" in first.text
    assert f'value="{username}"' in first.text
    assert "账号已锁定" in fifth.text
    assert with_right_password.status_code == 401
    assert "账号已锁定" in with_right_password.text


async def test_login_refuses_to_redirect_to_another_site(api: Client, staff: Staff) -> None:
    token = await csrf_token(api)
    response = await api.post(
        "/login",
        data={
            "username": staff.names["supervisor"],
            "password": PASSWORD,
            "next": "//evil.test",
            "_csrf_token": token,
        },
        headers={"Cookie": f"hcp_csrf={token}"},
    )
    api.cookies.clear()

    assert response.headers["location"] == "/console"


async def test_logout_ends_the_session(api: Client, staff: Staff) -> None:
    login = await form_login(api, staff.names["supervisor"], PASSWORD)
    cookie = {"Cookie": f"hcp_session={login.cookies['hcp_session']}"}
    token = await csrf_token(api)

    await api.post(
        "/logout",
        data={"_csrf_token": token},
        headers={"Cookie": f"{cookie['Cookie']}; hcp_csrf={token}"},
    )
    api.cookies.clear()
    after = await page(api, "/console", cookie)

    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


# --- the desk and the ticket page ----------------------------------------------------------------


async def test_desk_lists_the_departments_open_tickets_with_masked_contacts(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")
    other = await new_ticket(api, "B")

    response = await page(api, "/desk", staff.liaison_a)

    assert response.status_code == 200
    assert f'href="/desk/tickets/{ticket_id}"' in response.text
    assert f'href="/desk/tickets/{other}"' not in response.text
    assert "138****1234" in response.text
    assert "13800001234" not in response.text


async def test_ticket_page_shows_rating_contact_history_and_only_the_liaisons_forms(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")

    liaison = await page(api, f"/desk/tickets/{ticket_id}", staff.liaison_a)
    supervisor = await page(api, f"/desk/tickets/{ticket_id}", staff.supervisor)
    admin = await page(api, f"/desk/tickets/{ticket_id}", staff.admin)

    assert liaison.status_code == 200
    for text in (
        "非常不满意",
        "收取办事指南以外材料",
        "材料要求没有一次说清",
        "个体工商户设立登记",
    ):
        assert text in liaison.text
    assert "13800001234" in liaison.text  # the handling department sees the full contact
    assert "实名差评自动立案" in liaison.text
    assert f'action="/desk/tickets/{ticket_id}/actions/accept"' in liaison.text
    assert "/actions/" not in supervisor.text  # opened: nothing for a supervisor to decide
    assert "13800001234" in supervisor.text
    assert "138****1234" in admin.text
    assert "13800001234" not in admin.text


async def test_verifying_ticket_offers_each_liaison_action_with_its_required_fields(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")
    await act(api, staff.liaison_a, ticket_id, "accept")

    response = await page(api, f"/desk/tickets/{ticket_id}", staff.liaison_a)

    for action in ("record_contact", "confirm", "appeal", "explain"):
        assert f"/actions/{action}" in response.text
    assert 'type="datetime-local"' in response.text  # when the contact happened
    assert "统计口径：尚未回访" in response.text
    assert 'name="appeal_kind"' in response.text
    assert "恶意差评" in response.text
    assert 'name="legal_basis"' in response.text


async def test_form_action_runs_the_workflow_and_returns_to_the_ticket(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")

    accepted = await post_action(api, staff.liaison_a, ticket_id, "accept")
    shown = await page(api, accepted.headers["location"], staff.liaison_a)

    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/desk/tickets/{ticket_id}?done=accept"
    assert "已完成“受理”" in shown.text
    assert await state_of(api, staff, ticket_id) == "verifying"


async def test_form_without_a_required_field_is_refused_in_chinese_on_the_page(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")
    await act(api, staff.liaison_a, ticket_id, "accept")

    response = await post_action(api, staff.liaison_a, ticket_id, "appeal", reason="理由")

    assert response.status_code == 422
    assert "请填写“申诉类型" in response.text
    assert ">理由</textarea>" in response.text  # what was typed is kept
    assert await state_of(api, staff, ticket_id) == "verifying"


async def test_action_of_another_role_or_state_is_refused_in_chinese(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")

    wrong_role = await post_action(api, staff.supervisor, ticket_id, "accept")
    wrong_state = await post_action(api, staff.liaison_a, ticket_id, "confirm", note="x")
    unknown = await post_action(api, staff.liaison_a, ticket_id, "explode")

    assert wrong_role.status_code == 403
    assert "须由部门联络员办理" in wrong_role.text
    assert wrong_state.status_code == 409
    assert "不能执行“核实属实”" in wrong_state.text
    assert unknown.status_code == 404
    assert "没有名为“explode”的工单操作" in unknown.text
    assert await state_of(api, staff, ticket_id) == "opened"


# --- notifications -------------------------------------------------------------------------------


async def test_notifications_can_be_marked_read(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api, "A")
    user = (
        await StaffUser.select(StaffUser.id)
        .where(StaffUser.username == staff.names["liaison_a"])
        .first()
    )
    assert user is not None
    inserted = await Notification.insert(
        Notification(
            recipient=user["id"],
            ticket=ticket_id,
            kind="due_soon",
            message=f"工单 {ticket_id} 将于一个工作日内到期，请及时处理。",
            created_at=datetime.now(UTC),
        )
    ).returning(Notification.id)
    notification_id = inserted[0]["id"]

    before = await page(api, "/notifications", staff.liaison_a)
    marked = await api.post(f"/notifications/{notification_id}/read", headers=staff.liaison_a)
    after = await page(api, "/notifications", staff.liaison_a)

    assert f"/notifications/{notification_id}/read" in before.text
    assert marked.status_code == 303
    assert f"/notifications/{notification_id}/read" not in after.text


# --- the console ---------------------------------------------------------------------------------


async def test_console_shows_the_queues_with_tickets_waiting_for_a_decision(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")
    await act(api, staff.liaison_a, ticket_id, "accept")
    await act(
        api,
        staff.liaison_a,
        ticket_id,
        "record_contact",
        contact_method="phone",
        contact_outcome="reached",
    )
    await act(
        api, staff.liaison_a, ticket_id, "appeal", appeal_kind="mistaken", reason="评价人误选"
    )

    console = await page(api, "/console", staff.supervisor)
    ticket = await page(api, f"/desk/tickets/{ticket_id}", staff.supervisor)

    assert console.status_code == 200
    for title in (
        "申诉待审核",
        "情况说明待审核",
        "延期申请待审核",
        "回访复核（联系不上/拒绝回访）",
        "待办结审核",
        "超期工单",
    ):
        assert title in console.text
    assert f'href="/desk/tickets/{ticket_id}"' in console.text
    assert "/actions/decide_appeal" in ticket.text
    assert "申诉成立" in ticket.text


async def test_console_filters_tickets_and_explains_a_bad_filter(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api, "B")

    found = await page(
        api, f"/console/tickets?state=opened&department={DESK_B_CODE}", staff.supervisor
    )
    bad = await page(api, "/console/tickets?month=2026-13", staff.supervisor)

    assert f'href="/desk/tickets/{ticket_id}"' in found.text
    assert bad.status_code == 422
    assert "月份格式应为 YYYY-MM" in bad.text


async def test_forwarding_failures_are_listed_and_can_be_sent_again(
    api: Client, staff: Staff
) -> None:
    now = datetime.now(UTC)
    inserted = await Outbox.insert(
        Outbox(
            kind="evaluation",
            ref_id=999_999,
            state=OutboxState.failed,
            attempts=7,
            last_error="province said: 参数错误",
            created_at=now,
            next_attempt_at=now,
        )
    ).returning(Outbox.id)
    outbox_id = inserted[0]["id"]

    listed = await page(api, "/console/forwarding", staff.supervisor)
    retried = await api.post(f"/console/forwarding/{outbox_id}/retry", headers=staff.supervisor)
    again = await api.post(f"/console/forwarding/{outbox_id}/retry", headers=staff.supervisor)
    row = await Outbox.select(Outbox.state).where(Outbox.id == outbox_id).first()
    # Settled, so no forwarder of this shared database tries to send a rating that does not exist.
    await Outbox.update({Outbox.state: OutboxState.delivered}).where(Outbox.id == outbox_id)

    assert "参数错误" in listed.text
    assert f"/console/forwarding/{outbox_id}/retry" in listed.text
    assert retried.status_code == 303
    assert row is not None
    assert row["state"] == OutboxState.pending
    assert again.status_code == 409
    assert "只有发送失败的记录可以重新发送" in again.text


async def test_landing_page_links_to_every_entrance(api: Client) -> None:
    response = await api.get("/")

    assert response.status_code == 200
    for link in ("/desk", "/console", "/reports", "/schema"):
        assert f'href="{link}"' in response.text


async def test_a_staff_form_posted_without_its_csrf_token_changes_nothing(
    api: Client, staff: Staff
) -> None:
    """What a page on another origin could send with the person's cookie: no CSRF token."""
    ticket_id = await new_ticket(api)
    cookie_only = {"Cookie": staff.liaison_a["Cookie"].split(";")[0]}

    response = await api.post(
        f"/desk/tickets/{ticket_id}/actions/accept", data={"note": "x"}, headers=cookie_only
    )

    assert response.status_code == 403
    assert await state_of(api, staff, ticket_id) == "opened"


async def test_anonymous_browsers_opening_the_reports_are_sent_to_the_login_page(
    api: Client,
) -> None:
    response = await api.get("/reports", headers={"accept": "text/html"})

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_the_first_contact_form_takes_the_county_time_of_the_call(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")
    await act(api, staff.liaison_a, ticket_id, "accept")
    # Opened an hour ago, so a call five minutes ago is after the opening.
    await Ticket.update({Ticket.opened_at: datetime.now(UTC) - timedelta(hours=1)}).where(
        Ticket.id == ticket_id
    )
    called = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=5)).replace(
        second=0, microsecond=0
    )

    posted = await post_action(
        api,
        staff.liaison_a,
        ticket_id,
        "record_contact",
        contact_method="phone",
        contact_outcome="reached",
        contacted_at=called.strftime("%Y-%m-%dT%H:%M"),
        note="电话核实",
    )
    garbled = await post_action(
        api,
        staff.liaison_a,
        ticket_id,
        "record_contact",
        contact_method="phone",
        contact_outcome="reached",
        contacted_at="昨天下午",
    )

    detail = (await api.get(f"/api/v1/tickets/{ticket_id}", headers=staff.liaison_a)).json()
    assert posted.status_code == 303
    assert datetime.fromisoformat(detail["first_contact_at"]) == called
    assert garbled.status_code == 422
    assert "联系时间" in garbled.text


async def test_an_unreadable_extension_date_on_the_form_is_refused_in_chinese(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api, "A")
    await act(api, staff.liaison_a, ticket_id, "accept")
    await act(api, staff.liaison_a, ticket_id, "record_contact", **FIRST_CONTACT)
    await act(api, staff.liaison_a, ticket_id, "confirm", note="属实")

    garbled = await post_action(
        api,
        staff.liaison_a,
        ticket_id,
        "request_extension",
        requested_due_date="下周一",
        reason="需协调其他部门",
    )

    detail = (await api.get(f"/api/v1/tickets/{ticket_id}", headers=staff.liaison_a)).json()
    assert garbled.status_code == 422
    assert "申请的新整改期限" in garbled.text
    assert detail["state"] == "rectifying"  # nothing changed
