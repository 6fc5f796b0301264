"""The Shandong wire format as pure rules: field mapping, codes, levels and how answers read."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from connectors.model import (
    CaseKind,
    ItemResult,
    Outcome,
    RatingToSend,
    RecordToSend,
    RectifyResult,
    TicketResultToSend,
    TimeUnit,
)
from connectors.province import wire

ZONE = ZoneInfo("Asia/Shanghai")
TASK_CODE = "11370124004319073Y3370111006000"  # 31 characters
HANDLE_ITEM = TASK_CODE + "01"  # 33 characters: a business item of that implementation code
USCC = "11370124004319073Y"


def record(**overrides: object) -> RecordToSend:
    values: dict[str, object] = dict(
        record_id=7,
        project_no="PY001",
        service_number=2,
        name="受理",
        occurred_at=datetime(2026, 11, 27, 1, 0, 0, tzinfo=UTC),
        item_code=TASK_CODE,
        item_name="个体工商户设立登记",
        department_code=USCC,
        department_name="平阴县行政审批服务局",
        area_code="370124000000",
        applicant_type=1,
        applicant_name="张三",
        applicant_cert_type="111",
        applicant_cert_no="370124199001011234",
        applicant_phone="13800001234",
        accepted_at=datetime(2026, 11, 27, 0, 30, 0, tzinfo=UTC),
        finished_at=None,
        window_no="W01",
        staff_no="S01",
        project_name="关于张三个体工商户设立登记的业务",
        item_kind="01",
        case_kind=CaseKind.promised,
        promised_days=3,
        online=False,
    )
    values.update(overrides)
    return RecordToSend(**values)  # type: ignore[arg-type]


def rating(**overrides: object) -> RatingToSend:
    values: dict[str, object] = dict(
        evaluation_id=11,
        record=record(),
        assess_number=1,
        channel="kiosk",
        level=2,
        tags=("501", "503"),
        comment="等太久",
        is_default=False,
        rated_at=datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC),
        evaluator_name="张三",
    )
    values.update(overrides)
    return RatingToSend(**values)  # type: ignore[arg-type]


# --- keys and codes -------------------------------------------------------------------------------


def test_project_numbers_carry_the_province_prefix_once() -> None:
    assert wire.project_no("PY001") == "37PY001"
    assert wire.project_no("370124001") == "370124001"


def test_item_codes_split_into_task_code_and_handle_item_at_31_and_33() -> None:
    assert wire.split_item_code(TASK_CODE) == (TASK_CODE, "")
    assert wire.split_item_code(HANDLE_ITEM) == (TASK_CODE, HANDLE_ITEM)


def test_items_of_a_self_built_catalogue_are_not_forwardable_and_say_why() -> None:
    forwardable, reason = wire.is_forwardable("113701240043190730000000001000")

    assert not forwardable
    assert "自建事项" in reason and "00000000" in reason
    assert wire.is_forwardable(TASK_CODE) == (True, "")


@pytest.mark.parametrize(
    ("ours", "sent"),
    [
        *[(kind, kind) for kind in ("01", "05", "07", "08", "09", "10", "20")],
        ("11", "20"),
        ("1", "01"),
        ("02", "99"),
        ("30", "99"),
        ("", "99"),
    ],
)
def test_item_kinds_outside_the_rated_set_are_sent_as_99(ours: str, sent: str) -> None:
    assert wire.task_type(ours) == sent


def test_a_six_digit_area_code_is_padded_to_twelve() -> None:
    assert wire.area_code("370124") == "370124000000"
    assert wire.area_code("370124000000") == "370124000000"


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_levels_travel_in_the_provinces_numbering_which_is_ours(level: int) -> None:
    # The evidence treats grade < 3 as bad and 5 as 非常满意: the same way round as DESIGN.md §2.
    assert wire.satisfaction(level) == str(level)
    assert wire.level_of(wire.satisfaction(level)) == level


@pytest.mark.parametrize("level", [0, 6])
def test_a_level_outside_one_to_five_is_refused(level: int) -> None:
    with pytest.raises(ValueError):
        wire.satisfaction(level)


def test_times_are_china_time_and_the_envelope_time_is_compact() -> None:
    moment = datetime(2026, 11, 27, 16, 2, 3, tzinfo=UTC)

    assert wire.wire_time(moment, ZONE) == "2026-11-28 00:02:03"
    assert wire.envelope_time(moment, ZONE) == "20261128000203"
    assert wire.sign_text("20261128000203", "MARK", "WORD") == b"20261128000203MARKWORD"


# --- items ----------------------------------------------------------------------------------------


def test_a_service_record_maps_to_every_province_field() -> None:
    item = wire.record_item(record(), ZONE, "165")

    assert item == {
        "areaCode": "370124000000",
        "deptCode": USCC,
        "deptName": "平阴县行政审批服务局",
        "taskType": "01",
        "taskCode": TASK_CODE,
        "proTaskCode": TASK_CODE,
        "taskName": "个体工商户设立登记",
        "proTaskName": "个体工商户设立登记",
        "projectNo": "37PY001",
        "proProjectNo": "37PY001",
        "projectName": "关于张三个体工商户设立登记的业务",
        "proStatus": "2",
        "proDepart": "平阴县行政审批服务局",
        "mobile": "13800001234",
        "userName": "张三",
        "userProp": "1",
        "userPageType": "111",
        "creditType": "111",
        "creditNum": "370124199001011234",
        "certkeyGOV": "370124199001011234",
        "acceptDate": "2026-11-27 08:30:00",
        "promiseDay": "3",
        "promiseType": "1",
        "anticipateDay": "0",
        "anticipateType": "1",
        "proChannel": "2",
        "promiseTime": "2",
        "projectType": "2",
        "orgcode": "370124000000_" + USCC,
        "orgName": "平阴县行政审批服务局",
        "serviceName": "受理",
        "serviceNumber": "2",
        "serviceTime": "2026-11-27 09:00:00",
        "dataSource": "165",
    }


def test_an_online_record_carries_certkey_and_channel_1() -> None:
    item = wire.record_item(record(online=True), ZONE, "165")

    assert item["certKey"] == "370124199001011234"
    assert "certkeyGOV" not in item
    assert item["proChannel"] == "1"


def test_optional_record_fields_travel_when_set() -> None:
    item = wire.record_item(
        record(
            item_code=HANDLE_ITEM,
            item_theme="准营准办",
            org_code="370124000000_ORG",
            org_name="平阴县政务服务中心",
            handler_name="李四",
            agent_name="王五",
            agent_cert_type="111",
            agent_cert_no="370124198001011111",
            finished_at=datetime(2026, 11, 28, 2, 0, 0, tzinfo=UTC),
            case_kind=CaseKind.immediate,
            promised_days=0,
            promised_unit=TimeUnit.day,
            legal_days=20,
            legal_unit=TimeUnit.month,
            item_kind="11",
        ),
        ZONE,
        "165",
    )

    assert item["taskCode"] == TASK_CODE and item["taskHandleItem"] == HANDLE_ITEM
    assert item["subMatter"] == "准营准办"
    assert item["orgcode"] == "370124000000_ORG"
    assert item["orgName"] == item["proDepart"] == item["deptName"] == "平阴县政务服务中心"
    assert item["proManager"] == "李四"
    assert (item["handleUserName"], item["handleUserPageType"], item["handleUserPageCode"]) == (
        "王五",
        "111",
        "370124198001011111",
    )
    assert item["resultDate"] == "2026-11-28 10:00:00" and item["proStatus"] == "3"
    assert item["projectType"] == item["promiseTime"] == "1"
    assert (item["promiseDay"], item["promiseType"]) == ("0", "0")
    assert (item["anticipateDay"], item["anticipateType"]) == ("20", "2")
    assert item["taskType"] == "20"


def test_a_record_not_yet_accepted_is_status_1_and_dated_by_its_contact() -> None:
    item = wire.record_item(record(accepted_at=None), ZONE, "165")

    assert item["proStatus"] == "1"
    assert item["acceptDate"] == "2026-11-27 09:00:00"


def test_a_rating_maps_to_every_province_field_with_its_records_identity() -> None:
    item = wire.rating_item(rating(), ZONE, "165")

    assert item == {
        "projectNo": "37PY001",
        "serviceNumber": "2",
        "assessNumber": "1",
        "pf": "5",
        "satisfaction": "2",
        "evalDetail": "501,503",
        "writingEvaluation": "等太久",
        "assessTime": "2026-11-27 09:02:03",
        "name": "张三",
        "deptCode": USCC,
        "taskType": "01",
        "taskCode": TASK_CODE,
        "taskName": "个体工商户设立登记",
        "proStatus": "2",
        "proDepart": "平阴县行政审批服务局",
        "certKey": "370124199001011234",
        "userName": "张三",
        "userProp": "1",
        "userPageType": "111",
        "acceptDate": "2026-11-27 08:30:00",
        "promisetime": "2",
        "dataSource": "165",
    }


@pytest.mark.parametrize(
    ("channel", "pf"), [("pc", "1"), ("mobile", "2"), ("qr", "3"), ("window", "4"), ("kiosk", "5")]
)
def test_channels_map_to_pf_codes(channel: str, pf: str) -> None:
    assert wire.rating_item(rating(channel=channel), ZONE, "165")["pf"] == pf


def test_a_default_rating_is_sent_as_pf_7() -> None:
    assert wire.rating_item(rating(is_default=True), ZONE, "165")["pf"] == "7"


def test_an_anonymous_good_rating_leaves_out_the_empty_fields() -> None:
    item = wire.rating_item(
        rating(level=5, tags=(), comment="", evaluator_name="", assess_number=2), ZONE, "165"
    )

    assert item["satisfaction"] == "5" and item["assessNumber"] == "2"
    assert "name" not in item and "evalDetail" not in item and "writingEvaluation" not in item


def test_a_business_item_rating_carries_its_handle_item() -> None:
    item = wire.rating_item(rating(record=record(item_code=HANDLE_ITEM)), ZONE, "165")

    assert (item["taskCode"], item["taskHandleItem"]) == (TASK_CODE, HANDLE_ITEM)


def test_a_ticket_result_maps_to_the_rectification_fields() -> None:
    result = TicketResultToSend(
        ticket_id=3,
        project_no="PY001",
        service_number=2,
        assess_number=1,
        result=RectifyResult.explained,
        measures="当面解释",
        feedback="群众表示理解",
        closed_at=datetime(2026, 12, 1, 2, 0, 0, tzinfo=UTC),
    )

    assert wire.ticket_result_item(result, ZONE, "165") == {
        "projectNo": "37PY001",
        "serviceNumber": "2",
        "assessNumber": "1",
        "rectifyResult": "2",
        "rectifyMeasures": "当面解释",
        "rectifyFeedback": "群众表示理解",
        "rectifyTime": "2026-12-01 10:00:00",
        "dataSource": "165",
    }


def test_rectify_results_are_coded_1_2_3() -> None:
    assert [wire.RECTIFY_RESULT[r] for r in RectifyResult] == ["1", "2", "3"]


def test_items_travel_as_one_compact_json_array_in_utf8() -> None:
    text = wire.items_json([{"a": "满意"}, {"b": "1"}])

    assert text == '[{"a":"满意"},{"b":"1"}]'.encode()


def test_the_envelope_has_the_body_and_an_empty_common_part() -> None:
    assert wire.envelope({"evaluate": ["c"]}, "20261127090203", "MARK", "SIGN") == {
        "txnBodyCom": {
            "sign": "SIGN",
            "params": {"evaluate": ["c"]},
            "time": "20261127090203",
            "appMark": "MARK",
        },
        "txnCommCom": {},
    }


# --- answers --------------------------------------------------------------------------------------


def desc(text: str, body: object = "") -> dict[str, object]:
    return {
        "C-API-Status": "00" if text == "success" else "01",
        "C-Response-Code": "000000000000" if text == "success" else "999999999999",
        "C-Response-Desc": text,
        "C-Response-Body": body,
    }


def code(text: str) -> dict[str, object]:
    if text == "success":
        return {"code": "0", "success": "true", "msg": "成功"}
    return {"code": "1", "success": "false", "msg": text}


def test_a_desc_success_reads_its_body_from_a_json_string() -> None:
    answer = wire.read_answer(desc("success", json.dumps({"serviceList": ["x"]})))

    assert answer.ok and answer.body == {"serviceList": ["x"]}


def test_a_code_success_is_code_0_and_success_true() -> None:
    assert wire.read_answer(code("success")).ok
    assert wire.read_answer({"code": 0, "success": True}).ok
    assert not wire.read_answer({"code": "0", "success": "false", "msg": "x"}).ok


def test_a_desc_success_whose_body_says_false_is_a_refusal_with_its_message() -> None:
    answer = wire.read_answer(
        desc("success", json.dumps({"success": "false", "message": "评价数据不可重复"}))
    )

    assert not answer.ok and answer.text == "评价数据不可重复"


def test_an_answer_of_neither_style_cannot_be_read() -> None:
    with pytest.raises(ValueError):
        wire.read_answer({"status": 200})
    with pytest.raises(ValueError):
        wire.read_answer(["success"])


REFUSALS = [
    ("已存在该条服务信息，请勿重复提交！", wire.Refusal.record_exists),
    ("评价数据不可重复", wire.Refusal.rating_exists),
    ("没有对应的服务数据", wire.Refusal.no_record),
    ("差评必须勾选详情或填写文字评价", wire.Refusal.needs_reason),
    ("签名验证失败", wire.Refusal.credentials),
    ("appMark不存在", wire.Refusal.credentials),
    ("租户不存在", wire.Refusal.credentials),
    ("系统繁忙，请稍后再试", wire.Refusal.transient),
    ("办件编号格式不正确", wire.Refusal.other),
]


@pytest.mark.parametrize(("text", "refusal"), REFUSALS)
@pytest.mark.parametrize("style", [desc, code])
def test_each_refusal_text_reads_the_same_in_both_styles(
    style: object, text: str, refusal: wire.Refusal
) -> None:
    answer = wire.read_answer(style(text))  # type: ignore[operator]

    assert not answer.ok and answer.text == text
    assert wire.classify(answer.text) is refusal


@pytest.mark.parametrize(
    ("refusal", "assess_number", "expected"),
    [
        (wire.Refusal.record_exists, None, ItemResult(Outcome.duplicate, "t")),
        (wire.Refusal.rating_exists, 1, ItemResult(Outcome.duplicate, "t")),
        (wire.Refusal.rating_exists, 2, ItemResult(Outcome.followup_refused, "t")),
        (wire.Refusal.no_record, 1, ItemResult(Outcome.no_record, "t")),
        (wire.Refusal.needs_reason, 1, ItemResult(Outcome.rejected, "t")),
        (wire.Refusal.other, None, ItemResult(Outcome.rejected, "t")),
    ],
)
def test_an_item_refusal_becomes_its_outcome(
    refusal: wire.Refusal, assess_number: int | None, expected: ItemResult
) -> None:
    assert wire.item_result(refusal, "t", assess_number) == expected


def test_only_accepted_and_already_there_count_as_delivered() -> None:
    delivered = {o for o in Outcome if ItemResult(o).delivered}

    assert delivered == {Outcome.accepted, Outcome.duplicate}


def test_the_norm_dictionary_reads_into_indicators_in_our_numbering() -> None:
    found = wire.indicators(
        [
            {"code": "510", "name": "服务态度好", "satisfaction": "4,5", "version": "2020"},
            {"code": "601", "name": "等待时间长", "satisfaction": "1,2", "version": "2020"},
        ]
    )

    assert [(i.code, i.text, i.levels, i.version) for i in found] == [
        ("510", "服务态度好", frozenset({4, 5}), "2020"),
        ("601", "等待时间长", frozenset({1, 2}), "2020"),
    ]


def test_holdings_read_into_keys_with_numbers() -> None:
    held = wire.day_holdings(
        {"records": [["37PY001", "1"], ["37PY001", "2"]], "ratings": [["37PY001", "1", "1"]]}
    )

    assert held.records == {("37PY001", 1), ("37PY001", 2)}
    assert held.ratings == {("37PY001", 1, 1)}


def test_a_rating_reads_its_key_from_its_record() -> None:
    r = rating(record=replace(record(), record_id=9, project_no="PY9", service_number=3))

    assert (r.record_id, r.project_no, r.service_number) == (9, "PY9", 3)
