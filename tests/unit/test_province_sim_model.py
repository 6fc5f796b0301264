"""The province's item checks, one rule at a time, each from its row in the evidence table
(connectors/province_sim/model.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from connectors.province_sim import model
from connectors.province_sim.indicators import BY_CODE, INDICATORS, norm_list
from connectors.province_sim.model import Kind, Refused

NOW = datetime(2026, 3, 2, 10, 0, 0)
EARLIER = (NOW - timedelta(hours=1)).strftime(model.WIRE_TIME)
LATER = (NOW + timedelta(minutes=10)).strftime(model.WIRE_TIME)
TASK_CODE = "1137012400431862270140001001001"


def record(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "projectNo": "37PY2026000001",
        "serviceNumber": 1,
        "serviceName": "受理",
        "serviceTime": EARLIER,
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
        "acceptDate": EARLIER,
        "proChannel": "2",
        "certkeyGOV": "370124199001011234",
        "dataSource": "165",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def rating(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "projectNo": "37PY2026000001",
        "serviceNumber": "1",
        "assessNumber": "1",
        "pf": "4",
        "satisfaction": "5",
        "evalDetail": "510,517",
        "writingEvaluation": "",
        "assessTime": EARLIER,
        "dataSource": "165",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def refusal(check: Any, fields: dict[str, Any]) -> str:
    with pytest.raises(Refused) as caught:
        check(fields, NOW)
    return caught.value.text


# --- service records ---------------------------------------------------------------------------


def test_a_complete_offline_record_passes_with_its_key() -> None:
    item = model.check_record(record(), NOW)

    assert item.kind is Kind.RECORD
    assert item.key == ("37PY2026000001", "1")
    assert item.event_time == EARLIER


def test_the_offline_applicant_number_may_be_spelled_certKeyGOV_too() -> None:
    item = model.check_record(record(certkeyGOV=None, certKeyGOV="370124199001011234"), NOW)

    assert item.key == ("37PY2026000001", "1")


def test_an_online_record_needs_certKey() -> None:
    text = refusal(model.check_record, record(proChannel="1"))

    assert text.startswith(model.BAD_STRUCTURE)
    assert "certKey" in text


@pytest.mark.parametrize("name", model.RECORD_REQUIRED)
def test_a_record_without_a_required_field_is_refused(name: str) -> None:
    text = refusal(model.check_record, record(**{name: ""}))

    assert text.startswith(model.BAD_STRUCTURE)
    assert name in text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("projectNo", "PY2026000001"),  # E11: the province's number starts with 37
        ("serviceNumber", "0"),
        ("serviceNumber", "first"),
        ("areaCode", "370124"),  # E11: 12 digits
        ("areaCode", "37012400000A"),
        ("deptCode", "11370124MB0000001"),  # 17 characters
        ("deptCode", "11370124MB0000001I"),  # I is not a USCC character
        ("taskCode", TASK_CODE[:30]),  # E9: 31 characters
        ("taskHandleItem", TASK_CODE + "0"),  # 32 characters
        ("taskHandleItem", "2" + TASK_CODE[1:] + "01"),  # not starting with the taskCode
        ("proStatus", "4"),  # E13
        ("userProp", "7"),  # E14
        ("proChannel", "3"),  # E14
        ("taskType", "11"),  # E10: the county converts 11 to 20 before sending
        ("promiseType", "4"),  # E14
        ("serviceTime", "2026/03/02 09:00:00"),
        ("serviceTime", "2026-03-02T09:00:00"),
        ("acceptDate", "2026-02-30 09:00:00"),
        ("resultDate", "2026-03-02"),
        ("dataSource", "16"),  # E13: three digits
        ("dataSource", "16A"),
    ],
)
def test_a_record_field_in_the_wrong_format_is_refused(name: str, value: str) -> None:
    text = refusal(model.check_record, record(**{name: value}))

    assert text.startswith(model.BAD_STRUCTURE)
    assert name in text


def test_a_record_timed_after_the_provinces_clock_is_refused() -> None:
    text = refusal(model.check_record, record(serviceTime=LATER))

    assert "serviceTime" in text


def test_a_self_built_item_is_refused() -> None:
    assert refusal(model.check_record, record(taskCode="3701240000000000000000000000001")) == (
        model.SELF_BUILT
    )


def test_a_handle_item_extends_its_task_code() -> None:
    item = model.check_record(record(taskHandleItem=TASK_CODE + "01"), NOW)

    assert item.fields["taskHandleItem"] == TASK_CODE + "01"


# --- ratings -----------------------------------------------------------------------------------


def test_a_good_rating_with_the_indicators_seen_on_the_wire_passes() -> None:
    item = model.check_rating(rating(), NOW)

    assert item.key == ("37PY2026000001", "1", "1")


@pytest.mark.parametrize("name", model.RATING_REQUIRED)
def test_a_rating_without_a_required_field_is_refused(name: str) -> None:
    text = refusal(model.check_rating, rating(**{name: ""}))

    assert text.startswith(model.BAD_STRUCTURE)
    assert name in text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("assessNumber", "3"),
        ("pf", "0"),
        ("pf", "8"),
        ("satisfaction", "0"),
        ("satisfaction", "6"),
        ("assessTime", "2026-03-02 9:00:00"),
        ("dataSource", "1650"),
        ("deptCode", "1137"),
        ("taskCode", "123"),
        ("evalDetail", "510,999"),  # not a national indicator
        ("evalDetail", "G501"),  # county tag codes are not the nation's
    ],
)
def test_a_rating_field_in_the_wrong_format_is_refused(name: str, value: str) -> None:
    text = refusal(model.check_rating, rating(**{name: value}))

    assert text.startswith(model.BAD_STRUCTURE)
    assert name in text


@pytest.mark.parametrize("pf", ["1", "2", "3", "4", "5", "6", "7"])
def test_every_channel_of_the_national_list_passes(pf: str) -> None:
    assert model.check_rating(rating(pf=pf), NOW).fields["pf"] == pf


def test_an_indicator_offered_for_another_level_is_refused() -> None:
    text = refusal(model.check_rating, rating(satisfaction="1", evalDetail="510"))

    assert "evalDetail" in text


@pytest.mark.parametrize("level", ["1", "2"])
def test_a_bad_rating_without_indicators_or_text_is_refused(level: str) -> None:
    text = refusal(model.check_rating, rating(satisfaction=level, evalDetail=""))

    assert text == model.BAD_NEEDS_REASON


def test_a_bad_rating_with_only_a_text_passes() -> None:
    fields = rating(satisfaction="2", evalDetail="", writingEvaluation="等了两个小时")

    assert model.check_rating(fields, NOW).fields["writingEvaluation"] == "等了两个小时"


def test_a_bad_rating_with_a_bad_indicator_passes() -> None:
    assert model.check_rating(rating(satisfaction="1", evalDetail="101,105"), NOW)


def test_a_fair_rating_needs_no_reason() -> None:
    assert model.check_rating(rating(satisfaction="3", evalDetail=""), NOW)


# --- rectification results (assumed shape) -----------------------------------------------------


def test_a_rectification_result_is_keyed_like_its_rating() -> None:
    fields = {
        "projectNo": "37PY2026000001",
        "serviceNumber": "1",
        "assessNumber": "1",
        "rectifyResult": "1",
        "rectifyMeasures": "补正告知单",
        "rectifyFeedback": "已回访",
        "rectifyTime": EARLIER,
        "dataSource": "165",
    }

    assert model.check_result(fields, NOW).key == ("37PY2026000001", "1", "1")
    fields["rectifyResult"] = "4"
    assert "rectifyResult" in refusal(model.check_result, fields)


# --- keys and the indicator dictionary ---------------------------------------------------------


def test_a_key_is_read_even_from_an_item_that_will_be_refused() -> None:
    assert model.item_key(Kind.RATING, {"projectNo": "37X", "serviceNumber": "01"}) is None
    assert model.item_key(Kind.RATING, rating(serviceNumber="01", pf="9")) == (
        "37PY2026000001",
        "1",
        "1",
    )


def test_only_the_codes_seen_in_the_evidence_are_marked_seen() -> None:
    assert {i.code for i in INDICATORS if i.seen} == {"510", "517"}
    assert 5 in BY_CODE["510"].levels and 5 in BY_CODE["517"].levels


def test_the_norm_list_offers_every_level_something() -> None:
    offered = {level for entry in norm_list() for level in entry["satisfaction"].split(",")}

    assert offered == {"1", "2", "3", "4", "5"}
    assert all(entry["code"].isdigit() for entry in norm_list())
