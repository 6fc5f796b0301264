"""Issue 10 in chromium: a citizen follows a case from the thank-you page to its closed result on a
phone, answering the 回访 online; a liaison sees the unread badge and the working days left."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    DEMO_DEPARTMENT_CODE,
    LAPTOP,
    PHONE,
    Served,
    fits_width,
    new_page,
    screenshot,
)
from tests.browser.test_desk_console import PASSWORD, bad_rating, create_user, log_in
from tests.rectification_support import FIRST_CONTACT

pytestmark = pytest.mark.browser


def staff_act(served: Served, username: str, ticket_id: int, action: str, **fields: Any) -> None:
    """An action through the JSON API with the staff cookie and its CSRF token, as the desk does."""
    with httpx.Client(base_url=served.base_url) as client:
        client.get("/login")
        login = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        done = client.post(
            f"/api/v1/tickets/{ticket_id}/actions/{action}",
            json=fields,
            headers={"X-CSRF-Token": client.cookies["hcp_csrf"]},
        )
        assert done.status_code == 200, done.text


def test_citizen_follows_the_case_from_the_thank_you_page_to_the_closed_result(
    served: Served, browser: Any, project_no: str
) -> None:
    liaison = create_user(served, "liaison", "赵联络", DEMO_DEPARTMENT_CODE)
    supervisor = create_user(served, "supervisor", "钱监督")
    record = served.register(project_no)
    page = new_page(browser, PHONE, phone=True)

    page.goto(record["rating_url"])
    page.get_by_text("不满意", exact=True).click()
    page.locator('.tags[data-level="2"]').get_by_text("未一次性告知导致多次跑腿").click()
    page.get_by_label("意见和建议").fill("材料清单没有一次说清楚")
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_role("heading", name="感谢您的评价！")).to_be_visible()
    expect(page.locator("#case-no")).to_have_text(re.compile(r"^ZG\d{10}$"))
    expect(page.locator("#case-step")).to_have_text("已立案，等待办理部门受理")
    expect(page.locator("#case-due")).to_be_visible()
    assert fits_width(page)
    screenshot(page, "case-thanks-phone")
    case_no = page.locator("#case-no").inner_text()

    page.get_by_role("link", name="查看办理进度").click()
    expect(page.locator("#case-no")).to_have_text(case_no)
    expect(page.locator(".steps li.current")).to_contain_text("受理")
    assert fits_width(page)
    screenshot(page, "case-opened-phone")
    case_url = page.url
    ticket_id = int(case_url.rsplit("/", 1)[1].split(".")[0])

    staff_act(served, liaison, ticket_id, "accept")
    staff_act(served, liaison, ticket_id, "record_contact", **FIRST_CONTACT)
    staff_act(served, liaison, ticket_id, "confirm", note="电话联系群众，情况属实")
    staff_act(served, liaison, ticket_id, "submit_result", measures="窗口一次性告知清单已更新")
    page.reload()
    expect(page.get_by_role("heading", name="请评价整改结果（回访）")).to_be_visible()
    expect(page.locator("#measures")).to_have_text("窗口一次性告知清单已更新")
    screenshot(page, "case-feedback-phone")
    page.get_by_text("满意", exact=True).click()
    page.get_by_role("button", name="提交答复").click()
    expect(page.locator("#done")).to_have_text("感谢您的答复，已记录。")
    expect(page.locator(".steps li.current")).to_contain_text("审核")

    staff_act(served, supervisor, ticket_id, "close")
    page.reload()
    expect(page.locator("#case-state")).to_have_text("已办结")
    expect(page.locator("#result")).to_contain_text("办理结果：已整改")
    expect(page.locator("#result")).to_contain_text("满意（在线答复）")
    expect(page.locator(".steps li.done")).to_have_count(5)
    body = page.locator("body").inner_text()
    for personal in ("王丽", "13800001234", "11010519491231002X", liaison, supervisor):
        assert personal not in body
    assert fits_width(page)
    screenshot(page, "case-closed-phone")

    # The rating link, both ratings aside, still shows the case beside the follow-up.
    page.goto(record["rating_url"])
    expect(page.locator("#case-no")).to_have_text(case_no)


def test_liaison_sees_the_unread_badge_and_the_working_days_left(
    served: Served, browser: Any, project_no: str
) -> None:
    liaison = create_user(served, "liaison", "孙联络", DEMO_DEPARTMENT_CODE)
    ticket_id = bad_rating(served, project_no)
    page = new_page(browser, LAPTOP)
    log_in(page, served, "/desk", liaison)

    badge = page.locator('nav.staff-nav a[href="/notifications"] .count')
    expect(badge).to_be_visible()
    assert int(badge.inner_text()) >= 1
    row = page.locator(f'#mine a[href="/desk/tickets/{ticket_id}"]')
    expect(row.locator(".left")).to_have_text(re.compile(r"^(剩 \d+ 个工作日|今天到期)$"))
    screenshot(page, "desk-badge-time-left-laptop")

    row.click()
    expect(page.locator("#steps li.current")).to_contain_text("受理")
    expect(page.locator("#time-left")).to_have_text(re.compile(r"^(剩 \d+ 个工作日|今天到期)$"))
    screenshot(page, "ticket-steps-laptop")

    page.goto(f"{served.base_url}/notifications")
    expect(page.get_by_text(f"新的实名差评工单 {ticket_id} 待受理")).to_be_visible()
    phone = new_page(browser, PHONE)
    log_in(phone, served, "/desk", liaison)
    expect(phone.locator('nav.staff-nav a[href="/notifications"] .count')).to_be_visible()
    assert fits_width(phone)
    screenshot(phone, "desk-badge-time-left-phone")


def test_after_a_send_back_the_liaison_sees_the_reason_and_attaches_evidence(
    served: Served, browser: Any, project_no: str, tmp_path: Any
) -> None:
    liaison = create_user(served, "liaison", "周联络", DEMO_DEPARTMENT_CODE)
    supervisor = create_user(served, "supervisor", "吴监督")
    ticket_id = bad_rating(served, project_no)
    staff_act(served, liaison, ticket_id, "accept")
    staff_act(served, liaison, ticket_id, "record_contact", **FIRST_CONTACT)
    staff_act(served, liaison, ticket_id, "confirm", note="属实")
    staff_act(served, liaison, ticket_id, "submit_result", measures="已培训")
    feedback = {"contact_method": "phone", "satisfaction": "satisfied", "note": "电话回访"}
    staff_act(served, liaison, ticket_id, "record_feedback", **feedback)
    staff_act(served, supervisor, ticket_id, "send_back", note="请补充培训签到表和现场照片")

    page = new_page(browser, PHONE)
    log_in(page, served, f"/desk/tickets/{ticket_id}", liaison)
    expect(page.locator("#latest-reason")).to_contain_text("请补充培训签到表和现场照片")
    expect(page.locator("#action-submit_result")).to_have_attribute("open", "")
    photo = tmp_path / "现场照片.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 256)
    page.locator("#evidence-file").set_input_files(str(photo))
    page.get_by_role("button", name="上传", exact=True).click()
    expect(page.locator("#done")).to_have_text("证明材料已上传。")
    expect(page.locator("#evidence")).to_contain_text("现场照片.png")
    expect(page.locator("#latest-reason")).to_contain_text("请补充培训签到表和现场照片")
    assert fits_width(page)
    screenshot(page, "ticket-sent-back-evidence-phone")
