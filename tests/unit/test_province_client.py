"""The province client over httpx.MockTransport, against a fake province that decrypts with a test
private key and answers as the evidence shows (both answer styles). No network, no sleeps."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from connectors.model import (
    CaseKind,
    ItemResult,
    Outcome,
    ProvinceCallFailed,
    ProvinceEndpointOff,
    ProvinceRefusedCall,
    ProvinceUnavailable,
    RatingToSend,
    RecordToSend,
    RectifyResult,
    TicketResultToSend,
)
from connectors.province.cipher import CipherEncoding, CipherMode, decrypt, generate_key_pair
from connectors.province.client import ProvinceClient
from connectors.province.config import ProvinceConfig

ZONE = ZoneInfo("Asia/Shanghai")
PRIVATE, PUBLIC = generate_key_pair()
NOW = datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC)
BASE = "https://hcp.example/hcp"
TASK_CODE = "11370124004319073Y3370111006000"


def config(**overrides: Any) -> ProvinceConfig:
    values: dict[str, Any] = dict(
        records_url=f"{BASE}/addEvaluateService",
        ratings_url=f"{BASE}/addEvaluate",
        norm_url=f"{BASE}/norm",
        ticket_results_url=f"{BASE}/rectifyFeedback",
        holdings_url=f"{BASE}/dailyHoldings",
        public_key=PUBLIC,
        app_mark="PINGYIN",
        app_word="word-of-the-app",
        data_source="165",
    )
    values.update(overrides)
    return ProvinceConfig(**values)


def record(n: int, **overrides: Any) -> RecordToSend:
    values: dict[str, Any] = dict(
        record_id=n,
        project_no=f"PY{n:04d}",
        service_number=1,
        name="受理",
        occurred_at=NOW,
        item_code=TASK_CODE,
        item_name="个体工商户设立登记",
        department_code="11370124004319073Y",
        department_name="平阴县行政审批服务局",
        area_code="370124000000",
        applicant_type=1,
        applicant_name="张三",
        applicant_cert_type="111",
        applicant_cert_no="370124199001011234",
        applicant_phone="13800001234",
        accepted_at=NOW,
        finished_at=None,
        window_no="W01",
        staff_no="S01",
        project_name="个体工商户设立登记",
        item_kind="01",
        case_kind=CaseKind.immediate,
        promised_days=0,
        online=False,
    )
    values.update(overrides)
    return RecordToSend(**values)


def rating(n: int, **overrides: Any) -> RatingToSend:
    values: dict[str, Any] = dict(
        evaluation_id=n,
        record=record(n),
        assess_number=1,
        channel="window",
        level=5,
        tags=("510",),
        comment="",
        is_default=False,
        rated_at=NOW,
        evaluator_name="张三",
    )
    values.update(overrides)
    return RatingToSend(**values)


@dataclass
class FakeProvince:
    """The province as the evidence shows it: checks the sign, decrypts the items, stores a call
    all or nothing, refuses the whole call with the text of its first bad item."""

    style: str = "desc"
    app_mark: str = "PINGYIN"
    app_word: str = "word-of-the-app"
    tenancy: str = "370000000000"
    mode: CipherMode = CipherMode.c1c3c2
    encoding: CipherEncoding = CipherEncoding.hex
    records: set[tuple[str, str]] = field(default_factory=set)
    ratings: set[tuple[str, str, str]] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)
    items_seen: list[list[dict[str, Any]]] = field(default_factory=list)
    norm: list[dict[str, str]] = field(default_factory=list)

    def answer(self, text: str, body: Any = None) -> httpx.Response:
        ok = text == "success"
        if self.style == "desc":
            return httpx.Response(
                200,
                json={
                    "C-API-Status": "00" if ok else "01",
                    "C-Response-Code": "000000000000" if ok else "999999999999",
                    "C-Response-Desc": text,
                    "C-Response-Body": json.dumps(body, ensure_ascii=False) if ok else "",
                },
            )
        if ok:
            return httpx.Response(200, json={"code": "0", "success": "true", "data": body})
        return httpx.Response(200, json={"code": "1", "success": "false", "msg": text})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        envelope = json.loads(request.content)
        self.calls.append(envelope)
        txn = envelope["txnBodyCom"]
        if request.headers.get("C-Tenancy-Id") != self.tenancy:
            return self.answer("租户标识不正确")
        try:
            signed = decrypt(PRIVATE, txn["sign"], self.mode, self.encoding).decode()
        except ValueError:
            return self.answer("sign解密失败")
        if signed != f"{txn['time']}{self.app_mark}{self.app_word}" or txn["appMark"] != (
            self.app_mark
        ):
            return self.answer("签名验证失败")
        path = request.url.path.rsplit("/", 1)[-1]
        if path == "norm":
            return self.answer("success", self.norm)
        if path == "dailyHoldings":
            return self.answer(
                "success",
                {"records": sorted(self.records), "ratings": sorted(self.ratings)},
            )
        items = [
            item
            for entry in txn["params"]["evaluate"]
            for item in json.loads(decrypt(PRIVATE, entry, self.mode, self.encoding))
        ]
        self.items_seen.append(items)
        return self.store(path, items)

    def store(self, path: str, items: list[dict[str, Any]]) -> httpx.Response:
        new_records, new_ratings = set(), set()
        for item in items:
            key = (item["projectNo"], item["serviceNumber"])
            if path == "addEvaluateService":
                if key in self.records or key in new_records:
                    return self.answer("已存在该条服务信息，请勿重复提交！")
                new_records.add(key)
            elif path == "addEvaluate":
                rkey = (*key, item["assessNumber"])
                if key not in self.records:
                    return self.answer("没有对应的服务数据")
                if rkey in self.ratings or rkey in new_ratings:
                    return self.answer("评价数据不可重复")
                if int(item["satisfaction"]) < 3 and not (
                    item.get("evalDetail") or item.get("writingEvaluation")
                ):
                    return self.answer("差评必须勾选详情或填写文字评价")
                new_ratings.add(rkey)
        self.records |= new_records
        self.ratings |= new_ratings
        return self.answer("success", {"count": len(items)})


def client_for(handler: Any, **overrides: Any) -> ProvinceClient:
    return ProvinceClient(
        config(**overrides), ZONE, httpx.MockTransport(handler), clock=lambda: NOW
    )


async def push_records(fake: FakeProvince, records: list[RecordToSend], **kw: Any) -> list[Any]:
    client = client_for(fake, **kw)
    try:
        return await client.push_records(records)
    finally:
        await client.close()


async def push_ratings(fake: FakeProvince, ratings: list[RatingToSend], **kw: Any) -> list[Any]:
    client = client_for(fake, **kw)
    try:
        return await client.push_ratings(ratings)
    finally:
        await client.close()


# --- the envelope ---------------------------------------------------------------------------------


async def test_the_envelope_is_sealed_signed_and_carries_the_tenancy_header() -> None:
    seen: list[httpx.Request] = []
    fake = FakeProvince()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return fake(request)

    client = client_for(handler)
    results = await client.push_records([record(1), record(2)])
    await client.close()

    body = json.loads(seen[0].content)
    txn = body["txnBodyCom"]
    assert seen[0].url == f"{BASE}/addEvaluateService"
    assert seen[0].headers["C-Tenancy-Id"] == "370000000000"
    assert set(body) == {"txnBodyCom", "txnCommCom"} and body["txnCommCom"] == {}
    assert set(txn) == {"sign", "params", "time", "appMark"}
    assert (txn["time"], txn["appMark"]) == ("20261127090203", "PINGYIN")
    assert decrypt(PRIVATE, txn["sign"]) == b"20261127090203PINGYINword-of-the-app"
    assert set(txn["params"]) == {"evaluate"} and len(txn["params"]["evaluate"]) == 2
    items = [json.loads(decrypt(PRIVATE, c)) for c in txn["params"]["evaluate"]]
    assert [[i["projectNo"] for i in chunk] for chunk in items] == [["37PY0001"], ["37PY0002"]]
    assert "张三" not in seen[0].content.decode() and "370124199001011234" not in str(body)
    assert results == [ItemResult(Outcome.accepted)] * 2


async def test_items_are_packed_n_to_a_ciphertext_when_configured() -> None:
    fake = FakeProvince()

    await push_records(fake, [record(n) for n in range(5)], items_per_ciphertext=2)

    entries = fake.calls[0]["txnBodyCom"]["params"]["evaluate"]
    assert [len(json.loads(decrypt(PRIVATE, e))) for e in entries] == [2, 2, 1]
    assert len(fake.records) == 5


async def test_c1c2c3_and_base64_reach_a_province_that_reads_them() -> None:
    fake = FakeProvince(mode=CipherMode.c1c2c3, encoding=CipherEncoding.base64)

    results = await push_records(
        fake,
        [record(1)],
        cipher_mode=CipherMode.c1c2c3,
        cipher_encoding=CipherEncoding.base64,
    )

    assert results == [ItemResult(Outcome.accepted)]


async def test_a_rating_reaches_the_ratings_url_with_its_fields() -> None:
    fake = FakeProvince(records={("37PY0001", "1")})

    results = await push_ratings(fake, [rating(1, level=2, tags=("601", "602"))])

    assert results == [ItemResult(Outcome.accepted)]
    (item,) = fake.items_seen[0]
    assert (item["satisfaction"], item["evalDetail"], item["pf"]) == ("2", "601,602", "4")
    assert fake.ratings == {("37PY0001", "1", "1")}


# --- answers per item -----------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["desc", "code"])
async def test_a_record_already_there_counts_as_delivered(style: str) -> None:
    fake = FakeProvince(style=style, records={("37PY0001", "1")})

    (result,) = await push_records(fake, [record(1)])

    assert result.outcome is Outcome.duplicate and result.delivered
    assert result.message == "已存在该条服务信息，请勿重复提交！"


@pytest.mark.parametrize("style", ["desc", "code"])
async def test_a_first_rating_already_there_counts_as_delivered(style: str) -> None:
    fake = FakeProvince(style=style, records={("37PY0001", "1")})
    fake.ratings.add(("37PY0001", "1", "1"))

    (result,) = await push_ratings(fake, [rating(1)])

    assert result.outcome is Outcome.duplicate and result.delivered


@pytest.mark.parametrize("style", ["desc", "code"])
async def test_a_follow_up_refused_as_a_repeat_is_its_own_outcome_never_delivered(
    style: str,
) -> None:
    fake = FakeProvince(style=style, records={("37PY0001", "1")})
    fake.ratings.add(("37PY0001", "1", "2"))

    (result,) = await push_ratings(fake, [rating(1, assess_number=2)])

    assert result.outcome is Outcome.followup_refused and not result.delivered
    assert result.message == "评价数据不可重复"


@pytest.mark.parametrize("style", ["desc", "code"])
async def test_a_rating_before_its_record_is_no_record(style: str) -> None:
    fake = FakeProvince(style=style)

    (result,) = await push_ratings(fake, [rating(1)])

    assert result.outcome is Outcome.no_record and not result.delivered
    assert result.message == "没有对应的服务数据"


@pytest.mark.parametrize("style", ["desc", "code"])
async def test_a_bad_rating_without_a_reason_is_rejected_with_the_text(style: str) -> None:
    fake = FakeProvince(style=style, records={("37PY0001", "1")})

    (result,) = await push_ratings(fake, [rating(1, level=1, tags=(), comment="")])

    assert result == ItemResult(Outcome.rejected, "差评必须勾选详情或填写文字评价")


async def test_a_success_whose_body_says_false_is_the_items_refusal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"success": "false", "message": "没有对应的服务数据"})
        return httpx.Response(200, json={"C-Response-Desc": "success", "C-Response-Body": body})

    client = client_for(handler)
    (result,) = await client.push_ratings([rating(1)])
    await client.close()

    assert result.outcome is Outcome.no_record


async def test_self_built_items_are_not_sent_and_keep_their_place() -> None:
    fake = FakeProvince()
    self_built = record(2, item_code="113701240043190730000000001000")

    results = await push_records(fake, [record(1), self_built, record(3)])

    assert [r.outcome for r in results] == [
        Outcome.accepted,
        Outcome.not_forwardable,
        Outcome.accepted,
    ]
    assert "自建事项" in results[1].message
    assert fake.records == {("37PY0001", "1"), ("37PY0003", "1")}


async def test_a_batch_of_only_self_built_items_makes_no_call() -> None:
    fake = FakeProvince()

    results = await push_records(fake, [record(1, item_code="1137012400000000000000000000001")])

    assert [r.outcome for r in results] == [Outcome.not_forwardable] and fake.calls == []


async def test_nothing_to_send_makes_no_call() -> None:
    fake = FakeProvince()

    assert await push_records(fake, []) == [] and fake.calls == []


# --- one bad item in a batch ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, 3, 7])
async def test_one_refused_item_in_eight_leaves_seven_delivered_in_log_calls(bad: int) -> None:
    fake = FakeProvince(records={(f"37PY{n:04d}", "1") for n in range(8) if n != bad})
    ratings = [rating(n) for n in range(8)]

    results = await push_ratings(fake, ratings)

    assert len(results) == 8
    assert [r.outcome for r in results] == [
        Outcome.no_record if n == bad else Outcome.accepted for n in range(8)
    ]
    assert results[bad].message == "没有对应的服务数据"
    assert fake.ratings == {(f"37PY{n:04d}", "1", "1") for n in range(8) if n != bad}
    assert len(fake.calls) <= 2 * 3 + 1  # the whole batch, then two halves per level: not 8


async def test_one_refused_item_in_a_large_batch_costs_logarithmic_calls() -> None:
    fake = FakeProvince()
    fake.records = {(f"37PY{n:04d}", "1") for n in range(1, 200)}
    fake.records.add(("37PY0000", "1"))
    batch = [record(n) for n in range(200, 328)] + [record(0)]  # 129 items, the last one known

    results = await push_records(fake, batch)

    assert sum(r.outcome is Outcome.accepted for r in results) == 128
    assert results[-1].outcome is Outcome.duplicate
    assert len(fake.calls) <= 2 * 8 + 1


async def test_several_bad_items_each_keep_their_own_text_in_order() -> None:
    fake = FakeProvince(records={(f"37PY{n:04d}", "1") for n in (0, 1, 3, 4)})
    fake.ratings.add(("37PY0004", "1", "2"))
    ratings = [
        rating(0),
        rating(1, level=2, tags=(), comment=""),
        rating(2),
        rating(3),
        rating(4, assess_number=2),
    ]

    results = await push_ratings(fake, ratings)

    assert [r.outcome for r in results] == [
        Outcome.accepted,
        Outcome.rejected,
        Outcome.no_record,
        Outcome.accepted,
        Outcome.followup_refused,
    ]


async def test_a_failure_while_splitting_keeps_the_answered_halves_and_leaves_the_rest_unsent() -> (
    None
):
    fake = FakeProvince(records={(f"37PY{n:04d}", "1") for n in range(7)})
    answered = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        # Answered: the batch (refused), items 0-3, items 4-5; then the province is down.
        if answered == 3:
            return httpx.Response(503, text="down")
        answered += 1
        return fake(request)

    client = client_for(handler)
    results = await client.push_ratings([rating(n) for n in range(8)])
    await client.close()

    assert [r.outcome for r in results] == [Outcome.accepted] * 6 + [Outcome.unsent] * 2
    assert "503" in results[6].message and not results[6].delivered
    assert len(fake.ratings) == 6


# --- the whole call fails -------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["desc", "code"])
async def test_a_wrong_app_word_raises_the_credential_error_with_the_text(style: str) -> None:
    fake = FakeProvince(style=style, app_word="the-real-word")

    with pytest.raises(ProvinceRefusedCall) as caught:
        await push_records(fake, [record(n) for n in range(8)])

    assert caught.value.reason == "签名验证失败"
    assert "密钥或应用标识错误" in str(caught.value)
    assert len(fake.calls) == 1 and fake.records == set()


async def test_a_wrong_public_key_raises_the_credential_error() -> None:
    _, other_public = generate_key_pair()
    fake = FakeProvince()

    with pytest.raises(ProvinceRefusedCall, match="sign解密失败"):
        await push_ratings(fake, [rating(1)], public_key=other_public)


async def test_a_wrong_tenancy_raises_the_credential_error() -> None:
    fake = FakeProvince()

    with pytest.raises(ProvinceRefusedCall, match="租户"):
        await push_records(fake, [record(1)], tenancy_id="370124000000")


@pytest.mark.parametrize("status", [401, 403])
async def test_an_http_refusal_of_access_is_the_credential_error(status: int) -> None:
    client = client_for(lambda request: httpx.Response(status, text="forbidden"))

    with pytest.raises(ProvinceRefusedCall):
        await client.push_records([record(1)])
    await client.close()


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_server_errors_and_throttling_are_unavailable(status: int) -> None:
    client = client_for(lambda request: httpx.Response(status, text="down"))

    with pytest.raises(ProvinceUnavailable, match=str(status)):
        await client.push_ratings([rating(1)])
    await client.close()


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.ConnectError("refused")],
)
async def test_timeouts_and_network_errors_are_unavailable(error: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    client = client_for(handler)
    with pytest.raises(ProvinceUnavailable):
        await client.push_records([record(1)])
    await client.close()


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>gateway</html>"),
        httpx.Response(200, json={"status": "ok"}),
        httpx.Response(404, text="not found"),
    ],
)
async def test_an_answer_we_cannot_read_is_unavailable(response: httpx.Response) -> None:
    client = client_for(lambda request: response)

    with pytest.raises(ProvinceUnavailable):
        await client.push_records([record(1)])
    await client.close()


async def test_a_busy_province_is_unavailable_not_a_rejection() -> None:
    fake = FakeProvince()
    client = client_for(lambda request: fake.answer("系统繁忙，请稍后再试"))

    with pytest.raises(ProvinceUnavailable, match="繁忙"):
        await client.push_records([record(1), record(2)])
    await client.close()


def test_every_whole_call_failure_is_one_error_type() -> None:
    for error in (ProvinceUnavailable, ProvinceRefusedCall, ProvinceEndpointOff):
        assert issubclass(error, ProvinceCallFailed)


# --- reading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["desc", "code"])
async def test_indicators_come_from_the_norm_interface_in_our_numbering(style: str) -> None:
    fake = FakeProvince(
        style=style,
        norm=[
            {"code": "510", "name": "服务态度好", "satisfaction": "4,5", "version": "V2020"},
            {"code": "601", "name": "等待时间长", "satisfaction": "1,2", "version": "V2020"},
        ],
    )
    client = client_for(fake)

    found = await client.fetch_indicators()
    await client.close()

    assert [(i.code, i.text, sorted(i.levels), i.version) for i in found] == [
        ("510", "服务态度好", [4, 5], "V2020"),
        ("601", "等待时间长", [1, 2], "V2020"),
    ]
    txn = fake.calls[0]["txnBodyCom"]
    assert txn["params"] == {} and decrypt(PRIVATE, txn["sign"]).startswith(b"20261127090203")


async def test_holdings_read_the_keys_the_province_holds_for_a_day() -> None:
    fake = FakeProvince(records={("37PY0001", "1")})
    fake.ratings.add(("37PY0001", "1", "1"))
    client = client_for(fake)

    held = await client.holdings(date(2026, 11, 27))
    await client.close()

    assert fake.calls[0]["txnBodyCom"]["params"] == {"day": "2026-11-27"}
    assert held.records == {("37PY0001", 1)} and held.ratings == {("37PY0001", 1, 1)}


async def test_ticket_results_reach_their_url_sealed() -> None:
    fake = FakeProvince()
    client = client_for(fake)
    result = TicketResultToSend(
        ticket_id=1,
        project_no="PY0001",
        service_number=1,
        assess_number=1,
        result=RectifyResult.rectified,
        measures="加开窗口",
        feedback="满意",
        closed_at=NOW,
    )

    answers = await client.push_ticket_results([result])
    await client.close()

    assert answers == [ItemResult(Outcome.accepted)]
    assert fake.items_seen[0][0]["rectifyResult"] == "1"


async def test_optional_endpoints_that_are_off_say_so() -> None:
    client = client_for(FakeProvince(), ticket_results_url=None, holdings_url=None)

    assert not client.sends_ticket_results and not client.has_holdings
    with pytest.raises(ProvinceEndpointOff, match="PROVINCE_HOLDINGS_URL"):
        await client.holdings(date(2026, 11, 27))
    with pytest.raises(ProvinceEndpointOff, match="PROVINCE_TICKET_RESULTS_URL"):
        await client.push_ticket_results([])
    await client.close()


async def test_one_sign_serves_the_calls_of_one_second() -> None:
    fake = FakeProvince()
    client = client_for(fake)

    await client.push_records([record(1)])
    await client.push_records([record(2)])
    await client.close()

    assert fake.calls[0]["txnBodyCom"]["sign"] == fake.calls[1]["txnBodyCom"]["sign"]


async def test_a_record_changed_after_its_push_is_still_one_record_to_the_province() -> None:
    fake = FakeProvince()

    await push_records(fake, [record(1)])
    (again,) = await push_records(fake, [replace(record(1), finished_at=NOW)])

    assert again.outcome is Outcome.duplicate and again.delivered
