"""The fleet view: devices send heartbeats from the evaluator page, and the supervisor's console
alerts a device silent during opening hours and one whose clock is off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LAPTOP, Served, new_page, screenshot
from tests.browser.test_desk_console import create_user, log_in
from tests.browser.test_device_page import set_up_device

pytestmark = pytest.mark.browser


def last_heartbeat(served: Served, device_id: str, seen_ago: timedelta, skew_ms: int) -> None:
    """A device's last heartbeat, as if it had sent it `seen_ago` (the row is one per device)."""
    seen_at = (datetime.now(UTC) - seen_ago).isoformat()
    served.execute(
        "DELETE FROM device_heartbeat WHERE device = (SELECT id FROM device WHERE device_id = ?)",
        device_id,
    )
    served.execute(
        "INSERT INTO device_heartbeat (device, seen_at, device_time, clock_skew_ms, app_version,"
        " queue_length) SELECT id, ?, ?, ?, '2026.11.30', 3 FROM device WHERE device_id = ?",
        seen_at,
        seen_at,
        skew_ms,
        device_id,
    )


def test_console_alerts_a_silent_device_and_a_skewed_clock(served: Served, browser: Any) -> None:
    evaluator = new_page(browser, LAPTOP)
    with evaluator.expect_response(
        lambda r: "/api/v1/devices/heartbeat" in r.url and r.status == 200
    ):
        set_up_device(evaluator, served)
    last_heartbeat(served, "PY-EVAL-B01", timedelta(hours=1), 0)
    last_heartbeat(served, "PY-EVAL-C01", timedelta(seconds=5), 10 * 60 * 1000)

    page = new_page(browser, LAPTOP)
    log_in(page, served, "/console/devices", create_user(served, "supervisor", "监督员丁"))
    expect(page.get_by_role("heading", name="评价设备状态")).to_be_visible()
    silent = page.locator("#device-PY-EVAL-B01")
    expect(silent).to_contain_text("办公时间内失联")
    expect(silent).to_contain_text("待提交评价 3 条")
    expect(page.locator("#device-PY-EVAL-C01")).to_contain_text("设备时钟偏差过大")
    expect(page.locator("#device-PY-EVAL-C01")).to_contain_text("快 600 秒")
    live = page.locator("#device-PY-EVAL-A01")
    expect(live).to_contain_text("版本 2026.11.30")
    expect(live).to_have_attribute("data-alerts", "")
    screenshot(page, "console-devices-laptop")
