"""A liaison works a ticket at the desk and a supervisor closes it at the console, in chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    DEMO_DEPARTMENT_CODE,
    LAPTOP,
    PHONE,
    TOKEN_SECRET,
    Served,
    fits_width,
    new_page,
    screenshot,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
PASSWORD = "desk-browser-password"


def create_user(served: Served, role: str, name: str, department: str | None = None) -> str:
    """An account made the way an operator makes one: `create-user --password-stdin`."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "evaluation_service", "create-user", username]
    command += ["--role", role, "--name", name, "--password-stdin"]
    if department:
        command += ["--department", department]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{served.database}",
        "HAOCHAPING_VAR_DIR": str(served.database.parent),
        "TOKEN_SECRET": TOKEN_SECRET,
    }
    result = subprocess.run(
        command, cwd=ROOT, env=env, input=f"{PASSWORD}\n", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return username


def bad_rating(served: Served, project_no: str) -> int:
    """A real-name 非常不满意 from a phone, through the API: the rating opens a ticket."""
    record = served.register(project_no)
    rated = httpx.post(
        f"{served.base_url}/api/v1/evaluations",
        json={
            "channel": "mobile",
            "level": 1,
            "tags": ["103"],
            "comment": "窗口要求提供办事指南以外的房屋证明，跑了两趟",
            "idempotency_key": uuid.uuid4().hex,
            "rating_token": record["rating_token"],
        },
    )
    assert rated.status_code == 201, rated.text
    ticket_id: int = rated.json()["ticket_id"]
    assert ticket_id
    return ticket_id


def log_in(page: Any, served: Served, path: str, username: str) -> None:
    page.goto(f"{served.base_url}{path}")
    expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def run_action(
    page: Any, action: str, title: str, choose: tuple[str, ...] = (), **fields: str
) -> None:
    """Open the action's panel if closed, tick the named choices, fill text fields by label, and
    press its button."""
    panel = page.locator(f"#action-{action}")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    for text in choose:
        panel.get_by_text(text, exact=True).click()
    for label, value in fields.items():
        panel.get_by_label(label).fill(value)
    panel.get_by_role("button", name=title, exact=True).click()


def api_ticket(served: Served, username: str, ticket_id: int) -> dict[str, Any]:
    with httpx.Client(base_url=served.base_url) as client:
        login = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        detail: dict[str, Any] = client.get(f"/api/v1/tickets/{ticket_id}").json()
        return detail


def test_liaison_takes_a_ticket_to_feedback_and_a_supervisor_closes_it(
    served: Served, browser: Any, project_no: str
) -> None:
    liaison = create_user(served, "liaison", "李联络", DEMO_DEPARTMENT_CODE)
    supervisor = create_user(served, "supervisor", "赵监督")
    ticket_id = bad_rating(served, project_no)
    state = "#ticket-state"

    page = new_page(browser, PHONE, phone=True)
    log_in(page, served, "/desk", liaison)
    expect(page.get_by_role("heading", name="差评整改工单")).to_be_visible()
    screenshot(page, "desk-list-phone")
    desk_fits = fits_width(page)
    page.locator(f'a[href="/desk/tickets/{ticket_id}"]').click()
    expect(page.locator(state)).to_have_text("待受理")
    expect(page.locator("#contact-phone")).to_have_text("13800001234")
    screenshot(page, "desk-ticket-opened-phone")
    ticket_fits = fits_width(page)

    run_action(page, "accept", "受理")
    expect(page.locator("#done")).to_contain_text("已完成“受理”")
    expect(page.locator(state)).to_have_text("核实中")
    run_action(
        page,
        "record_contact",
        "登记首次联系（回访核实）",
        choose=("电话", "已联系上"),
        说明="电话联系群众，核实窗口多收材料的情况",
    )
    expect(page.locator(state)).to_have_text("核实中")
    run_action(page, "confirm", "核实属实")
    expect(page.locator("#action-error")).to_have_text("请填写“说明”。")
    screenshot(page, "desk-ticket-refusal-phone")
    run_action(page, "confirm", "核实属实", 说明="经调取窗口录像核实，窗口确实多收了材料")
    expect(page.locator(state)).to_have_text("整改中")
    run_action(
        page,
        "submit_result",
        "提交整改结果",
        整改措施="清理窗口自设材料清单，对窗口人员开展一次性告知培训",
    )
    expect(page.locator(state)).to_have_text("待回访")
    run_action(
        page,
        "record_feedback",
        "登记回访结果",
        choose=("电话", "满意"),
        说明="电话回访，群众对整改结果表示满意",
    )
    expect(page.locator(state)).to_have_text("待监督审核")
    expect(page.locator("#no-actions")).to_contain_text("等待监督员审核")
    expect(page.locator("#history li")).to_have_count(6)
    screenshot(page, "desk-ticket-supervision-phone")
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()

    console = new_page(browser, LAPTOP)
    log_in(console, served, "/console", supervisor)
    expect(console.get_by_role("heading", name="监督台", exact=True)).to_be_visible()
    screenshot(console, "console-queues-desktop")
    console.locator("#queue-supervision").locator(f'a[href="/desk/tickets/{ticket_id}"]').click()
    expect(console.locator(state)).to_have_text("待监督审核")
    screenshot(console, "console-ticket-decision-desktop")
    run_action(console, "close", "办结", 说明="整改到位，群众满意，同意办结")
    expect(console.locator(state)).to_have_text("已办结")
    expect(console.locator("#no-actions")).to_contain_text("工单已办结")
    screenshot(console, "console-ticket-closed-desktop")

    detail = api_ticket(served, supervisor, ticket_id)
    assert detail["state"] == "closed"
    assert detail["result"] == "rectified"
    assert [e["action"] for e in detail["history"]] == [
        "open",
        "accept",
        "record_contact",
        "confirm",
        "submit_result",
        "record_feedback",
        "close",
    ]
    assert desk_fits and ticket_fits


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", LAPTOP)])
def test_staff_pages_read_well_on_phone_and_desktop(
    served: Served, browser: Any, project_no: str, size: str, viewport: dict[str, int]
) -> None:
    liaison = create_user(served, "liaison", "王联络", DEMO_DEPARTMENT_CODE)
    supervisor = create_user(served, "supervisor", "孙监督")
    deputy = create_user(served, "deputy", "周代表")
    ticket_id = bad_rating(served, project_no)
    phone = size == "phone"
    fits: dict[str, bool] = {}

    def shot(page: Any, name: str) -> None:
        fits[name] = fits_width(page)
        screenshot(page, f"{name}-{size}")

    page = new_page(browser, viewport, phone=phone)
    page.goto(f"{served.base_url}/")
    expect(page.get_by_role("link", name="部门联络员工单台")).to_be_visible()
    shot(page, "home")
    page.goto(f"{served.base_url}/login")
    page.get_by_label("用户名").fill(liaison)
    page.get_by_label("密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#login-error")).to_have_text("用户名或密码不正确。")
    shot(page, "login-refused")
    log_in(page, served, "/desk", liaison)
    expect(page.get_by_role("heading", name="差评整改工单")).to_be_visible()
    shot(page, "desk-list")
    page.goto(f"{served.base_url}/desk/tickets/{ticket_id}")
    run_action(page, "accept", "受理")
    expect(page.locator("#ticket-state")).to_have_text("核实中")
    shot(page, "desk-ticket-verifying")
    page.goto(f"{served.base_url}/notifications")
    expect(page.get_by_role("heading", name="通知")).to_be_visible()
    shot(page, "notifications")

    console = new_page(browser, viewport, phone=phone)
    log_in(console, served, "/console", supervisor)
    expect(console.get_by_role("heading", name="监督台", exact=True)).to_be_visible()
    shot(console, "console-queues")
    console.goto(f"{served.base_url}/console/tickets?state=open")
    expect(console.locator(f'a[href="/desk/tickets/{ticket_id}"]')).to_be_visible()
    shot(console, "console-tickets")
    console.goto(f"{served.base_url}/console/forwarding")
    expect(console.get_by_role("heading", name="向省平台推送失败的记录")).to_be_visible()
    shot(console, "console-forwarding")

    observer = new_page(browser, viewport, phone=phone)
    log_in(observer, served, "/desk", deputy)
    expect(observer.get_by_role("heading", name="没有权限访问")).to_be_visible()
    shot(observer, "desk-forbidden")

    assert fits == {name: True for name in fits}
