"""The province simulator over HTTP, as a Shandong county's integration code would talk to it.

Requests are built here from the evidence (model.py's table) and encrypted with gmalglib
directly; nothing of our connector is used. Most tests run the ASGI app in-process
(httpx.ASGITransport) with a fixed clock; the last ones run the real process on loopback.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from gmalglib.sm2 import SM2
from gmssl import sm2 as gmssl_sm2

from connectors.province_sim import model
from connectors.province_sim.api import AnswerStyle, SimulatorApp
from connectors.province_sim.cipher import Decryptor
from connectors.province_sim.model import Kind
from connectors.province_sim.service import Credentials, Province
from connectors.province_sim.store import Store
from tests.forwarding_support import free_port, wait_port
from tests.gmssl_support import simulator_key_pair

CHINA = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=CHINA)
KEYS = simulator_key_pair()  # gmssl encrypts with it
APP_MARK, APP_WORD = "pingyin-hcp", "s3cret-word"
TENANCY = {"C-Tenancy-Id": "370000000000"}
TASK_CODE = "1137012400431862270140001001001"
RECORDS, RATINGS, RESULTS = "/hcp/addEvaluateService", "/hcp/addEvaluate", "/hcp/rectifyFeedback"
NORM, HOLDINGS = "/hcp/norm", "/hcp/dailyHoldings"


def wire(moment: datetime) -> str:
    return moment.strftime(model.WIRE_TIME)


class County:
    """What a county's integration code sends: E1 envelope, E2 sign and encrypted arrays."""

    def __init__(self, public_hex: str = KEYS.public_hex, app_word: str = APP_WORD) -> None:
        self.sm2 = SM2(pk=bytes.fromhex(public_hex))
        self.app_word = app_word
        self.moment = NOW

    def encrypt(self, text: str) -> str:
        return self.sm2.encrypt(text.encode()).hex()

    def envelope(
        self,
        params: Any,
        *,
        sent: datetime | None = None,
        app_mark: str = APP_MARK,
        sign: str | None = None,
    ) -> dict[str, Any]:
        sent_at = (sent or self.moment).strftime(model.ENVELOPE_TIME)
        if sign is None:
            sign = self.encrypt(sent_at + app_mark + self.app_word)
        body = {"sign": sign, "params": params, "time": sent_at, "appMark": app_mark}
        return {"txnBodyCom": body, "txnCommCom": {}}

    def items(self, *batches: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
        entries = [self.encrypt(json.dumps(batch, ensure_ascii=False)) for batch in batches]
        return self.envelope({"evaluate": entries}, **options)


def record(project: str = "37PY001", number: int = 1, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "projectNo": project,
        "serviceNumber": number,
        "serviceName": "受理",
        "serviceTime": wire(NOW - timedelta(minutes=30)),
        "taskCode": TASK_CODE,
        "taskName": "个体工商户设立登记",
        "proStatus": "1",
        "orgcode": "370124000000_113701240043186227",
        "orgName": "平阴县行政审批服务局",
        "deptCode": "113701240043186227",
        "areaCode": "370124000000",
        "userProp": "1",
        "userName": "张三",
        "userPageType": "111",
        "mobile": "13800001234",
        "projectType": "1",
        "acceptDate": wire(NOW - timedelta(hours=1)),
        "proChannel": "2",
        "certkeyGOV": "370124199001011234",
        "dataSource": "165",
    }
    fields.update(changes)
    return fields


def rating(project: str = "37PY001", number: int = 1, assess: int = 1, **changes: Any) -> dict:
    fields: dict[str, Any] = {
        "projectNo": project,
        "serviceNumber": str(number),
        "assessNumber": str(assess),
        "pf": "4",
        "satisfaction": "5",
        "evalDetail": "510,517",
        "writingEvaluation": "",
        "assessTime": wire(NOW - timedelta(seconds=2)),
        "dataSource": "165",
        "name": "张三",
    }
    fields.update(changes)
    return fields


def result(project: str = "37PY001", **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "projectNo": project,
        "serviceNumber": "1",
        "assessNumber": "1",
        "rectifyResult": "1",
        "rectifyMeasures": "一次性告知清单上墙",
        "rectifyFeedback": "已回访，群众满意",
        "rectifyTime": wire(NOW - timedelta(seconds=1)),
        "dataSource": "165",
    }
    fields.update(changes)
    return fields


def make_app(db: Path | str, **options: Any) -> SimulatorApp:
    styles = options.pop("styles", None)
    province = Province(
        decryptor=Decryptor(KEYS.private_hex, **options),
        credentials=Credentials(APP_MARK, APP_WORD),
        store=Store(db),
        clock=NOW.timestamp,
    )
    return SimulatorApp(province, styles)


class Sim:
    """The in-process simulator and a county talking to it."""

    def __init__(self, app: SimulatorApp, client: httpx.AsyncClient) -> None:
        self.app, self.client, self.county = app, client, County()

    async def post(
        self, path: str, envelope: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = await self.client.post(
            path, json=envelope, headers=TENANCY if headers is None else headers
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def send(self, path: str, *batches: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.post(path, self.county.items(*batches))

    async def keys(self, project_no: str) -> dict[tuple[str, ...], dict[str, int]]:
        answer = (await self.client.get("/sim/project", params={"project_no": project_no})).json()
        return {
            (k["kind"], *k["key"]): {"receipts": k["receipts"], "accepted": k["accepted"]}
            for k in answer["keys"]
        }

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = (await self.client.get("/sim/stats")).json()
        return stats

    async def holdings(self, day: str) -> dict[str, Any]:
        answer = await self.post(HOLDINGS, self.county.envelope({"day": day}))
        assert answer["C-Response-Desc"] == "success"
        body: dict[str, Any] = json.loads(answer["C-Response-Body"])
        return body


def accepted(answer: dict[str, Any]) -> bool:
    return answer["C-Response-Desc"] == "success" and answer["C-API-Status"] == "00"


def refused_with(answer: dict[str, Any]) -> str:
    assert answer["C-API-Status"] == "01", answer
    text: str = answer["C-Response-Desc"]
    return text


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    app = make_app(tmp_path / "province.sqlite3")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://province") as client:
        yield Sim(app, client)
    app.province.store.close()


# --- the envelope (E1, E2) ---------------------------------------------------------------------


async def test_a_record_then_its_rating_are_accepted_and_counted_once(sim: Sim) -> None:
    assert accepted(await sim.send(RECORDS, [record()]))
    assert accepted(await sim.send(RATINGS, [rating()]))

    keys = await sim.keys("37PY001")
    assert keys == {
        ("record", "37PY001", "1"): {"receipts": 1, "accepted": 1},
        ("rating", "37PY001", "1", "1"): {"receipts": 1, "accepted": 1},
    }


async def test_success_carries_a_json_string_body(sim: Sim) -> None:
    answer = await sim.send(RECORDS, [record(number=1), record(number=2)])

    assert answer["C-Response-Code"] == "000000000000"
    assert json.loads(answer["C-Response-Body"]) == {"received": 2, "accepted": 2}


@pytest.mark.parametrize(
    "headers", [{}, {"C-Tenancy-Id": "370124"}, {"C-Tenancy-Id": "370000000001"}]
)
async def test_a_missing_or_wrong_tenancy_header_is_refused(
    sim: Sim, headers: dict[str, str]
) -> None:
    answer = await sim.post(RECORDS, sim.county.items([record()]), headers=headers)

    assert refused_with(answer) == model.WRONG_TENANCY
    assert await sim.keys("37PY001") == {}


async def test_an_unknown_app_mark_is_refused(sim: Sim) -> None:
    answer = await sim.post(RECORDS, sim.county.items([record()], app_mark="another-county"))

    assert refused_with(answer) == model.UNKNOWN_APP


async def test_a_sign_made_with_another_app_word_is_refused(sim: Sim) -> None:
    county = County(app_word="wrong-word")

    answer = await sim.post(RECORDS, county.items([record()]))

    assert refused_with(answer) == model.SIGN_MISMATCH


async def test_a_sign_of_another_time_is_refused(sim: Sim) -> None:
    other = (NOW - timedelta(seconds=1)).strftime(model.ENVELOPE_TIME)
    sign = sim.county.encrypt(other + APP_MARK + APP_WORD)

    answer = await sim.post(RECORDS, sim.county.items([record()], sign=sign))

    assert refused_with(answer) == model.SIGN_MISMATCH


async def test_a_sign_in_clear_is_refused(sim: Sim) -> None:
    sent_at = NOW.strftime(model.ENVELOPE_TIME)

    answer = await sim.post(
        RECORDS, sim.county.items([record()], sign=sent_at + APP_MARK + APP_WORD)
    )

    assert refused_with(answer) == model.SIGN_UNREADABLE


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
async def test_a_time_more_than_five_minutes_off_is_refused(sim: Sim, offset: timedelta) -> None:
    answer = await sim.post(RECORDS, sim.county.items([record()], sent=NOW + offset))

    assert refused_with(answer) == model.STALE_TIME


async def test_a_time_four_minutes_off_is_accepted(sim: Sim) -> None:
    answer = await sim.post(RECORDS, sim.county.items([record()], sent=NOW - timedelta(minutes=4)))

    assert accepted(answer)


async def test_items_in_clear_are_refused(sim: Sim) -> None:
    envelope = sim.county.envelope({"evaluate": [json.dumps([record()], ensure_ascii=False)]})

    answer = await sim.post(RECORDS, envelope)

    assert refused_with(answer) == model.ENTRY_UNREADABLE
    assert await sim.keys("37PY001") == {}


async def test_an_entry_that_is_no_json_array_is_refused(sim: Sim) -> None:
    envelope = sim.county.envelope({"evaluate": [sim.county.encrypt(json.dumps(record()))]})

    assert refused_with(await sim.post(RECORDS, envelope)) == model.ENTRY_NOT_ARRAY


async def test_an_empty_call_is_refused(sim: Sim) -> None:
    answer = await sim.post(RECORDS, sim.county.envelope({"evaluate": []}))

    assert refused_with(answer) == model.NO_ITEMS


async def test_a_body_without_txnBodyCom_is_refused(sim: Sim) -> None:
    answer = await sim.post(RECORDS, {"params": {"evaluate": []}})

    assert refused_with(answer) == model.BAD_ENVELOPE


# --- order, duplicates and atomic refusal (E5, E6) ---------------------------------------------


async def test_a_rating_before_its_record_is_refused_and_counted_received(sim: Sim) -> None:
    answer = await sim.send(RATINGS, [rating()])

    assert refused_with(answer) == model.NO_RECORD
    keys = await sim.keys("37PY001")
    assert keys == {("rating", "37PY001", "1", "1"): {"receipts": 1, "accepted": 0}}


async def test_a_record_sent_again_is_refused_as_already_there(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])

    answer = await sim.send(RECORDS, [record(serviceName="受理（重发）")])

    assert refused_with(answer) == model.RECORD_EXISTS
    assert (await sim.keys("37PY001"))[("record", "37PY001", "1")] == {
        "receipts": 2,
        "accepted": 1,
    }


async def test_a_rating_sent_again_is_refused_as_not_repeatable(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])
    await sim.send(RATINGS, [rating()])

    answer = await sim.send(RATINGS, [rating(satisfaction="4", evalDetail="")])

    assert refused_with(answer) == model.RATING_EXISTS
    assert (await sim.keys("37PY001"))[("rating", "37PY001", "1", "1")] == {
        "receipts": 2,
        "accepted": 1,
    }


async def test_a_follow_up_rating_is_accepted_once(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])
    await sim.send(RATINGS, [rating()])

    assert accepted(await sim.send(RATINGS, [rating(assess=2, satisfaction="4")]))
    assert refused_with(await sim.send(RATINGS, [rating(assess=2)])) == model.RATING_EXISTS


async def test_follow_ups_are_refused_as_not_repeatable_when_the_fault_is_set(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])
    await sim.send(RATINGS, [rating()])
    await sim.client.post("/sim/faults", json={"refuse_followups": True})

    answer = await sim.send(RATINGS, [rating(assess=2)])

    assert refused_with(answer) == model.RATING_EXISTS
    assert (await sim.keys("37PY001"))[("rating", "37PY001", "1", "2")]["accepted"] == 0


async def test_a_bad_rating_without_reason_is_refused(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])

    answer = await sim.send(RATINGS, [rating(satisfaction="1", evalDetail="")])

    assert refused_with(answer) == model.BAD_NEEDS_REASON


async def test_a_self_built_items_record_is_refused(sim: Sim) -> None:
    answer = await sim.send(RECORDS, [record(taskCode="3701240000000000000000000000001")])

    assert refused_with(answer) == model.SELF_BUILT


async def test_one_bad_item_refuses_the_whole_call_and_nothing_of_it_is_held(sim: Sim) -> None:
    good, bad = record(number=1), record(number=2, areaCode="370124")

    answer = await sim.send(RECORDS, [good], [bad])

    assert refused_with(answer).startswith(model.BAD_STRUCTURE)
    assert json.loads(answer["C-Response-Body"])["index"] == 1
    keys = await sim.keys("37PY001")
    assert {k: v["accepted"] for k, v in keys.items()} == {
        ("record", "37PY001", "1"): 0,
        ("record", "37PY001", "2"): 0,
    }
    assert accepted(await sim.send(RECORDS, [good]))


async def test_one_duplicate_refuses_the_whole_call(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])
    await sim.send(RATINGS, [rating(number=1)])
    await sim.send(RECORDS, [record(number=2)])

    answer = await sim.send(RATINGS, [rating(number=2), rating(number=1)])

    assert refused_with(answer) == model.RATING_EXISTS
    assert (await sim.keys("37PY001"))[("rating", "37PY001", "2", "1")]["accepted"] == 0


async def test_a_record_and_its_rating_may_share_a_call_of_records_first(sim: Sim) -> None:
    await sim.send(RECORDS, [record(number=1), record(number=2)])

    answer = await sim.send(
        RATINGS, [rating(number=1), rating(number=2, satisfaction="3", evalDetail="")]
    )

    assert accepted(answer)
    assert json.loads(answer["C-Response-Body"]) == {"received": 2, "accepted": 2}


# --- rectification results (assumed) -----------------------------------------------------------


async def test_a_result_needs_its_rating_and_is_held_once(sim: Sim) -> None:
    assert refused_with(await sim.send(RESULTS, [result()])) == model.NO_RATING
    await sim.send(RECORDS, [record()])
    await sim.send(RATINGS, [rating(satisfaction="1", evalDetail="101")])

    assert accepted(await sim.send(RESULTS, [result()]))
    assert accepted(await sim.send(RESULTS, [result()]))

    keys = await sim.keys("37PY001")
    assert keys[("ticket_result", "37PY001", "1", "1")] == {"receipts": 3, "accepted": 1}


# --- answer styles (E3, E4) --------------------------------------------------------------------


async def test_the_code_style_answers_code_and_success(sim: Sim) -> None:
    await sim.client.post("/sim/faults", json={"answer_style": {"rating": "code"}})
    assert accepted(await sim.send(RECORDS, [record()]))

    first = await sim.send(RATINGS, [rating()])
    again = await sim.send(RATINGS, [rating()])

    assert (first["code"], first["success"]) == ("0", "true")
    assert (again["code"], again["success"], again["msg"]) == ("1", "false", model.RATING_EXISTS)


async def test_the_code_style_can_be_the_start_up_default(tmp_path: Path) -> None:
    app = make_app(tmp_path / "p.sqlite3", styles={kind: AnswerStyle.CODE for kind in Kind})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://province"
    ) as client:
        sim = Sim(app, client)
        answer = await sim.send(RECORDS, [record()])
        await client.post("/sim/faults", json={})
        again = await sim.send(RECORDS, [record()])

    assert answer["code"] == "0" and answer["success"] == "true"
    assert again["msg"] == model.RECORD_EXISTS


# --- cipher options ----------------------------------------------------------------------------


async def test_base64_c1c2c3_counties_are_served_when_the_simulator_is_so_started(
    tmp_path: Path,
) -> None:
    # A Python county with gmssl's default mode (C1C2C3), sending base64.
    gmssl = gmssl_sm2.CryptSM2(private_key="", public_key=KEYS.public_hex[2:], mode=0)

    def encrypt(text: str) -> str:
        return base64.b64encode(gmssl.encrypt(text.encode())).decode()

    app = make_app(tmp_path / "p.sqlite3", mode="c1c2c3", encoding="base64")
    sent_at = NOW.strftime(model.ENVELOPE_TIME)
    envelope = {
        "txnBodyCom": {
            "sign": encrypt(sent_at + APP_MARK + APP_WORD),
            "params": {"evaluate": [encrypt(json.dumps([record()], ensure_ascii=False))]},
            "time": sent_at,
            "appMark": APP_MARK,
        },
        "txnCommCom": {},
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://province"
    ) as client:
        answer = (await client.post(RECORDS, json=envelope, headers=TENANCY)).json()

    assert accepted(answer)


# --- norm and daily holdings (assumed shapes) --------------------------------------------------


async def test_the_norm_lists_national_indicators_by_level(sim: Sim) -> None:
    answer = await sim.post(NORM, sim.county.envelope({}))

    norm = json.loads(answer["C-Response-Body"])
    by_code = {entry["code"]: entry for entry in norm}
    assert {"510", "517"} <= set(by_code)
    assert "5" in by_code["510"]["satisfaction"].split(",")
    assert all({"code", "name", "satisfaction", "version"} <= set(e) for e in norm)


async def test_the_norm_also_answers_jinings_form_post(sim: Sim) -> None:
    sent_at = NOW.strftime(model.ENVELOPE_TIME)
    form = {
        "appMark": APP_MARK,
        "time": sent_at,
        "sign": sim.county.encrypt(sent_at + APP_MARK + APP_WORD),
    }

    response = await sim.client.post(NORM, data=form, headers=TENANCY)

    assert accepted(response.json())


async def test_the_norm_refuses_a_wrong_sign(sim: Sim) -> None:
    county = County(app_word="guess")

    assert refused_with(await sim.post(NORM, county.envelope({}))) == model.SIGN_MISMATCH


async def test_holdings_list_what_was_accepted_that_china_day(sim: Sim) -> None:
    await sim.send(RECORDS, [record(number=1), record(number=2)])
    await sim.send(RATINGS, [rating(number=2)])
    await sim.send(RATINGS, [rating(number=9)])  # refused: no record

    today = await sim.holdings("2026-03-02")
    other_day = await sim.holdings("2026-03-01")

    assert today == {
        "records": [["37PY001", "1"], ["37PY001", "2"]],
        "ratings": [["37PY001", "2", "1"]],
    }
    assert other_day == {"records": [], "ratings": []}


async def test_holdings_refuse_a_day_in_another_format(sim: Sim) -> None:
    answer = await sim.post(HOLDINGS, sim.county.envelope({"day": "20260302"}))

    assert refused_with(answer) == model.BAD_DAY


# --- persistence -------------------------------------------------------------------------------


async def test_a_restart_forgets_nothing(tmp_path: Path) -> None:
    db = tmp_path / "province.sqlite3"
    for attempt in range(2):
        app = make_app(db)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://province"
        ) as client:
            sim = Sim(app, client)
            if attempt == 0:
                await sim.send(RECORDS, [record()])
                await sim.send(RATINGS, [rating()])
            else:
                answer = await sim.send(RATINGS, [rating()])
                assert refused_with(answer) == model.RATING_EXISTS
                assert (await sim.holdings("2026-03-02"))["ratings"] == [["37PY001", "1", "1"]]
                keys = await sim.keys("37PY001")
        app.province.store.close()

    assert keys[("rating", "37PY001", "1", "1")] == {"receipts": 2, "accepted": 1}


# --- controls ----------------------------------------------------------------------------------


async def test_stats_count_kinds_refusals_and_lag(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])
    await sim.send(RATINGS, [rating()])
    await sim.send(RATINGS, [rating()])

    stats = await sim.stats()

    assert stats["record"] == {"distinct": 1, "receipts": 1}
    assert stats["rating"] == {"distinct": 1, "receipts": 2}
    assert stats["refusals"] == {model.RATING_EXISTS: 1}
    assert stats["lag_ms"]["p50"] == 2000  # assessed 2 s before the province's clock
    last = stats["last_accepted"][0]
    assert (last["projectNo"], last["evalDetail"], last["accepted_at"]) == (
        "37PY001",
        "510,517",
        "2026-03-02 10:00:00",
    )


async def test_the_page_for_a_person_shows_the_last_ratings_in_chinese(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])
    await sim.send(RATINGS, [rating(satisfaction="1", evalDetail="101")])

    page = (await sim.client.get("/sim/")).text
    as_html = await sim.client.get("/sim/stats", headers={"Accept": "text/html"})

    assert 'http-equiv="refresh" content="2"' in page
    assert "37PY001" in page and "非常不满意" in page and "服务态度差" in page
    assert as_html.headers["content-type"].startswith("text/html")


async def test_reset_forgets_everything(sim: Sim) -> None:
    await sim.send(RECORDS, [record()])

    await sim.client.post("/sim/reset")

    assert await sim.keys("37PY001") == {}
    assert accepted(await sim.send(RECORDS, [record()]))


async def test_the_project_view_takes_the_countys_number_too(sim: Sim) -> None:
    await sim.send(RECORDS, [record(project="37PY7")])

    assert set(await sim.keys("PY7")) == {("record", "37PY7", "1")}


async def test_down_and_error_faults_answer_5xx_until_cleared(sim: Sim) -> None:
    await sim.client.post("/sim/faults", json={"down_seconds": 600})
    down = await sim.client.post(RECORDS, json=sim.county.items([record()]), headers=TENANCY)
    await sim.client.post("/sim/faults", json={"error_rate": 1.0})
    error = await sim.client.post(RECORDS, json=sim.county.items([record()]), headers=TENANCY)
    await sim.client.post("/sim/faults", json={})
    fine = await sim.client.post(RECORDS, json=sim.county.items([record()]), headers=TENANCY)

    assert (down.status_code, error.status_code, fine.status_code) == (503, 500, 200)
    assert (await sim.keys("37PY001"))[("record", "37PY001", "1")] == {
        "receipts": 1,
        "accepted": 1,
    }


# --- the real process --------------------------------------------------------------------------


@pytest.fixture
def process_db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "province.sqlite3"


def start(db: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        "SIM_PRIVATE_KEY": KEYS.private_hex,
        "SIM_APP_MARK": APP_MARK,
        "SIM_APP_WORD": APP_WORD,
    }
    command = [sys.executable, "-m", "connectors.province_sim", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--db", str(db), *extra], cwd=Path(__file__).resolve().parents[2], env=env
    )
    wait_port(port, process)
    return f"http://127.0.0.1:{port}", process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(10)


async def test_the_process_accepts_real_time_calls_and_keeps_them_across_restart(
    process_db: Path,
) -> None:
    county = County()
    county.moment = datetime.now(CHINA)
    now = wire(county.moment)
    fresh_record = record(serviceTime=now, acceptDate=now)
    fresh_rating = rating(assessTime=now)
    url, process = start(process_db)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            first = await client.post(RECORDS, json=county.items([fresh_record]), headers=TENANCY)
            second = await client.post(RATINGS, json=county.items([fresh_rating]), headers=TENANCY)
    finally:
        stop(process)
    url, process = start(process_db)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            again = await client.post(RATINGS, json=county.items([fresh_rating]), headers=TENANCY)
            stats = (await client.get("/sim/stats")).json()
    finally:
        stop(process)

    assert accepted(first.json()) and accepted(second.json())
    assert refused_with(again.json()) == model.RATING_EXISTS
    assert stats["rating"] == {"distinct": 1, "receipts": 2}


async def test_the_demo_keys_mode_uses_the_committed_pair(tmp_path: Path) -> None:
    demo = json.loads(
        (Path(model.__file__).with_name("demo_keys.json")).read_text(encoding="utf-8")
    )
    county = County(public_hex=demo["public_key"], app_word=demo["app_word"])
    county.moment = datetime.now(CHINA)
    envelope = county.envelope({}, app_mark=demo["app_mark"])
    url, process = start(tmp_path / "demo.sqlite3", "--demo-keys")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            answer = (await client.post(NORM, json=envelope, headers=TENANCY)).json()
    finally:
        stop(process)

    assert accepted(answer)
