"""The window evaluator page: bound to its device, offers what the window system announced, and
keeps ratings made while the network is down until it returns."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    DEMO_WINDOW_KEY,
    KIOSK,
    LAPTOP,
    PHONE,
    Served,
    fits_width,
    new_page,
    screenshot,
)

pytestmark = pytest.mark.browser
QUEUE = "haochaping.device.queue"


def set_up_device(page: Any, served: Served) -> None:
    page.goto(f"{served.base_url}/device?idle_after=2")
    page.get_by_label("设备密钥").fill(DEMO_WINDOW_KEY)
    page.get_by_role("button", name="保存并连接").click()
    expect(page.locator("#screen-idle")).to_be_visible()


def test_rating_made_offline_at_the_window_is_stored_once_when_the_network_returns(
    served: Served, browser: Any, project_no: str
) -> None:
    served.register(project_no)
    page = new_page(browser, KIOSK)
    page.goto(f"{served.base_url}/device?idle_after=2")
    expect(page.get_by_role("heading", name="评价设备初始化")).to_be_visible()
    screenshot(page, "device-setup-kiosk")
    set_up_device(page, served)
    expect(page.locator("#k-window")).to_contain_text("A01")
    screenshot(page, "device-idle-kiosk")

    served.announce_at_window_a01(project_no)
    expect(page.locator("#k-item")).to_have_text("个体工商户设立登记")
    screenshot(page, "device-rate-kiosk")
    page.context.set_offline(True)
    page.get_by_role("button", name="不满意", exact=True).click()
    page.get_by_role("button", name="服务态度差").click()
    screenshot(page, "device-reasons-kiosk")
    page.get_by_role("button", name="提交评价").click()
    expect(page.locator("#thanks-note")).to_contain_text("网络恢复后将自动提交")
    expect(page.locator("body")).to_have_attribute("data-pending", "1")
    screenshot(page, "device-thanks-offline-kiosk")
    queued = page.evaluate(f"localStorage.getItem('{QUEUE}')")
    stored_while_offline = served.ratings(project_no)

    page.context.set_offline(False)
    expect(page.locator("body")).to_have_attribute("data-pending", "0")
    stored_after_reconnect = served.ratings(project_no)
    # As if the page died after the server stored the rating but before it left the queue: the
    # same rating is sent again, with the same idempotency key.
    page.evaluate(
        f"""queued => {{
            localStorage.setItem('{QUEUE}', queued);
            window.dispatchEvent(new Event('online'));
        }}""",
        queued,
    )
    # A function, not a string: the page's CSP (no 'unsafe-eval') forbids evaluating a string.
    page.wait_for_function(
        f"() => JSON.parse(localStorage.getItem('{QUEUE}') || '[]').length === 0"
    )
    expect(page.locator("#screen-idle")).to_be_visible()

    assert stored_while_offline == []
    assert stored_after_reconnect == [(1, 2, "101", "window", 1)]
    assert served.ratings(project_no) == stored_after_reconnect


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("laptop", LAPTOP)])
def test_device_page_fits_small_and_laptop_screens(
    served: Served, browser: Any, project_no: str, size: str, viewport: dict[str, int]
) -> None:
    served.register(project_no)
    page = new_page(browser, viewport, phone=size == "phone")
    set_up_device(page, served)

    served.announce_at_window_a01(project_no)
    expect(page.locator("#k-item")).to_have_text("个体工商户设立登记")
    screenshot(page, f"device-rate-{size}")
    page.get_by_role("button", name="非常满意", exact=True).click()
    expect(page.locator("#thanks-note")).to_contain_text("您的评价已提交")
    screenshot(page, f"device-thanks-{size}")

    assert fits_width(page)
    assert served.ratings(project_no) == [(1, 5, "", "window", 1)]
