"""The device endpoints besides the rating: heartbeats, a kiosk starting a rating itself, the admin
PIN, and what an announcement carries about the staff member and the window (docs/devices.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from evaluation_service.kernel.tables import Department, Device, DeviceHeartbeat, Staff, Window
from tests.integration.test_pages import announce, current, register
from tests.rectification_support import make_staff
from tests.support import KIOSK_KEY, OTHER_WINDOW_KEY, WINDOW_KEY

Client = httpx.AsyncClient


def key(device_key: str) -> dict[str, str]:
    return {"X-Device-Key": device_key}


async def beat(api: Client, device_key: str = WINDOW_KEY, **body: Any) -> httpx.Response:
    sent = {
        "app_version": "2026.11.30",
        "device_time": datetime.now(UTC).isoformat(),
        "queue_length": 0,
        **body,
    }
    return await api.post("/api/v1/devices/heartbeat", json=sent, headers=key(device_key))


async def heartbeat_rows(device_id: str) -> list[dict[str, Any]]:
    return await DeviceHeartbeat.select(
        DeviceHeartbeat.clock_skew_ms, DeviceHeartbeat.queue_length, DeviceHeartbeat.app_version
    ).where(DeviceHeartbeat.device.device_id == device_id)


async def test_heartbeats_keep_one_row_per_device_with_its_clock_skew(api: Client) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()

    first = await beat(api, queue_length=2)
    second = await beat(api, device_time=ahead, queue_length=5, app_version="2026.12.01")

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert 590_000 < second.json()["clock_skew_ms"] < 610_000
    rows = await heartbeat_rows("EV-W01")
    assert len(rows) == 1
    assert rows[0]["queue_length"] == 5
    assert rows[0]["app_version"] == "2026.12.01"
    assert 590_000 < rows[0]["clock_skew_ms"] < 610_000


async def test_heartbeat_refusals_are_chinese_4xx(api: Client) -> None:
    keyless = await api.post(
        "/api/v1/devices/heartbeat",
        json={"app_version": "1", "device_time": datetime.now(UTC).isoformat(), "queue_length": 0},
    )
    wrong_key = await beat(api, "not-a-device-key")
    negative = await beat(api, queue_length=-1)
    odd_version = await beat(api, app_version="<script>")
    no_time = await api.post(
        "/api/v1/devices/heartbeat",
        json={"app_version": "1", "queue_length": 0},
        headers=key(WINDOW_KEY),
    )

    assert (keyless.status_code, keyless.json()["error"]) == (401, "missing_device_key")
    assert "X-Device-Key" in keyless.json()["message"]
    assert wrong_key.status_code == 401
    for refused in (negative, odd_version, no_time):
        assert refused.status_code in {400, 422}, refused.text
        assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.json()["message"])


async def kiosk_start(api: Client, device_key: str = KIOSK_KEY, **body: Any) -> httpx.Response:
    return await api.post("/api/v1/devices/kiosk/start", json=body, headers=key(device_key))


async def test_kiosk_starts_a_rating_from_project_no_and_phone_tail(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)  # applicant phone 13800001234

    wrong_tail = await kiosk_start(api, project_no=project_no, phone_tail="4321")
    unknown = await kiosk_start(api, project_no=f"{project_no}-X", phone_tail="1234")
    started = await kiosk_start(api, project_no=project_no, phone_tail="1234")
    offered = await current(api, KIOSK_KEY)
    rated = await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "kiosk",
            "level": 5,
            "idempotency_key": f"kiosk-{project_no}",
            "project_no": project_no,
            "service_number": 1,
            "client_time": datetime.now(UTC).isoformat(),
        },
        headers=key(KIOSK_KEY),
    )
    again = await kiosk_start(api, project_no=project_no, phone_tail="1234")

    # Whether the 办件编号 exists is not revealed by a failed check: the same answer, word for word.
    assert wrong_tail.status_code == unknown.status_code == 404
    assert wrong_tail.json() == unknown.json()
    assert "办件编号或手机号后四位不正确" in wrong_tail.json()["message"]
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "ready"
    assert started.json()["record"]["project_no"] == project_no
    assert offered["record"]["project_no"] == project_no
    assert rated.status_code == 201, rated.text
    assert (again.status_code, again.json()["error"]) == (409, "already_rated")


async def test_kiosk_starts_a_rating_from_the_receipt_qr_token(
    api: Client, project_no: str
) -> None:
    token = (await register(api, project_no))["rating_token"]

    started = await kiosk_start(api, rating_token=token)
    broken = await kiosk_start(api, rating_token=token[:-2] + "xx")

    assert started.status_code == 200, started.text
    assert started.json()["record"]["project_no"] == project_no
    assert broken.status_code == 401
    assert "评价链接无效" in broken.json()["message"]


async def test_kiosk_start_refusals(api: Client, project_no: str) -> None:
    await register(api, project_no)

    window = await kiosk_start(api, WINDOW_KEY, project_no=project_no, phone_tail="1234")
    nothing = await kiosk_start(api)
    bad_tail = await kiosk_start(api, project_no=project_no, phone_tail="12a4")
    bad_project = await kiosk_start(api, project_no="办件 1", phone_tail="1234")
    keyless = await api.post("/api/v1/devices/kiosk/start", json={"rating_token": "x"})

    assert (window.status_code, window.json()["error"]) == (403, "not_a_kiosk")
    assert (nothing.status_code, nothing.json()["error"]) == (422, "kiosk_needs_check")
    assert (bad_tail.status_code, bad_tail.json()["error"]) == (422, "bad_phone_tail")
    assert (bad_project.status_code, bad_project.json()["error"]) == (422, "bad_project_no")
    assert keyless.status_code == 401


async def test_admin_pin_is_refused_while_no_pin_is_configured(api: Client) -> None:
    answer = await api.post(
        "/api/v1/devices/admin-pin", json={"pin": "1234"}, headers=key(WINDOW_KEY)
    )
    keyless = await api.post("/api/v1/devices/admin-pin", json={"pin": "1234"})

    assert (answer.status_code, answer.json()["error"]) == (403, "admin_pin_not_set")
    assert "PIN" in answer.json()["message"]
    assert keyless.status_code == 401


async def test_announcement_carries_staff_and_window_fields(api: Client, project_no: str) -> None:
    department = (await Department.select(Department.id).first())["id"]
    if not await Staff.exists().where(Staff.staff_no == "S001"):
        await Staff.insert(
            Staff(
                staff_no="S001",
                name="李明",
                department=department,
                star_level=5,
                photo_sha256="ab" * 32,
            )
        )
    await Staff.update({Staff.phone: "13600000009"}).where(Staff.staff_no == "S001")
    await Window.update({Window.service_promise: "首问负责，一次告知"}).where(
        Window.window_no == "W01"
    )
    await Device.update({Device.voice_prompts: True}).where(Device.device_id == "EV-W01")
    await register(api, project_no)

    answer = await announce(api, project_no)
    await Device.update({Device.voice_prompts: False}).where(Device.device_id == "EV-W01")
    await Staff.update({Staff.phone: ""}).where(Staff.staff_no == "S001")

    body = answer.json()
    assert answer.status_code == 200, answer.text
    assert body["staff"]["name"] == "李明"
    assert body["staff"]["staff_no"] == "S001"
    assert body["staff"]["star_level"] == 5
    # The stable photo address of the admin side, its version the photo hash's prefix.
    assert body["staff"]["photo_url"] == "/device/staff-photo/S001?v=" + "ab" * 6
    # The staff member's own phone is only for the reports' integrity flag, never for a device.
    assert set(body["staff"]) == {"staff_no", "name", "star_level", "photo_url"}
    assert "13600000009" not in answer.text
    assert body["service_promise"] == "首问负责，一次告知"
    assert body["complaint_phone"] == "12345"
    assert body["voice_prompts"] is True
    assert body["announced_at"]


async def test_heartbeats_are_counted_for_prometheus(api: Client) -> None:
    def counted(text: str) -> float:
        line = 'haochaping_device_heartbeats_total{kind="kiosk"}'
        values = [float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)]
        return values[0] if values else 0.0

    before = counted((await api.get("/metrics")).text)
    answer = await beat(api, KIOSK_KEY)
    after = (await api.get("/metrics")).text

    assert answer.status_code == 200, answer.text
    assert counted(after) == before + 1
    assert "haochaping_device_clock_skew_seconds_bucket" in after
    assert "\nhaochaping_devices_alerted " in after


async def test_fleet_console_is_for_supervisors_and_admins(api: Client) -> None:
    staff = await make_staff(api)
    await beat(api, OTHER_WINDOW_KEY, device_time="2026-01-01T00:00:00+00:00")

    admin = await api.get("/console/devices", headers=staff.admin)
    supervisor = await api.get("/console/devices", headers=staff.supervisor)
    liaison = await api.get("/console/devices", headers=staff.liaison_a)
    deputy = await api.get("/console/devices", headers=staff.deputy)
    anonymous = await api.get("/console/devices", headers={"Accept": "text/html"})

    assert admin.status_code == supervisor.status_code == 200
    assert "评价设备状态" in admin.text
    assert 'id="device-EV-W02" data-alerts="设备时钟偏差过大"' in admin.text
    assert liaison.status_code == 403
    assert deputy.status_code == 403
    assert "只能查看月度统计报告" in deputy.text
    assert anonymous.status_code in {302, 303}
