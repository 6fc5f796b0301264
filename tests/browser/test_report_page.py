"""A generated monthly report opened in Debian's headless chromium, offline: every chart renders."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from playwright.sync_api import expect

from evaluation_service.kernel.workdays import WorkCalendar
from reports import frames
from reports.model import ReportMonth, ReportOptions
from reports.queries import RawReport
from reports.render import self_contained
from reports.service import build_page
from tests.browser.conftest import (
    LAPTOP,
    TOKEN_SECRET,
    Served,
    fits_width,
    new_page,
    screenshot,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

CHARTS = (
    "chart-level-mix",
    "chart-trend",
    "chart-department-bad",
    "chart-tags",
    "chart-overdue",
    "chart-forwarding",
)


def small_month() -> RawReport:
    """A month as the queries would answer it: two departments, a few ratings and tickets."""
    month = ReportMonth(2026, 10)
    start, end = month.bounds(UTC)
    rating = {
        "department": 1,
        "item": 11,
        "channel": "window",
        "level": 5,
        "ratings": 30,
        "real_name": 0,
    }
    return RawReport(
        month=month,
        start=start,
        end=end,
        as_of=datetime(2026, 11, 1, 1, 0, tzinfo=UTC),
        departments=[
            {"id": 1, "code": "D1", "name": "县行政审批服务局"},
            {"id": 2, "code": "D2", "name": "县公安局"},
        ],
        items=[
            {"id": 11, "code": "I11", "name": "个体工商户设立登记", "department": 1},
            {"id": 21, "code": "I21", "name": "户口迁移", "department": 2},
        ],
        ratings=[
            rating,
            {**rating, "channel": "mobile", "level": 4, "ratings": 12},
            {
                **rating,
                "department": 2,
                "item": 21,
                "channel": "mobile",
                "level": 1,
                "ratings": 3,
                "real_name": 2,
            },
            {
                **rating,
                "department": 2,
                "item": 21,
                "channel": "kiosk",
                "level": 2,
                "ratings": 2,
                "real_name": 1,
            },
        ],
        bad_tags=[{"tags": "101", "ratings": 3}, {"tags": "103,101", "ratings": 2}],
        indicators=[
            {"code": "101", "text": "服务态度差"},
            {"code": "103", "text": "收取办事指南以外材料"},
        ],
        records=[
            {
                "department": 1,
                "item": 11,
                "records": 50,
                "rated_records": 42,
                "transactions": 40,
                "rated_transactions": 35,
            }
        ],
        tickets=[
            {
                "department": 2,
                "item": 21,
                "channel": "mobile",
                "tickets": 3,
                "invalid": 1,
                "closed": 1,
                "feedback_done": 2,
                "overdue": 1,
                "reopened": 1,
            }
        ],
        closed_tickets=[
            {
                "department": 2,
                "item": 21,
                "channel": "mobile",
                "window_no": "W02",
                "staff_no": "S003",
                "opened_at": datetime(2026, 10, 12, 2, tzinfo=UTC),
                "closed_at": datetime(2026, 10, 16, 2, tzinfo=UTC),
                "extension_used": 0,
            }
        ],
        forwarding=[
            {
                "kind": "evaluation",
                "state": "delivered",
                "messages": 47,
                "lag_total": 94.0,
                "lag_max": 9.0,
                "oldest_created_at": None,
                "within_60": 47,
            }
        ],
        trend_months=month.trend(),
        trend_ratings=[
            {"month_index": 9, "level": 5, "ratings": 20},
            {"month_index": 10, "level": 2, "ratings": 4},
        ],
    )


def write_page(directory: Path) -> Path:
    shaped = frames.build(small_month(), ReportOptions(), WorkCalendar())
    _, html = build_page(shaped, 1, [])
    path = directory / "report-2026-10.html"  # the download: the archived page, scripts inline
    path.write_text(self_contained(html), encoding="utf-8")
    return path


def test_every_chart_of_a_generated_report_renders_offline(browser: Any, tmp_path: Path) -> None:
    path = write_page(tmp_path)
    page = new_page(browser, LAPTOP)
    fetched: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def offline(route: Any) -> None:
        if not route.request.url.startswith("file://"):
            fetched.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", offline)
    page.goto(path.as_uri())

    for key in CHARTS:
        chart = page.locator(f"#{key}")
        expect(chart.locator("svg.main-svg").first).to_be_visible()
        traces: int = page.evaluate(f"document.getElementById('{key}').data.length")
        assert traces > 0, key
    assert page.locator("#chart-level-mix .bars path").count() > 0  # bars were drawn
    assert page.locator("#chart-trend .scatterlayer .trace").count() == 3
    assert fetched == []
    assert errors == []
    screenshot(page, "report-2026-10")


def test_the_print_layout_hides_navigation_and_prints_to_pdf(browser: Any, tmp_path: Path) -> None:
    path = write_page(tmp_path)
    page = new_page(browser, LAPTOP)
    page.goto(path.as_uri())
    expect(page.locator("nav")).to_be_visible()

    page.emulate_media(media="print")

    expect(page.locator("nav")).to_be_hidden()
    pdf: bytes = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000


# --- the reports area of the running site ------------------------------------------------------

PASSWORD = "report-browser-password"


def create_user(served: Served, role: str) -> str:
    """An account made the way an operator makes one: `create-user --password-stdin`."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "evaluation_service", "create-user", username]
    command += ["--role", role, "--name", f"报告{role}", "--password-stdin"]
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


def rate(served: Served, level: int) -> None:
    record = served.register(f"PYR{uuid.uuid4().hex[:12].upper()}")
    body: dict[str, Any] = {
        "channel": "mobile",
        "level": level,
        "idempotency_key": uuid.uuid4().hex,
        "rating_token": record["rating_token"],
    }
    if level <= 2:
        body.update(tags=["103"], comment="材料要求不一致")
    answer = httpx.post(f"{served.base_url}/api/v1/evaluations", json=body)
    assert answer.status_code == 201, answer.text


def log_in(page: Any, served: Served, username: str) -> None:
    page.goto(f"{served.base_url}/reports")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


IPHONE = {"width": 390, "height": 844}


def test_a_supervisor_generates_and_downloads_excel_and_a_deputy_reads_the_ranking_on_a_phone(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    for level in (5, 5, 5, 4, 4, 5, 5, 3, 5, 4, 2, 1):
        rate(served, level)
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    supervisor, deputy = create_user(served, "supervisor"), create_user(served, "deputy")

    # The supervisor generates the month with the page's button; the page refreshes itself
    # until the job (kept in the database, so any web process can tell) is done.
    desk = new_page(browser, LAPTOP)
    log_in(desk, served, supervisor)
    desk.locator('#generate input[name="month"]').fill(month)
    desk.get_by_role("button", name="生成报告").click()
    expect(desk.locator('p.job[data-state="done"]').first).to_be_visible(timeout=60_000)
    with desk.expect_download() as waiting:
        desk.locator(f'a[href^="/reports/{month}/tables.xlsx"]').first.click()
    saved = tmp_path / "report.xlsx"
    waiting.value.save_as(saved)
    book = openpyxl.load_workbook(saved, read_only=True)
    assert book.sheetnames[0] == "部门排名"
    header = next(book["部门排名"].iter_rows(values_only=True))
    assert header[:3] == ("排名", "编码", "名称")

    # The month opens inside the staff frame; the evidence page is the supervisor's.
    desk.locator(f'#archive a[href^="/reports/{month}?"]').first.click()
    expect(desk.locator(".staff-nav")).to_be_visible()
    expect(desk.locator("#integrity")).to_contain_text("评价真实性核查")
    desk.get_by_role("link", name="核查明细（仅监督员）").click()
    expect(desk.locator("#themes")).to_contain_text("差评主题与留言示例")
    screenshot(desk, "report-integrity-supervisor")

    # The filtered ticket list of the console downloads as Excel and opens.
    desk.goto(f"{served.base_url}/console/tickets?state=open")
    with desk.expect_download() as waiting:
        desk.locator("#export-xlsx").click()
    tickets = tmp_path / "tickets.xlsx"
    waiting.value.save_as(tickets)
    rows = list(openpyxl.load_workbook(tickets, read_only=True).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("工单号", "状态")
    assert len(rows) - 1 == int(desk.locator("#result-total").inner_text())

    phone = new_page(browser, IPHONE, phone=True)
    log_in(phone, served, deputy)
    expect(phone.get_by_role("heading", name="月度报告", exact=True)).to_be_visible()
    assert phone.locator('a[href="/notifications"]').count() == 0  # nothing that leads to a 403
    assert phone.locator("#generate").count() == 0
    phone.locator(f'#archive a[href^="/reports/{month}?"]').first.click()
    expect(phone.locator(".staff-nav")).to_be_visible()  # the site's frame, with logout
    ranking = phone.locator("#ranking-department + p + .scroll table")
    expect(ranking).to_be_visible()
    expect(phone.locator("#summary")).to_contain_text("差评率")
    expect(phone.locator("#chart-department-bad svg.main-svg").first).to_be_visible()
    assert phone.locator('a[href*="/integrity"]').count() == 0
    assert fits_width(phone)  # the wide ranking scrolls inside its box, not the page
    screenshot(phone, "report-phone-deputy")
