"""An admin adds a staff member in Piccolo Admin and uploads their photo, and the window evaluator
shows them, in chromium."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect

from evaluation_service.evaluations.tokens import hash_key
from tests.browser.conftest import LAPTOP, TABLET, Served, new_page, screenshot
from tests.browser.test_desk_console import PASSWORD, create_user
from tests.browser.test_device_page import set_up_device

pytestmark = pytest.mark.browser


def log_in(page: Any, served: Served, username: str, target: str) -> None:
    page.goto(f"{served.base_url}/login?next={target}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def photo_file(path: Any) -> Any:
    image = Image.new("RGB", (480, 640), (220, 230, 240))
    for x in range(160, 320):
        for y in range(120, 320):
            image.putpixel((x, y), (40, 90, 160))
    out = io.BytesIO()
    image.save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_admin_adds_a_staff_member_with_a_photo(
    browser: Any, served: Served, tmp_path: Any, project_no: str
) -> None:
    admin = create_user(served, "admin", "目录管理员")
    page = new_page(browser, LAPTOP)
    log_in(page, served, admin, "/admin/")
    page.wait_for_url(re.compile(r"/admin/"))
    staff_no = f"PY{uuid.uuid4().hex[:6].upper()}"

    page.goto(f"{served.base_url}/admin/#/staff/add/")
    # A foreign key is a picker listing departments by name (Department.get_readable).
    picker = page.locator(".key_search", has=page.locator("input[name=department]"))
    picker.locator("input[type=text]").click()
    picker.locator(".results_list a", has_text="平阴县行政审批服务局").click()
    expect(picker.locator("input[type=text]")).to_have_value("平阴县行政审批服务局")
    page.locator("input[name=staff_no]").fill(staff_no)
    page.locator("input[name=name]").fill("赵敏")
    page.locator("input[name=star_level]").fill("5")
    screenshot(page, "catalog-admin-staff-form-laptop")
    with page.expect_response(
        lambda r: r.url.endswith("/admin/api/tables/staff/") and r.request.method == "POST"
    ) as saved:
        page.get_by_role("button", name="创建").click()
    assert saved.value.status == 201, saved.value.text()
    screenshot(page, "catalog-admin-staff-saved-laptop")

    # The CSV loader's rule, refusing in the admin too: a staff number with a space.
    page.goto(f"{served.base_url}/admin/#/staff/add/")
    picker = page.locator(".key_search", has=page.locator("input[name=department]"))
    picker.locator("input[type=text]").click()
    picker.locator(".results_list a", has_text="平阴县行政审批服务局").click()
    expect(picker.locator("input[type=text]")).to_have_value("平阴县行政审批服务局")
    page.locator("input[name=staff_no]").fill("PY 01")
    page.locator("input[name=name]").fill("钱七")
    with page.expect_response(
        lambda r: r.url.endswith("/admin/api/tables/staff/") and r.request.method == "POST"
    ) as refused:
        page.get_by_role("button", name="创建").click()
    assert refused.value.status == 422
    expect(page.get_by_text(re.compile("staff_no field - 工号“PY 01”格式不正确"))).to_be_visible()
    screenshot(page, "catalog-admin-staff-refused-laptop")

    page.goto(f"{served.base_url}/catalog-keys")
    row = page.locator("tr", has_text=staff_no)
    row.locator("input[type=file]").set_input_files(str(photo_file(tmp_path / "zhao.jpg")))
    row.get_by_role("button", name="上传照片").click()
    expect(page.get_by_text("照片已保存。")).to_be_visible()
    expect(page.locator("tr", has_text=staff_no).locator("img")).to_be_visible()
    screenshot(page, "catalog-admin-staff-photo-laptop")

    served_photo = httpx.get(f"{served.base_url}/device/staff-photo/{staff_no}")
    assert served_photo.status_code == 200
    assert served_photo.headers["content-type"] == "image/jpeg"

    # The evaluator at window A01 shows the new staff member, photo and all, when a record they
    # served is announced there.
    served.register(project_no)
    served.execute(
        "UPDATE service_record SET staff_no = ? WHERE service_transaction ="
        " (SELECT id FROM service_transaction WHERE project_no = ?)",
        staff_no,
        project_no,
    )
    evaluator = new_page(browser, TABLET)
    set_up_device(evaluator, served)
    served.announce_at_window_a01(project_no)
    expect(evaluator.locator("#staff-name")).to_have_text("赵敏")
    photo = evaluator.locator("#staff-photo")
    expect(photo).to_be_visible()
    assert f"/device/staff-photo/{staff_no}" in (photo.get_attribute("src") or "")
    evaluator.wait_for_function("() => document.getElementById('staff-photo').naturalWidth > 0")
    screenshot(evaluator, "device-rate-staff-photo-tablet")


def test_a_device_key_revoked_by_the_admin_stops_the_evaluator_at_once(
    browser: Any, served: Served
) -> None:
    key = f"revoke-me-{uuid.uuid4().hex}"
    device_id = f"PY-EVAL-RV{uuid.uuid4().hex[:6].upper()}"
    served.execute(
        "INSERT INTO device (device_id, kind, name, window, key_hash, active, voice_prompts)"
        " VALUES (?, 'window', '待停用的评价器', (SELECT id FROM window WHERE window_no = 'A01'),"
        " ?, 1, 0)",
        device_id,
        hash_key(key),
    )
    evaluator = new_page(browser, TABLET)
    set_up_device(evaluator, served, key=key)

    admin = new_page(browser, LAPTOP)
    log_in(admin, served, create_user(served, "admin", "目录管理员"), "/catalog-keys")
    admin.wait_for_url(re.compile(r"/catalog-keys"))
    admin.locator("tr", has_text=device_id).get_by_role("button", name="停用").click()
    expect(admin.get_by_text("已停用，旧密钥已立即失效。")).to_be_visible()

    # The very next request with the key is refused, and the evaluator's next poll says so.
    rated = httpx.post(
        f"{served.base_url}/api/v1/evaluations",
        json={
            "channel": "window",
            "level": 5,
            "idempotency_key": f"rv-{uuid.uuid4().hex}",
            "project_no": "PY-NONE",
            "service_number": 1,
        },
        headers={"X-Device-Key": key},
    )
    assert rated.status_code == 401
    expect(evaluator.locator("#setup-error")).to_contain_text("设备已停用", timeout=20_000)
    screenshot(evaluator, "device-revoked-tablet")
