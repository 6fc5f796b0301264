"""The citizen rating page, its QR code and the device session, over HTTP on both databases."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from evaluation_service.evaluations.tokens import RatingTokens, hash_key
from evaluation_service.kernel.tables import Device, Evaluation, ServiceRecord
from tests.support import (
    KIOSK_KEY,
    OTHER_CLIENT_TOKEN,
    OTHER_WINDOW_KEY,
    WINDOW_KEY,
    auth,
    transaction_body,
)

Client = httpx.AsyncClient
TEST_SECRET = "test-secret-not-for-production"  # what tests/conftest.py's settings sign with


async def register(api: Client, project_no: str, **overrides: Any) -> dict[str, Any]:
    response = await api.post(
        "/api/v1/transactions", json=transaction_body(project_no, **overrides), headers=auth()
    )
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["records"][0]
    return record


async def token_of(api: Client, project_no: str) -> str:
    token: str = (await register(api, project_no))["rating_token"]
    return token


def form_key(html: str) -> str:
    found = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def post_form(api: Client, token: str, **fields: Any) -> httpx.Response:
    form = {"idempotency_key": f"web-{uuid.uuid4().hex}", "channel": "mobile", **fields}
    return await api.post(f"/r/{token}", data=form)


async def stored(project_no: str) -> list[dict[str, Any]]:
    record = (
        await ServiceRecord.select(ServiceRecord.id)
        .where(ServiceRecord.service_transaction.project_no == project_no)
        .first()
    )
    assert record is not None
    rows: list[dict[str, Any]] = (
        await Evaluation.select(
            Evaluation.assess_number, Evaluation.level, Evaluation.tags, Evaluation.channel
        )
        .where(Evaluation.service_record == record["id"])
        .order_by(Evaluation.assess_number)
    )
    return rows


# --- the citizen page ---------------------------------------------------------------------------


async def test_rating_page_shows_what_is_being_rated_with_five_levels(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await api.get(f"/r/{token}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "个体工商户设立登记" in page
    assert "平阴县行政审批服务局" in page
    assert project_no in page
    for text in ("非常满意", "满意", "基本满意", "不满意", "非常不满意"):
        assert f'<span class="level-text">{text}</span>' in page
    assert "服务态度差" in page  # a level-2 tag, offered in its (hidden) section


async def test_a_tampered_link_answers_a_chinese_page_with_401(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await api.get(f"/r/{token[:-2]}xx")

    assert response.status_code == 401
    assert "评价链接无法打开" in response.text


async def test_an_expired_link_answers_a_chinese_page_with_410(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)
    record = (
        await ServiceRecord.select(ServiceRecord.id)
        .where(ServiceRecord.service_transaction.project_no == project_no)
        .first()
    )
    expired = RatingTokens(TEST_SECRET).issue(
        record["id"], datetime.now(UTC) - timedelta(minutes=1), True
    )

    response = await api.get(f"/r/{expired}")

    assert response.status_code == 410
    assert "评价期限已过" in response.text


async def test_form_post_stores_the_rating_and_thanks_the_citizen(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await post_form(api, token, level="5")

    assert response.status_code == 200
    assert "感谢您的评价" in response.text
    assert await stored(project_no) == [
        {"assess_number": 1, "level": 5, "tags": "", "channel": "mobile"}
    ]


async def test_bad_rating_without_reason_shows_the_form_again_with_a_chinese_error(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await post_form(api, token, level="2", comment="  ")

    assert response.status_code == 422
    assert "请至少选择一项原因或填写评价内容" in response.text
    assert re.search(r'id="level-2" value="2"\s+checked', response.text)
    assert await stored(project_no) == []


async def test_form_without_a_level_asks_for_one_instead_of_failing(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await post_form(api, token, level="seven")

    assert response.status_code == 422
    assert "请先选择您的满意程度" in response.text


async def test_tags_ticked_under_another_level_are_dropped_from_the_rating(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await api.post(
        f"/r/{token}",
        data={
            "level": "2",
            "tags": ["101", "510"],  # 510 is offered for levels 4 and 5 only
            "idempotency_key": f"web-{uuid.uuid4().hex}",
            "channel": "qr",
        },
    )

    assert response.status_code == 200, response.text
    assert await stored(project_no) == [
        {"assess_number": 1, "level": 2, "tags": "101", "channel": "qr"}
    ]


async def test_posting_the_same_form_twice_stores_one_rating(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)
    key = form_key((await api.get(f"/r/{token}")).text)

    first = await post_form(api, token, level="4", idempotency_key=key)
    second = await post_form(api, token, level="4", idempotency_key=key)

    assert (first.status_code, second.status_code) == (200, 200)
    assert len(await stored(project_no)) == 1


async def test_a_rated_record_offers_one_follow_up_rating(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)
    await post_form(api, token, level="3")

    rated = await api.get(f"/r/{token}")
    follow_up_form = await api.get(f"/r/{token}?follow_up=1")
    follow_up = await post_form(
        api, token, level="1", comment="材料要求反复变化", assess_number="2"
    )
    done = await api.get(f"/r/{token}")

    assert rated.status_code == 409
    assert f'href="/r/{token}?follow_up=1"' in rated.text
    assert '<input type="hidden" name="assess_number" value="2">' in follow_up_form.text
    # It says it adds to the first rating, instead of asking the first question again.
    assert "首次评价（“基本满意”）的追加评价" in follow_up_form.text
    assert "您对本次服务满意吗？" not in follow_up_form.text
    assert "提交追加评价" in follow_up_form.text
    assert follow_up.status_code == 200
    assert "追加评价" in follow_up.text
    # The real-name bad follow-up opened a case: once rated, the link leads to it (issue 10).
    assert done.status_code == 303
    assert done.headers["location"].startswith("/case/")
    assert [row["assess_number"] for row in await stored(project_no)] == [1, 2]


async def test_a_second_first_rating_from_another_form_shows_the_already_rated_page(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)
    await post_form(api, token, level="5")

    response = await post_form(api, token, level="1", comment="再评一次")

    assert response.status_code == 409
    assert "您已评价过这次服务" in response.text
    assert len(await stored(project_no)) == 1


async def test_qr_code_of_a_rating_link_is_an_svg(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await api.get(f"/r/{token}/qr.svg")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.lstrip().startswith("<svg")


async def test_window_system_gets_a_qr_code_by_project_number(api: Client, project_no: str) -> None:
    await register(api, project_no)

    answer = await api.get(
        "/api/v1/records/qr.svg",
        params={"project_no": project_no, "service_number": 1},
        headers=auth(),
    )
    unknown = await api.get(
        "/api/v1/records/qr.svg",
        params={"project_no": project_no, "service_number": 9},
        headers=auth(),
    )
    anonymous = await api.get(
        "/api/v1/records/qr.svg", params={"project_no": project_no, "service_number": 1}
    )

    assert answer.status_code == 200
    assert "<svg" in answer.text
    assert unknown.status_code == 404
    assert anonymous.status_code == 401


# --- the device session --------------------------------------------------------------------------


async def announce(api: Client, project_no: str, key: str = WINDOW_KEY, **extra: Any) -> Any:
    return await api.post(
        "/api/v1/devices/current",
        json={"project_no": project_no, "service_number": 1, **extra},
        headers={"X-Device-Key": key},
    )


async def current(api: Client, key: str = WINDOW_KEY) -> dict[str, Any]:
    response = await api.get("/api/v1/devices/current", headers={"X-Device-Key": key})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_announced_record_is_offered_at_its_device(api: Client, project_no: str) -> None:
    await register(api, project_no)

    answer = await announce(api, project_no)
    polled = await current(api)

    assert answer.status_code == 200, answer.text
    assert polled["state"] == "ready"
    assert polled["device_id"] == "EV-W01"
    assert polled["record"]["project_no"] == project_no
    assert polled["record"]["item_name"] == "个体工商户设立登记"


async def test_window_system_announces_with_its_token_naming_the_device(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)

    answer = await api.post(
        "/api/v1/devices/current",
        json={"project_no": project_no, "service_number": 1, "device_id": "EV-W01"},
        headers=auth(),
    )
    unnamed = await api.post(
        "/api/v1/devices/current",
        json={"project_no": project_no, "service_number": 1},
        headers=auth(),
    )
    unknown = await api.post(
        "/api/v1/devices/current",
        json={"project_no": project_no, "service_number": 1, "device_id": "NO-SUCH"},
        headers=auth(),
    )

    assert answer.status_code == 200, answer.text
    assert (await current(api))["record"]["project_no"] == project_no
    assert (unnamed.status_code, unnamed.json()["error"]) == (422, "missing_device_id")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_device")


async def test_announcing_is_refused_without_credentials_or_for_another_window(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)

    anonymous = await api.post(
        "/api/v1/devices/current", json={"project_no": project_no, "service_number": 1}
    )
    wrong_key = await announce(api, project_no, key="not-a-device-key")
    other_window = await announce(api, project_no, key=OTHER_WINDOW_KEY)
    unknown_record = await announce(api, project_no, service_number=7)

    assert anonymous.status_code == 401
    assert "X-Device-Key" in anonymous.json()["message"]
    assert wrong_key.status_code == 401
    assert (other_window.status_code, other_window.json()["error"]) == (
        403,
        "record_of_other_window",
    )
    assert unknown_record.status_code == 404


async def test_a_rated_record_leaves_the_device_idle(api: Client, project_no: str) -> None:
    await register(api, project_no)
    await announce(api, project_no, key=KIOSK_KEY)
    before = await current(api, KIOSK_KEY)

    rating = await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "kiosk",
            "level": 5,
            "idempotency_key": uuid.uuid4().hex,
            "project_no": project_no,
            "service_number": 1,
        },
        headers={"X-Device-Key": KIOSK_KEY},
    )
    after = await current(api, KIOSK_KEY)
    again = await announce(api, project_no, key=KIOSK_KEY)

    assert before["state"] == "ready"
    assert rating.status_code == 201, rating.text
    # Idle: nothing of the record (its announcement, who served) is left in the answer.
    assert after == {**before, "state": "idle", "record": None, "announced_at": None, "staff": None}
    assert again.status_code == 409


async def test_a_newer_announcement_replaces_the_older_and_can_be_withdrawn(
    api: Client, project_no: str
) -> None:
    other = f"{project_no}-B"
    await register(api, project_no)
    await register(api, other)

    await announce(api, project_no)
    await announce(api, other)
    replaced = await current(api)
    withdrawn = await api.delete("/api/v1/devices/current", headers={"X-Device-Key": WINDOW_KEY})

    assert replaced["record"]["project_no"] == other
    assert withdrawn.status_code == 200
    assert withdrawn.json()["state"] == "idle"


async def test_device_page_is_served_with_its_script(api: Client) -> None:
    page = await api.get("/device")
    script = await api.get("/static/device.js")

    assert page.status_code == 200
    assert "评价设备初始化" in page.text
    assert script.status_code == 200
    assert "X-Device-Key" in script.text


async def test_another_business_system_gets_no_qr_code_of_this_systems_record(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)

    answer = await api.get(
        "/api/v1/records/qr.svg",
        params={"project_no": project_no, "service_number": 1},
        headers=auth(OTHER_CLIENT_TOKEN),
    )

    assert (answer.status_code, answer.json()["error"]) == (404, "unknown_service_record")


async def test_another_business_system_cannot_announce_this_systems_record(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)

    answer = await api.post(
        "/api/v1/devices/current",
        json={"project_no": project_no, "service_number": 1, "device_id": "EV-W01"},
        headers=auth(OTHER_CLIENT_TOKEN),
    )

    polled = await current(api)
    assert (answer.status_code, answer.json()["error"]) == (404, "unknown_service_record")
    assert (polled["record"] or {}).get("project_no") != project_no


async def test_a_deactivated_device_key_stops_working_at_once(api: Client) -> None:
    key = f"test-kiosk-{uuid.uuid4().hex}"
    device_id = f"KIOSK-{uuid.uuid4().hex[:8]}"
    await Device.insert(Device(device_id=device_id, kind="kiosk", key_hash=hash_key(key)))
    before = await api.get("/api/v1/devices/current", headers={"X-Device-Key": key})

    await Device.update({Device.active: False}).where(Device.device_id == device_id)
    after = await api.get("/api/v1/devices/current", headers={"X-Device-Key": key})

    assert before.status_code == 200, before.text
    assert (after.status_code, after.json()["error"]) == (401, "bad_device_key")
