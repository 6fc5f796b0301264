"""The Shandong wire format, signing and back-off, as pure rules and over httpx.MockTransport."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from connectors.delivery import DeliveryPolicy
from connectors.model import Outcome, ProvinceUnavailable, RatingToSend
from connectors.province import protocol
from connectors.province.client import ProvinceClient
from connectors.province.signing import Signer, Verifier, generate_key_pair

ZONE = ZoneInfo("Asia/Shanghai")
KEYS = generate_key_pair()


def rating(**overrides: object) -> RatingToSend:
    values: dict[str, object] = dict(
        evaluation_id=1,
        record_id=1,
        project_no="PY001",
        service_number=1,
        assess_number=1,
        channel="kiosk",
        level=2,
        tags="B201,B202",
        comment="等太久",
        is_default=False,
        rated_at=datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC),
    )
    values.update(overrides)
    return RatingToSend(**values)  # type: ignore[arg-type]


def test_project_numbers_carry_the_province_prefix_once() -> None:
    assert protocol.project_no("PY001") == "37PY001"
    assert protocol.project_no("370124001") == "370124001"


def test_item_codes_split_into_task_code_and_handle_item_at_31_and_33() -> None:
    assert protocol.split_item_code("A" * 31) == ("A" * 31, "")
    assert protocol.split_item_code("A" * 31 + "01") == ("A" * 31, "A" * 31 + "01")


def test_a_rating_maps_to_province_fields_in_county_time() -> None:
    params = protocol.rating_params(rating(), ZONE)

    assert params == {
        "projectNo": "37PY001",
        "serviceNumber": "1",
        "assessNumber": "1",
        "pf": "5",
        "satisfaction": "2",
        "evalDetail": "B201,B202",
        "writingEvaluation": "等太久",
        "assessTime": "2026-11-27 09:02:03",
    }


@pytest.mark.parametrize(
    ("channel", "pf"), [("pc", "1"), ("mobile", "2"), ("qr", "3"), ("window", "4"), ("kiosk", "5")]
)
def test_channels_map_to_pf_codes(channel: str, pf: str) -> None:
    assert protocol.rating_params(rating(channel=channel), ZONE)["pf"] == pf


def test_a_default_rating_is_sent_as_pf_7() -> None:
    assert protocol.rating_params(rating(is_default=True), ZONE)["pf"] == "7"


def test_the_signature_verifies_only_for_its_time_mark_and_word() -> None:
    signer = Signer(*KEYS, "mark", "word")
    sign = signer.sign("20261127090203")

    assert Verifier(KEYS[1], "word").verify(sign, "20261127090203", "mark")
    assert not Verifier(KEYS[1], "other").verify(sign, "20261127090203", "mark")
    assert not Verifier(KEYS[1], "word").verify(sign, "20261127090204", "mark")


def test_back_off_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = DeliveryPolicy(retry_base_seconds=1, retry_max_seconds=30)

    assert policy.back_off(1, lambda: 0.0).total_seconds() == 0.5
    assert policy.back_off(3, lambda: 1.0).total_seconds() == 4
    assert policy.back_off(20, lambda: 1.0).total_seconds() == 30


def client_answering(handler: object) -> ProvinceClient:
    return ProvinceClient(
        "http://province.test",
        tenancy_id="370124",
        signer=Signer(*KEYS, "mark", "word"),
        zone=ZONE,
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


async def test_the_envelope_is_signed_and_carries_the_tenancy_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"code": "200", "data": {"results": [{"code": "1", "msg": "数据已接收"}]}}
        )

    client = client_answering(handler)
    results = await client.push_ratings([rating()])
    await client.close()

    body = json.loads(seen[0].content)
    txn = body["txnBodyCom"]
    assert seen[0].headers["C-Tenancy-Id"] == "370124"
    assert set(body) == {"txnBodyCom", "txnCommCom"}
    assert Verifier(KEYS[1], "word").verify(txn["sign"], txn["time"], txn["appMark"])
    assert txn["params"]["dataList"][0]["projectNo"] == "37PY001"
    assert results[0].outcome == Outcome.duplicate and results[0].delivered


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_province_unavailable(status: int) -> None:
    client = client_answering(lambda request: httpx.Response(status, text="down"))
    with pytest.raises(ProvinceUnavailable):
        await client.push_ratings([rating()])
    await client.close()


async def test_a_refused_signature_is_province_unavailable_with_its_message() -> None:
    client = client_answering(
        lambda r: httpx.Response(200, json={"code": "401", "msg": "签名验证失败"})
    )
    with pytest.raises(ProvinceUnavailable, match="签名验证失败"):
        await client.push_ratings([rating()])
    await client.close()
