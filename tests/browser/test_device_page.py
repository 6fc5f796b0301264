"""The window evaluator page: bound to its device, offers what the window system announced, and
keeps ratings made while the network is down until it returns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from playwright.sync_api import expect

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DEMO_BEARER,
    DEMO_KIOSK_KEY,
    DEMO_WINDOW_KEY,
    DEVICE_ADMIN_PIN,
    KIOSK,
    LAPTOP,
    PHONE,
    TABLET,
    Served,
    fits_width,
    new_page,
    screenshot,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
QUEUE = "haochaping.device.queue"
PROMISE = "一次告知、限时办结、首问负责。\n办理不满意，请拨打监督电话。"
# Catches what the page asks the speech synthesiser to say (headless chromium has no voices).
SPEECH_SPY = """
window.__spoken = [];
Object.defineProperty(window, "speechSynthesis", { configurable: true, value: {
  getVoices: function () { return []; },
  cancel: function () {},
  speak: function (u) { window.__spoken.push(u.text + "|" + u.lang); },
} });
"""


def withdraw_at_window_a01(served: Served) -> None:
    answer = httpx.delete(
        f"{served.base_url}/api/v1/devices/current",
        params={"device_id": "PY-EVAL-A01"},
        headers={"Authorization": f"Bearer {DEMO_BEARER}"},
    )
    assert answer.status_code == 200, answer.text


def set_up_device(
    page: Any, served: Served, key: str = DEMO_WINDOW_KEY, query: str = "idle_after=2"
) -> None:
    if key == DEMO_WINDOW_KEY:  # what an earlier test left announced at A01 is not this test's
        withdraw_at_window_a01(served)
    page.goto(f"{served.base_url}/device?{query}")
    page.get_by_label("设备密钥").fill(key)
    page.get_by_role("button", name="保存并连接").click()
    expect(page.locator("#screen-idle")).to_be_visible()


@pytest.fixture
def window_a01_dressed(served: Served) -> Iterator[None]:
    """Window A01 with its service promise, its staff member PY1001 with four stars, and voice
    prompts on at its evaluator; put back afterwards."""
    served.execute("UPDATE window SET service_promise = ? WHERE window_no = 'A01'", PROMISE)
    served.execute("UPDATE staff SET star_level = 4 WHERE staff_no = 'PY1001'")
    served.execute("UPDATE device SET voice_prompts = 1 WHERE device_id = 'PY-EVAL-A01'")
    yield
    served.execute("UPDATE window SET service_promise = '' WHERE window_no = 'A01'")
    served.execute("UPDATE staff SET star_level = 0 WHERE staff_no = 'PY1001'")
    served.execute("UPDATE device SET voice_prompts = 0 WHERE device_id = 'PY-EVAL-A01'")


def wait_until_sent(page: Any) -> None:
    """The rating left the rating screen and the server has answered for it (the queue is empty)."""
    page.wait_for_function(
        f"""() => document.body.dataset.state !== 'reasons'
            && JSON.parse(localStorage.getItem('{QUEUE}') || '[]').length === 0
            && JSON.parse(localStorage.getItem('haochaping.device.rated') || '[]').length > 0"""
    )


def controls_too_small(page: Any) -> list[str]:
    """Visible buttons, inputs and links smaller than 48 px either way (touch targets)."""
    small: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('button, input, a, [role=button]'))
            .filter(el => el.offsetParent !== null)
            .map(el => [el, el.getBoundingClientRect()])
            .filter(([el, r]) => r.width < 48 || r.height < 48)
            .map(([el, r]) => (el.id || el.textContent.trim()) + ' ' + r.width + 'x' + r.height)"""
    )
    return small


def fits_screen(page: Any) -> bool:
    """No scrolling either way: the whole screen is one view."""
    size: dict[str, int] = page.evaluate(
        "({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})"
    )
    return size["w"] <= page.viewport_size["width"] and size["h"] <= page.viewport_size["height"]


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


def test_announcement_during_a_half_finished_rating_waits_until_it_is_submitted(
    served: Served, browser: Any, project_no: str
) -> None:
    following = f"{project_no}N"
    served.register(project_no)
    served.register(following)
    page = new_page(browser, TABLET)
    set_up_device(page, served)
    served.announce_at_window_a01(project_no)
    expect(page.locator("#k-meta")).to_contain_text(project_no)
    page.get_by_role("button", name="不满意", exact=True).click()
    expect(page.locator("#step-reasons")).to_be_visible()
    # The grey button says why it is grey, and tapping it stores nothing.
    submit = page.get_by_role("button", name="提交评价")
    expect(submit).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#reason-hint")).to_contain_text("请先选择至少一项原因")
    submit.click(force=True)  # Playwright waits for an aria-disabled button; a thumb does not
    expect(page.locator("#step-reasons")).to_be_visible()
    page.get_by_role("button", name="服务态度差").click()

    served.announce_at_window_a01(following)
    expect(page.locator("body")).to_have_attribute("data-next", f"{following}#1", timeout=15_000)
    expect(page.locator("#k-next")).to_be_visible()
    screenshot(page, "device-reasons-next-waiting-tablet")
    expect(page.locator("#k-meta")).to_contain_text(project_no)
    expect(page.get_by_role("button", name="服务态度差")).to_have_attribute("aria-pressed", "true")
    submit.click()
    wait_until_sent(page)
    # After the thank-you screen (2 s here), the waiting announcement is offered.
    expect(page.locator("#k-meta")).to_contain_text(following, timeout=15_000)
    expect(page.locator("body")).to_have_attribute("data-state", "rating")

    assert served.ratings(project_no) == [(1, 2, "101", "window", 1)]
    assert served.ratings(following) == []


def test_rating_screen_times_out_to_idle_stores_nothing_and_offers_it_only_when_re_announced(
    served: Served, browser: Any, project_no: str
) -> None:
    served.register(project_no)
    page = new_page(browser, TABLET)
    set_up_device(page, served, query="idle_after=2&timeout=2")
    served.announce_at_window_a01(project_no)
    expect(page.locator("#k-meta")).to_contain_text(project_no)
    page.get_by_role("button", name="非常不满意", exact=True).click()
    expect(page.locator("#step-reasons")).to_be_visible()

    # Nobody touches the screen: back to idle after the 2 s timeout (waited for, with slack).
    expect(page.locator("#screen-idle")).to_be_visible(timeout=15_000)
    # The record is still announced on the server; the next poll must not bring it back.
    with page.expect_response(lambda r: "/api/v1/devices/current" in r.url):
        pass
    with page.expect_response(lambda r: "/api/v1/devices/current" in r.url):
        pass
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    assert served.ratings(project_no) == []

    served.announce_at_window_a01(project_no)
    expect(page.locator("body")).to_have_attribute("data-state", "rating")
    expect(page.locator("#k-meta")).to_contain_text(project_no)


def test_withdrawal_of_the_record_being_rated_is_shown(
    served: Served, browser: Any, project_no: str
) -> None:
    served.register(project_no)
    page = new_page(browser, TABLET)
    set_up_device(page, served, query="idle_after=60")  # the notice stays until 知道了
    served.announce_at_window_a01(project_no)
    page.get_by_role("button", name="不满意", exact=True).click()
    withdraw_at_window_a01(served)
    expect(page.get_by_role("heading", name="该办件已撤回")).to_be_visible(timeout=15_000)
    screenshot(page, "device-withdrawn-tablet")
    page.get_by_role("button", name="知道了").click()
    expect(page.locator("#screen-idle")).to_be_visible()
    assert served.ratings(project_no) == []


@pytest.mark.usefixtures("window_a01_dressed")
@pytest.mark.parametrize(("size", "viewport"), [("tablet", TABLET), ("kiosk", KIOSK)])
def test_evaluator_shows_window_promise_staff_and_speaks_at_tablet_and_kiosk_size(
    served: Served, browser: Any, project_no: str, size: str, viewport: dict[str, int]
) -> None:
    served.register(project_no)
    page = new_page(browser, viewport)
    page.add_init_script(SPEECH_SPY)
    set_up_device(page, served)
    expect(page.locator("#promise-text")).to_contain_text("一次告知、限时办结")
    expect(page.locator("#complaint-phone")).to_have_text("12345")
    screenshot(page, f"device-idle-{size}")
    assert fits_screen(page)
    assert controls_too_small(page) == []

    served.announce_at_window_a01(project_no)
    expect(page.locator("#staff-name")).to_have_text("张丽娜")
    expect(page.locator("#staff-no")).to_have_text("PY1001")
    expect(page.locator("#staff-stars")).to_have_text("★★★★☆")
    expect(page.locator("#staff-initial")).to_have_text("张")
    page.wait_for_function("() => window.__spoken.includes('请您对我的服务做出评价|zh-CN')")
    screenshot(page, f"device-rate-staff-{size}")
    assert fits_screen(page)
    assert controls_too_small(page) == []

    page.get_by_role("button", name="非常不满意", exact=True).click()
    expect(page.locator("#step-reasons")).to_be_visible()
    screenshot(page, f"device-reasons-{size}")
    assert fits_screen(page)
    assert controls_too_small(page) == []


def test_setup_opens_only_after_a_long_press_and_the_admin_pin(
    served: Served, browser: Any
) -> None:
    page = new_page(browser, TABLET)
    set_up_device(page, served)
    assert page.get_by_role("button", name="设备设置").count() == 0
    seal = page.locator("#admin-hold").bounding_box()
    page.mouse.move(seal["x"] + 10, seal["y"] + 10)
    page.mouse.down()
    expect(page.get_by_role("heading", name="设备管理")).to_be_visible()
    page.mouse.up()
    page.get_by_label("管理员 PIN").fill("000000")
    page.get_by_role("button", name="确定").click()
    expect(page.locator("#pin-error")).to_contain_text("管理员 PIN 不正确")
    page.get_by_label("管理员 PIN").fill(DEVICE_ADMIN_PIN)
    page.get_by_role("button", name="确定").click()
    expect(page.get_by_role("heading", name="评价设备初始化")).to_be_visible()
    screenshot(page, "device-setup-after-pin-tablet")
    page.get_by_role("button", name="取消").click()
    expect(page.locator("#screen-idle")).to_be_visible()
    assert page.evaluate("localStorage.getItem('haochaping.device.key')") == DEMO_WINDOW_KEY


@pytest.mark.parametrize(("size", "viewport"), [("tablet", TABLET), ("kiosk", KIOSK)])
def test_kiosk_starts_a_rating_from_project_no_and_phone_tail(
    served: Served, browser: Any, project_no: str, size: str, viewport: dict[str, int]
) -> None:
    served.register(project_no)  # the applicant's phone is 13800001234
    page = new_page(browser, viewport)
    set_up_device(page, served, key=DEMO_KIOSK_KEY)
    expect(page.get_by_role("button", name="输入办件编号评价")).to_be_visible()
    screenshot(page, f"kiosk-idle-{size}")
    assert fits_screen(page)
    assert controls_too_small(page) == []

    page.get_by_role("button", name="输入办件编号评价").click()
    page.get_by_label("办件编号").fill(project_no)
    page.get_by_label("手机号后四位").fill("4321")
    page.get_by_role("button", name="开始评价").click()
    wrong_check = page.locator("#kiosk-error")
    expect(wrong_check).to_contain_text("办件编号或手机号后四位不正确")
    screenshot(page, f"kiosk-entry-{size}")
    assert fits_screen(page)
    assert controls_too_small(page) == []
    unknown_text = wrong_check.text_content()
    page.get_by_label("办件编号").fill(f"{project_no}X")
    page.get_by_label("手机号后四位").fill("1234")
    page.get_by_role("button", name="开始评价").click()
    # An unknown 办件编号 reads exactly like a wrong check.
    expect(wrong_check).to_have_text(unknown_text)
    page.get_by_label("办件编号").fill(project_no)
    # The phone tail typed on the screen's own keyboard, as on a kiosk without one.
    page.get_by_label("手机号后四位").fill("")
    page.get_by_label("手机号后四位").click()
    for digit in "12345":  # the fifth does not fit
        page.locator(f'#keypad [data-key="{digit}"]').click()
    expect(page.get_by_label("手机号后四位")).to_have_value("1234")
    page.get_by_role("button", name="开始评价").click()

    expect(page.locator("#k-meta")).to_contain_text(project_no)
    page.get_by_role("button", name="满意", exact=True).click()
    wait_until_sent(page)
    assert served.ratings(project_no) == [(1, 4, "", "kiosk", 1)]


def receipt_camera(path: Path, text: str) -> Path:
    """A fake camera (a Y4M clip, which chromium loops) filming a receipt's QR code."""
    width, height, scale = 640, 480, 6
    rows = list(segno.make(text, error="m").matrix_iter(scale=scale, border=4))
    top, left = (height - len(rows)) // 2, (width - len(rows[0])) // 2
    luma = bytearray([235]) * (width * height)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                luma[(top + y) * width + left + x] = 16
    chroma = bytes([128]) * (width * height // 4)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * 2)
    return path


def test_kiosk_starts_a_rating_by_scanning_the_receipt_qr(
    served: Served, browser: Any, project_no: str, tmp_path: Path
) -> None:
    token = served.register(project_no)["rating_token"]
    clip = receipt_camera(tmp_path / "receipt.y4m", f"{served.base_url}/r/{token}?src=qr")
    # A browser of its own: the fake camera is a launch option.
    camera_browser = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={clip}",
        ],
    )
    try:
        page = new_page(camera_browser, TABLET)
        page.context.grant_permissions(["camera"], origin=served.base_url)
        set_up_device(page, served, key=DEMO_KIOSK_KEY)
        page.get_by_role("button", name="扫描回执二维码评价").click()
        expect(page.locator("#k-meta")).to_contain_text(project_no, timeout=20_000)
        page.get_by_role("button", name="非常满意", exact=True).click()
        wait_until_sent(page)
    finally:
        camera_browser.close()
    assert served.ratings(project_no) == [(1, 5, "", "kiosk", 1)]


def documented_transitions() -> set[tuple[str, str, str]]:
    """The table in docs/devices.md: "a, b" and "x / y" list states and events; "any but setup"
    is every state except setup."""
    text = (ROOT / "docs" / "devices.md").read_text()
    table = text.split("## The screen is a state machine", 1)[1].split("\n\n", 3)[2]
    states = {"setup", "pin", "idle", "kiosk", "rating", "reasons", "withdrawn", "thanks"}
    found: set[tuple[str, str, str]] = set()
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        sources = states - {"setup"} if cells[0] == "any but setup" else cells[0].split(", ")
        for source in sources:
            for event in cells[1].split(" / "):
                found.add((source, event, cells[2]))
    return found


def test_the_page_state_machine_is_the_documented_one(served: Served, browser: Any) -> None:
    page = new_page(browser, TABLET)
    page.goto(f"{served.base_url}/device")
    table: dict[str, dict[str, str]] = page.evaluate("window.deviceStateMachine.transitions")

    implemented = {
        (source, event, target)
        for source, events in table.items()
        if source != "loading"  # before the first answer: not a screen anyone acts on
        for event, target in events.items()
    }
    assert implemented == documented_transitions()
