"""A citizen rates a finished transaction from a phone, in Debian's chromium."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import expect

from evaluation_service.evaluations.tokens import RatingTokens
from tests.browser.conftest import (
    LAPTOP,
    PHONE,
    TOKEN_SECRET,
    Served,
    fits_width,
    new_page,
    screenshot,
)

pytestmark = pytest.mark.browser
LONG_AGO = datetime(2026, 1, 5, tzinfo=UTC)


def test_citizen_rates_a_transaction_from_a_phone_end_to_end(
    served: Served, browser: Any, project_no: str
) -> None:
    record = served.register(project_no)
    page = new_page(browser, PHONE, phone=True)

    page.goto(record["rating_url"])
    expect(page.get_by_role("heading", name="个体工商户设立登记")).to_be_visible()
    screenshot(page, "citizen-rate-phone")
    page.get_by_text("不满意", exact=True).click()
    page.get_by_role("button", name="提交评价").click()
    expect(page.locator("#form-error")).to_contain_text("请至少选择一项原因或填写意见")
    screenshot(page, "citizen-rate-reason-needed-phone")
    reasons = page.locator('.tags[data-level="2"]')
    reasons.get_by_text("未一次性告知导致多次跑腿").click()
    page.get_by_label("意见和建议").fill("材料清单没有一次说清楚")
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_role("heading", name="感谢您的评价！")).to_be_visible()
    screenshot(page, "citizen-thanks-phone")
    first = served.ratings(project_no)

    page.goto(record["rating_url"])
    expect(page.get_by_role("heading", name="您已评价过这次服务")).to_be_visible()
    screenshot(page, "citizen-already-rated-phone")
    page.get_by_role("link", name="追加评价").click()
    page.get_by_text("满意", exact=True).click()
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_role("heading", name="感谢您的评价！")).to_be_visible()

    assert first == [(1, 2, "102", "mobile", 0)]
    assert served.ratings(project_no) == [(1, 2, "102", "mobile", 0), (2, 4, "", "mobile", 0)]
    assert fits_width(page)


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", LAPTOP)])
def test_rating_page_and_its_notices_read_well_on_phone_and_desktop(
    served: Served, browser: Any, project_no: str, size: str, viewport: dict[str, int]
) -> None:
    record = served.register(project_no)
    expired = RatingTokens(TOKEN_SECRET).issue(served.record_id(project_no), LONG_AGO, True)
    page = new_page(browser, viewport, phone=size == "phone")
    seen = {}

    page.goto(record["rating_url"])
    page.get_by_text("非常不满意", exact=True).click()
    seen["rate"] = fits_width(page)
    screenshot(page, f"citizen-rate-bad-{size}")
    page.goto(f"{served.base_url}/r/{record['rating_token'][:-3]}abc")
    expect(page.get_by_role("heading", name="评价链接无法打开")).to_be_visible()
    seen["broken"] = fits_width(page)
    screenshot(page, f"citizen-broken-link-{size}")
    page.goto(f"{served.base_url}/r/{expired}")
    expect(page.get_by_role("heading", name="评价期限已过")).to_be_visible()
    seen["expired"] = fits_width(page)
    screenshot(page, f"citizen-expired-{size}")

    assert seen == {"rate": True, "broken": True, "expired": True}


def test_a_rating_from_the_phone_arrives_at_the_province_as_make_run_shows_it(
    served: Served, browser: Any, project_no: str
) -> None:
    """The newcomer's check: rate on the phone page, then see the rating on the simulator's page
    (what the province received, decrypted by the simulator with the province's key)."""
    record = served.register(project_no)
    page = new_page(browser, PHONE, phone=True)
    page.goto(record["rating_url"])
    page.get_by_text("非常满意", exact=True).click()
    page.get_by_role("button", name="提交评价").click()
    expect(page.get_by_role("heading", name="感谢您的评价！")).to_be_visible()

    province = new_page(browser, LAPTOP)
    province.goto(f"{served.province_url}/sim/")
    # The page refreshes itself every 2 s; the rating is there once forwarded.
    expect(province.get_by_text(f"37{project_no}").first).to_be_visible(timeout=20_000)
    screenshot(province, "province-simulator-received")
