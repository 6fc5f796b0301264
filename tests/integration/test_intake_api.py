"""The intake contract (DESIGN.md §7) and the rules of §3, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from evaluation_service.evaluations.fast_rating import FAST_BODY_LIMIT
from evaluation_service.evaluations.rating_batch import RatingBatcher, RatingRow, Statements
from evaluation_service.kernel.tables import Evaluation, Outbox, ServiceRecord, ServiceTransaction
from rectification.service import TICKET_INSERT_SQL
from tests.support import (
    CLIENT_TOKEN,
    KIOSK_KEY,
    OTHER_CLIENT_TOKEN,
    OTHER_WINDOW_KEY,
    WINDOW_KEY,
    auth,
    transaction_body,
)

Client = httpx.AsyncClient


def key() -> str:
    return uuid.uuid4().hex


async def register(api: Client, project_no: str, **overrides: Any) -> dict[str, Any]:
    return await post_transaction(api, transaction_body(project_no, **overrides))


async def post_transaction(api: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/api/v1/transactions", json=body, headers=auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def token_of(api: Client, project_no: str, **overrides: Any) -> str:
    body = await register(api, project_no, **overrides)
    token: str = body["records"][0]["rating_token"]
    return token


async def rate(api: Client, token: str, **fields: Any) -> Any:
    body = {"channel": "mobile", "level": 5, "idempotency_key": key(), "rating_token": token}
    body.update(fields)
    return await api.post("/api/v1/evaluations", json=body)


async def rate_at_device(api: Client, device_key: str, project_no: str, **fields: Any) -> Any:
    body = {
        "channel": "window",
        "level": 5,
        "idempotency_key": key(),
        "project_no": project_no,
        "service_number": 1,
    }
    body.update(fields)
    return await api.post("/api/v1/evaluations", json=body, headers={"X-Device-Key": device_key})


async def outbox_rows(kind: str, ref_id: int) -> int:
    return await Outbox.count().where((Outbox.kind == kind) & (Outbox.ref_id == ref_id))


# --- transactions ------------------------------------------------------------------------------


async def test_registering_a_transaction_answers_a_signed_token_and_url_per_record(
    api: Client, project_no: str
) -> None:
    body = await register(api, project_no)

    record = body["records"][0]
    assert body["created"] is True
    assert record["service_number"] == 1
    assert record["rating_url"].endswith("/r/" + record["rating_token"])


async def test_registering_the_same_transaction_twice_changes_nothing(
    api: Client, project_no: str
) -> None:
    body = transaction_body(project_no)
    first = await post_transaction(api, body)
    record_id = int(first["records"][0]["rating_token"].split(".")[0])
    queued_before = await outbox_rows("service_record", record_id)

    second = await post_transaction(api, body)

    assert second["created"] is False
    assert second["records"] == first["records"]
    assert queued_before == 1
    assert await outbox_rows("service_record", record_id) == 1


async def test_each_new_service_record_is_queued_for_the_province(
    api: Client, project_no: str
) -> None:
    now = datetime.now(UTC).isoformat()
    await register(
        api,
        project_no,
        records=[{"service_number": 1, "name": "受理", "occurred_at": now, "window_no": "W01"}],
    )
    body = await register(
        api,
        project_no,
        records=[
            {"service_number": 1, "name": "受理", "occurred_at": now, "window_no": "W01"},
            {"service_number": 2, "name": "办结", "occurred_at": now, "window_no": "W01"},
        ],
    )
    second_id = int(body["records"][1]["rating_token"].split(".")[0])

    first_id = int(body["records"][0]["rating_token"].split(".")[0])
    assert await outbox_rows("service_record", second_id) == 1
    assert await outbox_rows("service_record", first_id) == 1


async def test_registration_without_a_token_is_refused(api: Client, project_no: str) -> None:
    response = await api.post("/api/v1/transactions", json=transaction_body(project_no))

    assert response.status_code == 401
    assert "Bearer" in response.json()["message"]


async def test_registration_with_a_wrong_token_is_refused(api: Client, project_no: str) -> None:
    response = await api.post(
        "/api/v1/transactions", json=transaction_body(project_no), headers=auth("wrong-token")
    )

    assert response.status_code == 401
    assert response.json()["error"] == "bad_token"


async def test_another_business_system_cannot_change_a_registered_transaction(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)

    response = await api.post(
        "/api/v1/transactions",
        json=transaction_body(project_no),
        headers=auth(OTHER_CLIENT_TOKEN),
    )

    assert response.status_code == 403
    assert CLIENT_TOKEN != OTHER_CLIENT_TOKEN


async def test_malformed_codes_each_get_their_own_error(api: Client, project_no: str) -> None:
    cases = {
        "bad_department_code": {"department_code": "11370124MB00000012"},
        "bad_item_code": {"item_code": "37012400000000000000000000000"},
        "bad_area_code": {"area_code": "3701240"},
        "unknown_department": {"department_code": "11370124MB0000002" + "1"},
        "unknown_item": {"item_code": "9" * 31},
    }
    from evaluation_service.evaluations.model import uscc_check_char

    cases["unknown_department"] = {
        # A valid code no test adds to the catalog (rectification_support adds ...0000002).
        "department_code": "11370124MB0000099" + uscc_check_char("11370124MB0000099")
    }
    cases["bad_project_no"] = {"project_no": "项目 1"}
    answers = {}
    for code, override in cases.items():
        body = {**transaction_body(project_no), **override}
        response = await api.post("/api/v1/transactions", json=body, headers=auth())
        answers[code] = (response.status_code, response.json()["error"])

    assert answers == {code: (422, code) for code in cases}


async def test_bad_applicant_and_records_are_refused_with_chinese_messages(
    api: Client, project_no: str
) -> None:
    now = datetime.now(UTC).isoformat()
    cases = {
        "bad_applicant_type": {"applicant": {"type": 7}},
        "bad_cert_no": {
            "applicant": {"type": 1, "name": "张三", "cert_type": "111", "cert_no": "123"}
        },
        "bad_phone": {"applicant": {"type": 1, "phone": "call me"}},
        "no_records": {"records": []},
        "duplicate_service_number": {
            "records": [
                {"service_number": 1, "name": "受理", "occurred_at": now},
                {"service_number": 1, "name": "办结", "occurred_at": now},
            ]
        },
        "record_in_future": {
            "records": [
                {"service_number": 1, "name": "受理", "occurred_at": "2099-01-01T00:00:00Z"}
            ]
        },
    }
    answers = {}
    for code, override in cases.items():
        response = await api.post(
            "/api/v1/transactions", json=transaction_body(project_no, **override), headers=auth()
        )
        answers[code] = (response.status_code, response.json()["error"])

    assert answers == {code: (422, code) for code in cases}


# --- what the province's service record needs of a transaction (DESIGN.md §8) -------------------

HANDLING = {
    "project_name": "张三的个体工商户设立登记",
    "online": True,
    "item_kind": "01",
    "case_kind": "immediate",
    "promised_days": 3,
}
AGENT = {"name": "李四", "cert_type": "111", "cert_no": "11010519491231002x"}


def with_agent(agent: dict[str, Any]) -> dict[str, Any]:
    return {**transaction_body("unused")["applicant"], "agent": agent}


async def stored_transaction(project_no: str) -> dict[str, Any]:
    row = (
        await ServiceTransaction.select(
            ServiceTransaction.project_name,
            ServiceTransaction.online,
            ServiceTransaction.item_kind,
            ServiceTransaction.case_kind,
            ServiceTransaction.promised_days,
            ServiceTransaction.agent_name,
            ServiceTransaction.agent_cert_type,
            ServiceTransaction.agent_cert_no,
            ServiceTransaction.updated_at,
        )
        .where(ServiceTransaction.project_no == project_no)
        .first()
    )
    assert row is not None
    return row  # type: ignore[no-any-return]


async def test_handling_facts_and_the_agent_are_stored_with_the_transaction(
    api: Client, project_no: str
) -> None:
    await register(api, project_no, **HANDLING, applicant=with_agent(AGENT))

    stored = await stored_transaction(project_no)

    assert {name: stored[name] for name in HANDLING} == HANDLING
    assert (stored["agent_name"], stored["agent_cert_type"], stored["agent_cert_no"]) == (
        "李四",
        "111",
        "11010519491231002X",
    )


async def test_handling_facts_left_out_defer_to_the_service_item(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)

    stored = await stored_transaction(project_no)

    assert stored["project_name"] == ""
    assert stored["online"] is False
    # NULL: the item's kind, case kind and promised days apply.
    assert (stored["item_kind"], stored["case_kind"], stored["promised_days"]) == (None, None, None)
    assert (stored["agent_name"], stored["agent_cert_type"], stored["agent_cert_no"]) == (
        "",
        "",
        "",
    )


async def test_an_empty_item_kind_defers_to_the_service_item_like_an_absent_one(
    api: Client, project_no: str
) -> None:
    await register(api, project_no, item_kind="")

    assert (await stored_transaction(project_no))["item_kind"] is None


async def test_registering_the_same_transaction_with_handling_facts_twice_changes_nothing(
    api: Client, project_no: str
) -> None:
    body = transaction_body(project_no, **HANDLING, applicant=with_agent(AGENT))
    first = await post_transaction(api, body)
    record_id = int(first["records"][0]["rating_token"].split(".")[0])
    before = await stored_transaction(project_no)

    await post_transaction(api, body)

    assert await stored_transaction(project_no) == before
    assert await outbox_rows("service_record", record_id) == 1


async def test_a_changed_handling_fact_updates_the_transaction(
    api: Client, project_no: str
) -> None:
    await register(api, project_no, **HANDLING, applicant=with_agent(AGENT))

    await register(api, project_no, **{**HANDLING, "item_kind": "20", "promised_days": 0})
    changed = await stored_transaction(project_no)
    await register(api, project_no)
    left_out = await stored_transaction(project_no)

    assert (changed["item_kind"], changed["promised_days"], changed["agent_name"]) == ("20", 0, "")
    assert (left_out["item_kind"], left_out["case_kind"], left_out["online"]) == (None, None, False)


async def test_invalid_handling_facts_are_refused_with_chinese_messages(
    api: Client, project_no: str
) -> None:
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "unknown item kind": ("bad_item_kind", {"item_kind": "99"}),
        "item kind without its zero": ("bad_item_kind", {"item_kind": "1"}),
        "unknown case kind": ("bad_case_kind", {"case_kind": "即办件"}),
        "negative promised days": ("bad_promised_days", {"promised_days": -1}),
        "promised days beyond ten years": ("bad_promised_days", {"promised_days": 3651}),
        "agent ID number with a wrong check digit": (
            "bad_agent_cert_no",
            {"applicant": with_agent({**AGENT, "cert_no": "110105194912310021"})},
        ),
        "agent certificate without a name": (
            "agent_without_name",
            {"applicant": with_agent({"cert_type": "111", "cert_no": AGENT["cert_no"]})},
        ),
        "agent name too long": ("bad_agent_name", {"applicant": with_agent({"name": "李" * 101})}),
        "online not a boolean": ("invalid_input", {"online": "yes"}),
        "project name too long": ("invalid_input", {"project_name": "办" * 201}),
    }
    answers = {}
    chinese = {}
    for case, (_, override) in cases.items():
        response = await api.post(
            "/api/v1/transactions", json=transaction_body(project_no, **override), headers=auth()
        )
        answers[case] = (response.status_code, response.json()["error"])
        chinese[case] = any("\u4e00" <= char <= "\u9fff" for char in response.json()["message"])

    assert answers == {case: (422, error) for case, (error, _) in cases.items()}
    assert all(chinese.values()), chinese
    assert not await ServiceTransaction.exists().where(ServiceTransaction.project_no == project_no)


async def test_an_invalid_item_kind_is_named_in_the_message_with_the_codes_to_choose_from(
    api: Client, project_no: str
) -> None:
    response = await api.post(
        "/api/v1/transactions", json=transaction_body(project_no, item_kind="99"), headers=auth()
    )

    body = response.json()
    assert (body["field"], "99" in body["message"], "20 公共服务" in body["message"]) == (
        "item_kind",
        True,
        True,
    )


async def test_the_openapi_schema_describes_the_handling_facts_in_chinese_and_english(
    api: Client,
) -> None:
    schema = (await api.get("/schema/openapi.json")).json()["components"]["schemas"]

    described = {
        name: schema["TransactionIn"]["properties"][name].get("description", "")
        for name in ("project_name", "online", "item_kind", "case_kind", "promised_days")
    }
    agent = schema["ApplicantIn"]["properties"]["agent"].get("description", "")
    assert all("可选" in text and "omitted" in text for text in described.values()), described
    assert "代办人" in agent
    assert "agent" in agent


# --- ratings -----------------------------------------------------------------------------------


async def test_a_rating_by_link_is_stored_real_name_with_its_outbox_row(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, level=4, tags=["510"], comment="很好")

    body = response.json()
    assert response.status_code == 201, response.text
    assert (body["level"], body["tags"], body["real_name"]) == (4, ["510"], True)
    assert body["project_no"] == project_no
    assert await outbox_rows("evaluation", body["id"]) == 1


async def test_a_rating_of_an_unidentified_applicant_is_anonymous(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no, applicant={"type": 1})

    response = await rate(api, token)

    assert response.status_code == 201
    assert response.json()["real_name"] is False


async def test_repeating_a_rating_with_the_same_idempotency_key_returns_the_original(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)
    idempotency_key = key()

    first = await rate(api, token, idempotency_key=idempotency_key)
    second = await rate(api, token, idempotency_key=idempotency_key)

    record_id = int(token.split(".")[0])
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert await Evaluation.count().where(Evaluation.service_record == record_id) == 1


async def test_a_different_second_rating_of_the_same_record_is_refused(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)
    await rate(api, token, level=5)

    response = await rate(api, token, level=1, comment="改主意了")

    assert response.status_code == 409
    assert response.json()["error"] == "already_rated"


async def test_reusing_an_idempotency_key_for_other_content_is_refused(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)
    idempotency_key = key()
    await rate(api, token, idempotency_key=idempotency_key, level=5)

    response = await rate(api, token, idempotency_key=idempotency_key, level=4)

    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_key_reused"


async def test_one_follow_up_rating_is_allowed_after_the_first(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)
    await rate(api, token, level=5)

    follow_up = await rate(api, token, level=4, assess_number=2, comment="补充：取件也很快")
    another = await rate(api, token, level=3, assess_number=2)

    assert follow_up.status_code == 201
    assert follow_up.json()["assess_number"] == 2
    assert another.status_code == 409
    assert another.json()["error"] == "already_followed_up"


async def test_a_follow_up_before_the_first_rating_is_refused(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, assess_number=2)

    assert response.status_code == 409
    assert response.json()["error"] == "follow_up_before_first"


async def test_a_bad_rating_without_tag_or_comment_is_refused(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, level=2)

    assert response.status_code == 422
    assert response.json()["error"] == "bad_review_needs_reason"
    assert "原因" in response.json()["message"]


async def test_a_bad_rating_with_a_tag_is_stored(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, level=1, tags=["104"])

    assert response.status_code == 201
    assert response.json()["tags"] == ["104"]


async def test_a_bad_rating_with_only_a_comment_is_stored(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, level=2, comment="排队两个小时")

    assert response.status_code == 201


async def test_tags_of_another_level_are_refused(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, level=5, tags=["101"])

    assert response.status_code == 422
    assert response.json()["error"] == "tag_not_for_level"


async def test_an_oversized_comment_is_refused(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, comment="好" * 501)

    assert response.status_code == 422
    assert response.json()["error"] == "comment_too_long"


async def test_an_unknown_channel_is_refused(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, channel="fax")

    assert response.status_code == 422
    assert response.json()["error"] == "unknown_channel"


async def test_levels_outside_one_to_five_are_refused(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    answers = [(await rate(api, token, level=level)).json()["error"] for level in (0, 6, -1)]

    assert answers == ["bad_level"] * 3


async def test_a_level_that_is_not_a_number_gets_a_chinese_field_message(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, level="很好")

    assert response.status_code == 422
    assert "满意度" in response.json()["message"]


async def test_malformed_json_is_a_client_error(api: Client) -> None:
    response = await api.post(
        "/api/v1/evaluations", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert 400 <= response.status_code < 500
    assert response.json()["message"]


async def test_a_tampered_token_is_refused(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)
    record, expiry, real_name, mac = token.split(".")
    tampered = f"{int(record) + 1}.{expiry}.{real_name}.{mac}"

    response = await rate(api, tampered)

    assert response.status_code == 401
    assert response.json()["error"] == "bad_rating_token"


async def test_a_rating_without_credentials_is_refused(api: Client) -> None:
    response = await api.post(
        "/api/v1/evaluations", json={"channel": "pc", "level": 5, "idempotency_key": key()}
    )

    assert response.status_code == 401
    assert response.json()["error"] == "missing_credentials"


async def test_a_window_channel_rating_by_link_is_refused(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, channel="window")

    assert response.status_code == 422
    assert response.json()["error"] == "channel_needs_device"


async def test_a_closed_rating_window_is_refused(api: Client, project_no: str) -> None:
    long_ago = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    await register(
        api,
        project_no,
        records=[
            {"service_number": 1, "name": "受理", "occurred_at": long_ago, "window_no": "W01"}
        ],
    )

    by_device = await rate_at_device(api, WINDOW_KEY, project_no)

    assert by_device.status_code == 410
    assert by_device.json()["error"] == "rating_window_closed"


async def test_an_expired_link_is_refused(api: Client, project_no: str) -> None:
    from evaluation_service.evaluations.tokens import RatingTokens

    record_id = int((await token_of(api, project_no)).split(".")[0])
    expired = RatingTokens("test-secret-not-for-production").issue(
        record_id, datetime.now(UTC) - timedelta(seconds=1), True
    )

    response = await rate(api, expired)

    assert response.status_code == 410


async def test_a_window_device_rating_is_stored_real_name(api: Client, project_no: str) -> None:
    await register(api, project_no)

    response = await rate_at_device(api, WINDOW_KEY, project_no, level=5, tags=["517"])

    assert response.status_code == 201, response.text
    assert response.json()["real_name"] is True
    assert response.json()["channel"] == "window"


async def test_a_kiosk_rating_is_anonymous_unless_the_kiosk_verified_the_applicant(
    api: Client, project_no: str
) -> None:
    now = datetime.now(UTC).isoformat()
    await register(
        api,
        project_no,
        records=[
            {"service_number": 1, "name": "受理", "occurred_at": now},
            {"service_number": 2, "name": "办结", "occurred_at": now},
        ],
    )

    plain = await rate_at_device(api, KIOSK_KEY, project_no, channel="kiosk")
    verified = await rate_at_device(
        api, KIOSK_KEY, project_no, channel="kiosk", service_number=2, applicant_verified=True
    )

    assert (plain.json()["real_name"], verified.json()["real_name"]) == (False, True)


async def test_a_wrong_device_key_is_refused(api: Client, project_no: str) -> None:
    await register(api, project_no)

    response = await rate_at_device(api, "not-a-device-key", project_no)

    assert response.status_code == 401
    assert response.json()["error"] == "bad_device_key"


async def test_a_device_must_use_its_own_channel(api: Client, project_no: str) -> None:
    await register(api, project_no)

    response = await rate_at_device(api, WINDOW_KEY, project_no, channel="kiosk")

    assert response.status_code == 403
    assert response.json()["error"] == "channel_not_for_device"


async def test_a_window_device_cannot_rate_another_windows_service(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)

    response = await rate_at_device(api, OTHER_WINDOW_KEY, project_no)

    assert response.status_code == 403
    assert response.json()["error"] == "record_of_other_window"


async def test_an_unknown_service_record_is_not_found(api: Client) -> None:
    response = await rate_at_device(api, WINDOW_KEY, "NO-SUCH-PROJECT")

    assert response.status_code == 404
    assert response.json()["error"] == "unknown_service_record"


async def test_concurrent_different_ratings_of_one_record_store_exactly_one(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    responses = await asyncio.gather(*(rate(api, token, level=5) for _ in range(10)))

    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 9
    assert (
        await Evaluation.count().where(Evaluation.service_record == int(token.split(".")[0])) == 1
    )


async def test_twenty_concurrent_raters_are_all_stored_without_lock_errors(
    api: Client,
) -> None:
    tokens = [await token_of(api, f"TEST-{uuid.uuid4().hex[:16]}") for _ in range(20)]

    responses = await asyncio.gather(*(rate(api, token) for token in tokens))

    assert [r.status_code for r in responses] == [201] * 20


async def test_the_deadline_is_stored_on_each_record(api: Client, project_no: str) -> None:
    body = await register(api, project_no)
    record_id = int(body["records"][0]["rating_token"].split(".")[0])

    stored = (
        await ServiceRecord.select(ServiceRecord.rating_deadline)
        .where(ServiceRecord.id == record_id)
        .first()
    )

    assert stored is not None
    assert body["records"][0]["rating_deadline"].startswith(
        stored["rating_deadline"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    )


# --- indicators, health, schema ----------------------------------------------------------------


async def test_indicators_offer_the_tags_of_a_level(api: Client) -> None:
    response = await api.get("/api/v1/indicators", params={"level": 2})

    assert response.status_code == 200
    assert [item["code"] for item in response.json()] == ["101", "102", "103", "104"]
    assert {item["version"] for item in response.json()} == {"SIM-2020.1"}


async def test_indicators_of_an_impossible_level_are_refused(api: Client) -> None:
    response = await api.get("/api/v1/indicators", params={"level": 9})

    assert response.status_code == 422


async def test_health_reports_database_and_broker(api: Client) -> None:
    response = await api.get("/health")

    assert response.status_code == 200
    assert response.json()["database"]["ok"] is True
    assert response.json()["broker"]["kind"] == "embedded"


async def test_the_openapi_schema_lists_the_intake_paths(api: Client) -> None:
    response = await api.get("/schema/openapi.json")

    assert response.status_code == 200
    assert {"/api/v1/transactions", "/api/v1/evaluations", "/api/v1/indicators"} <= set(
        response.json()["paths"]
    )


async def test_an_unknown_path_answers_in_chinese(api: Client) -> None:
    response = await api.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.json()["message"] == "请求的地址或资源不存在。"


# --- tickets (DESIGN.md §3 rule 6) -------------------------------------------------------------


async def tickets_of(evaluation_id: int) -> int:
    from rectification.tables import Ticket

    return await Ticket.count().where(Ticket.evaluation == evaluation_id)


async def test_a_real_name_bad_rating_opens_exactly_one_ticket(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, level=1, tags=["103"])

    body = response.json()
    assert response.status_code == 201
    assert body["ticket_id"] is not None
    assert await tickets_of(body["id"]) == 1


async def test_a_device_bad_rating_of_an_identified_applicant_opens_a_ticket(
    api: Client, project_no: str
) -> None:
    await register(api, project_no)

    response = await rate_at_device(api, WINDOW_KEY, project_no, level=2, tags=["101"])

    assert response.status_code == 201
    assert await tickets_of(response.json()["id"]) == 1


async def test_an_anonymous_bad_rating_opens_no_ticket(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no, applicant={"type": 1})

    response = await rate(api, token, level=1, comment="太慢了")

    assert response.json()["ticket_id"] is None
    assert await tickets_of(response.json()["id"]) == 0


async def test_a_good_rating_opens_no_ticket(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)

    response = await rate(api, token, level=3)

    assert response.json()["ticket_id"] is None
    assert await tickets_of(response.json()["id"]) == 0


async def test_a_repeated_bad_rating_answers_the_same_ticket(api: Client, project_no: str) -> None:
    token = await token_of(api, project_no)
    idempotency_key = key()

    first = await rate(api, token, level=2, tags=["102"], idempotency_key=idempotency_key)
    again = await rate(api, token, level=2, tags=["102"], idempotency_key=idempotency_key)

    assert again.json()["ticket_id"] == first.json()["ticket_id"] is not None
    assert await tickets_of(first.json()["id"]) == 1


async def test_one_key_sent_concurrently_with_different_levels_stores_and_acknowledges_one(
    api: Client,
) -> None:
    for trial in range(10):
        token = await token_of(api, f"RACE-{trial}-{uuid.uuid4().hex[:12]}")
        idempotency_key = key()

        answers = await asyncio.gather(
            *[rate(api, token, idempotency_key=idempotency_key, level=level) for level in (5, 4, 3)]
        )

        stored = await Evaluation.select(Evaluation.id, Evaluation.level).where(
            Evaluation.idempotency_key == idempotency_key
        )
        acknowledged = [a.json() for a in answers if a.status_code == 201]
        refused = [a.json() for a in answers if a.status_code != 201]
        assert len(stored) == 1
        assert [(a["id"], a["level"]) for a in acknowledged] == [
            (stored[0]["id"], stored[0]["level"])
        ]
        assert [r["error"] for r in refused] == ["idempotency_key_reused"] * 2
        assert all("满意度" in r["message"] for r in refused)


async def test_one_key_sent_concurrently_with_the_same_body_answers_the_same_rating_twice(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)
    idempotency_key = key()

    answers = await asyncio.gather(
        *[rate(api, token, idempotency_key=idempotency_key, level=4) for _ in range(4)]
    )

    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1


async def test_one_key_sent_concurrently_for_two_records_is_refused_for_the_second_naming_it(
    api: Client,
) -> None:
    tokens = [await token_of(api, f"RACE2-{uuid.uuid4().hex[:12]}") for _ in range(2)]
    idempotency_key = key()

    answers = await asyncio.gather(
        *[rate(api, token, idempotency_key=idempotency_key) for token in tokens]
    )

    assert sorted(a.status_code for a in answers) == [201, 409]
    refused = next(a.json() for a in answers if a.status_code == 409)
    assert "服务记录" in refused["message"]
    assert await Evaluation.count().where(Evaluation.idempotency_key == idempotency_key) == 1


# --- the fast path (evaluations/fast_rating.py) ------------------------------------------------


def past_the_fast_path(rating: dict[str, Any]) -> dict[str, Any]:
    """The same rating in a body too long for the fast path: the documented handler answers it."""
    padded = json.dumps(rating).encode() + b" " * FAST_BODY_LIMIT
    return {"content": padded, "headers": {"Content-Type": "application/json"}}


def same_answer(fast: httpx.Response, handler: httpx.Response, *also: str) -> None:
    """Same status and headers, but for what differs per request (and `also`)."""
    assert fast.headers["x-request-id"] and handler.headers["x-request-id"]
    per_request = {"x-request-id", "date", *also}
    assert fast.status_code == handler.status_code
    assert {k: v for k, v in fast.headers.items() if k not in per_request} == {
        k: v for k, v in handler.headers.items() if k not in per_request
    }


async def test_the_fast_path_and_the_handler_store_and_answer_a_rating_alike(
    api: Client, project_no: str
) -> None:
    records = [
        {"service_number": n, "name": f"环节{n}", "occurred_at": datetime.now(UTC).isoformat()}
        for n in (1, 2)
    ]
    registered = await register(api, project_no, records=records)
    first, second = (record["rating_token"] for record in registered["records"])
    rating = {"channel": "mobile", "level": 4, "tags": [], "comment": "窗口很好"}

    handler = await api.post(
        "/api/v1/evaluations",
        **past_the_fast_path({**rating, "idempotency_key": key(), "rating_token": first}),
    )
    fast = await api.post(
        "/api/v1/evaluations", json={**rating, "idempotency_key": key(), "rating_token": second}
    )

    assert handler.status_code == 201, handler.text
    same_answer(fast, handler, "content-length")  # two ids, perhaps of different lengths
    by_handler, by_fast = handler.json(), fast.json()
    assert by_fast.keys() == by_handler.keys()
    differ = {"id", "service_number", "received_at"}
    assert {k: v for k, v in by_fast.items() if k not in differ} == {
        k: v for k, v in by_handler.items() if k not in differ
    }
    stored = await Evaluation.select(Evaluation.level, Evaluation.comment).where(
        Evaluation.id.is_in([by_handler["id"], by_fast["id"]])
    )
    assert stored == [{"level": 4, "comment": "窗口很好"}] * 2


async def test_a_refusal_of_the_use_case_reads_the_same_from_the_fast_path_and_the_handler(
    api: Client, project_no: str
) -> None:
    token = await token_of(api, project_no)
    assert (await rate(api, token)).status_code == 201
    again = {"channel": "mobile", "level": 3, "idempotency_key": key(), "rating_token": token}

    fast = await api.post("/api/v1/evaluations", json=again)
    handler = await api.post("/api/v1/evaluations", **past_the_fast_path(again))

    assert fast.status_code == 409 and fast.json()["error"] == "already_rated"
    same_answer(fast, handler)
    assert fast.content == handler.content


async def test_a_value_only_the_handler_converts_is_still_accepted(
    api: Client, project_no: str
) -> None:
    # msgspec's strict decoding refuses "4" for an int; the handler's conversion takes it.
    token = await token_of(api, project_no)
    response = await rate(api, token, level="4")
    assert response.status_code == 201, response.text
    assert response.json()["level"] == 4


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_rating_queued_as_the_last_writer_finishes_is_still_written(
    api: Client, database_url: str
) -> None:
    # The batcher's one PostgreSQL path, with one writer slot: the caller of the first rating
    # wakes up before the writer that answered it has been cleaned up, and queues the next rating
    # at once. A writer must still take it (a slot counted by a task's done-callback was still
    # taken then, and the rating waited for the next one to arrive).
    records = [
        {"service_number": n, "name": f"环节{n}", "occurred_at": datetime.now(UTC).isoformat()}
        for n in (1, 2)
    ]
    registered = await register(api, f"BATCH-{key()[:12]}", records=records)
    record_ids = [int(r["rating_token"].split(".")[0]) for r in registered["records"]]
    db = api._transport.app.state.services.db  # type: ignore[attr-defined]
    batcher = RatingBatcher(db.pool, 1, Statements.with_tickets(TICKET_INSERT_SQL))
    now = datetime.now(UTC)

    def row(record_id: int) -> RatingRow:
        return RatingRow(
            record_id=record_id,
            project_no=None,
            service_number=None,
            assess_number=1,
            channel="mobile",
            level=5,
            tags="",
            comment="",
            identifies_applicant=True,
            device_id=None,
            device_window="",
            idempotency_key=key(),
            indicator_version="",
            client_time=None,
            received_at=now,
        )

    first = await batcher.insert(row(record_ids[0]))
    # Queued in this same task and turn (wait_for would start a new task, a turn later); the
    # timeout is a hang detector, not a race: the rating is written in milliseconds or never.
    async with asyncio.timeout(60):
        second = await batcher.insert(row(record_ids[1]))

    assert first is not None and second is not None
    assert first["service_record"] == record_ids[0] and second["service_record"] == record_ids[1]
