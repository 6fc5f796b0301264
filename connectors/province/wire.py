"""The Shandong 好差评 wire format: field names, codes, the envelope and how answers read. Pure
functions only (no I/O); province names live here and nowhere else.

Evidence — public integration code a vendor runs for Shandong cities (济宁/泰安) against the
province's unified system, all in repository LouisCherry/tempproject134 (paths below are in it):

- java/com/epoint/hcp/rest/controller/HcpController.java
  * addEvaluateService, addEvaluate, submitTemp: the envelope txnBodyCom{sign, params{evaluate[]},
    time yyyyMMddHHmmss, appMark}, txnCommCom{}; header C-Tenancy-Id: 370000000000; sign = SM2
    encryption of time+appMark+appWord ("即将发送时间、应用标识、应用密钥按顺序连接并进行SM2加密");
    each evaluate entry = the encryption of a JSON array (list.toString() of one item).
  * addEvaluateService: the record fields, proChannel (1 线上, 2 线下) choosing certKey (online) or
    certkeyGOV (offline, spelled so), promiseType/anticipateType units (0 天, 1 工作日, 2 月, 3 年),
    promiseTime (即办件=1，承诺办件=2), taskType 01/05/07/08/09/10/20 kept, 11 sent as 20, else 99;
    items whose taskCode contains 00000000 are self-built and not pushed; a 33-character code is
    taskHandleItem and its first 31 are taskCode; area codes padded to 12 digits; projectNo is
    "37" + ours.
  * submitTemp, addEvaluate: the rating fields (deptCode, taskCode, taskHandleItem, proDepart,
    certKey, userName/userProp/userPageType, handleUser*, promisetime = the record's projectType,
    acceptDate, name, taskType, assessNumber, dataSource).
  * answers: success is C-Response-Desc == "success", or code "0" with success "true"; refusal
    texts 已存在该条服务信息，请勿重复提交！, 评价数据不可重复 (counted as received for a first
    rating), 没有对应的服务数据, 差评必须勾选详情或填写文字评价; a bad rating is grade < 3,
    i.e. the province numbers 1 非常不满意 … 5 非常满意 like us; getServiceNumber:
    C-Response-Body is a JSON string.
- java/com/epoint/hcp/job/HcpEvainstanceSuppJob.java: a "success" answer whose C-Response-Body says
  {"success": "false", "message": …} is a refusal with that message.
- java/com/epoint/tongbufw/ProjectdownForBdc.java: orgcode = <12-digit area>_<dept USCC>,
  userPageType/creditType 111, evalDetail "510,517" (national codes), satisfaction "5" for 非常满意.
- java/com/epoint/hcp/HcpUtil.java (projectStatus): proStatus 1 待受理, 2 已受理, 3 已办结.

Not shown by the evidence, fixed by assumption (DESIGN.md §8; docs/province-protocol.md): endpoint
URLs, the norm, holdings and rectification-feedback payloads, the SM2 ciphertext layout (C1C3C2 hex
without 04 by default, settings), how many items one ciphertext carries (settings; one, as the
evidence shows), and which texts refuse the call itself (CREDENTIAL_WORDS below).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from connectors.model import (
    CaseKind,
    DayHoldings,
    Indicator,
    ItemResult,
    Outcome,
    RatingToSend,
    RecordToSend,
    RectifyResult,
    TicketResultToSend,
    TimeUnit,
)

TENANCY_HEADER = "C-Tenancy-Id"
PROVINCE_PREFIX = "37"
# "8个0以上的为自建事项": items of a self-built catalogue, never pushed.
SELF_BUILT_MARK = "00000000"

TASK_CODE_LENGTH = 31
HANDLE_ITEM_LENGTH = 33
AREA_CODE_LENGTH = 12

PF = {"pc": "1", "mobile": "2", "qr": "3", "window": "4", "kiosk": "5"}
PF_DEFAULT = "7"  # 系统默认评价: a configured default rating, never an active one (§3 rule 4)

TASK_TYPES = frozenset({"01", "05", "07", "08", "09", "10", "20"})
TASK_TYPE_PUBLIC_SERVICE_OLD = "11"  # "公共服务类型不一致，优先转换": 11 is sent as 20
TASK_TYPE_OTHER = "99"

PROJECT_TYPE = {CaseKind.immediate: "1", CaseKind.promised: "2"}  # 即办件=1，承诺办件=2
TIME_UNIT = {TimeUnit.day: "0", TimeUnit.working_day: "1", TimeUnit.month: "2", TimeUnit.year: "3"}
PRO_CHANNEL_ONLINE, PRO_CHANNEL_OFFLINE = "1", "2"  # 办件渠道(1=线上，2=线下)
PRO_STATUS_WAITING, PRO_STATUS_ACCEPTED, PRO_STATUS_FINISHED = "1", "2", "3"

RECTIFY_RESULT = {
    RectifyResult.rectified: "1",
    RectifyResult.explained: "2",
    RectifyResult.invalid: "3",
}

# Refusal texts the province answers (verbatim in the evidence); matched as substrings because the
# answers wrap them in varying punctuation.
TEXT_RECORD_EXISTS = "已存在该条服务信息"  # "已存在该条服务信息，请勿重复提交！"
TEXT_RATING_EXISTS = "评价数据不可重复"
TEXT_NO_RECORD = "没有对应的服务数据"
TEXT_BAD_NEEDS_REASON = "差评必须勾选详情或填写文字评价"

# Words of a refusal of the call itself (wrong key, appMark, appWord, tenancy or clock). The
# evidence shows no such text, so this list is an assumption; anything else that refuses a single
# item is that item's rejection.
CREDENTIAL_WORDS = (
    "sign",
    "签名",
    "验签",
    "appmark",
    "appword",
    "应用标识",
    "应用密钥",
    "密钥",
    "解密",
    "decrypt",
    "tenancy",
    "租户",
    "时间戳",
    "请求时间",
    "鉴权",
    "认证失败",
    "未授权",
    "unauthorized",
)

# Words of a passing refusal (the province busy): the call is retried later, nothing is rejected.
TRANSIENT_WORDS = ("繁忙", "稍后", "超时", "限流", "busy", "timeout", "try again")

ENVELOPE_TIME_FORMAT = "%Y%m%d%H%M%S"
WIRE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# --- keys and codes -------------------------------------------------------------------------------


def project_no(ours: str) -> str:
    """The province numbers transactions under its own prefix; ours may already carry it."""
    return ours if ours.startswith(PROVINCE_PREFIX) else PROVINCE_PREFIX + ours


def is_forwardable(item_code: str) -> tuple[bool, str]:
    """Whether records of this service item may go to the province, and why not. Items of a
    self-built catalogue (a code containing eight zeros) stay local, marked not forwardable."""
    if SELF_BUILT_MARK in item_code:
        return False, f"自建事项（事项编码含“{SELF_BUILT_MARK}”）不推送省级平台"
    return True, ""


def split_item_code(code: str) -> tuple[str, str]:
    """(taskCode, taskHandleItem): 31 characters are an implementation code; 33 are a business item
    whose first 31 characters are its implementation code."""
    if len(code) == HANDLE_ITEM_LENGTH:
        return code[:TASK_CODE_LENGTH], code
    return code, ""


def task_type(item_kind: str) -> str:
    kind = item_kind.strip().zfill(2) if item_kind.strip().isdigit() else item_kind.strip()
    if kind == TASK_TYPE_PUBLIC_SERVICE_OLD:
        return "20"
    return kind if kind in TASK_TYPES else TASK_TYPE_OTHER


def area_code(ours: str) -> str:
    """Twelve digits: a six-digit county code is padded with zeros, as the province expects."""
    return ours.ljust(AREA_CODE_LENGTH, "0") if len(ours) == 6 else ours


def satisfaction(level: int) -> str:
    """Our level as the province numbers it. Both number 5 非常满意 … 1 非常不满意 (the evidence's
    `grade < 3` is a bad rating), so this is the identity — the one place to change if not."""
    if level not in range(1, 6):
        raise ValueError(f"level {level} is not 1..5")
    return str(level)


def level_of(province_satisfaction: str) -> int:
    """The province's satisfaction code in our numbering (inverse of `satisfaction`)."""
    level = int(province_satisfaction)
    if level not in range(1, 6):
        raise ValueError(f"satisfaction {province_satisfaction!r} is not 1..5")
    return level


def wire_time(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime(WIRE_TIME_FORMAT) if value else ""


def envelope_time(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime(ENVELOPE_TIME_FORMAT)


def sign_text(time: str, app_mark: str, app_word: str) -> bytes:
    """What `sign` encrypts: time + appMark + appWord, in that order."""
    return f"{time}{app_mark}{app_word}".encode()


def _without_empty(item: dict[str, str]) -> dict[str, str]:
    # The vendor's JSON library drops absent (null) values; optional fields travel only when set.
    return {key: value for key, value in item.items() if value != ""}


def _pro_status(record: RecordToSend) -> str:
    if record.finished_at:
        return PRO_STATUS_FINISHED
    if record.accepted_at:
        return PRO_STATUS_ACCEPTED
    return PRO_STATUS_WAITING


def _org_name(record: RecordToSend) -> str:
    return record.org_name or record.department_name


def _org_code(record: RecordToSend) -> str:
    return record.org_code or f"{area_code(record.area_code)}_{record.department_code}"


# --- items ----------------------------------------------------------------------------------------


def record_item(record: RecordToSend, zone: ZoneInfo, data_source: str) -> dict[str, str]:
    """One service record (addEvaluateService), field for field as the evidence sends it."""
    task_code, handle_item = split_item_code(record.item_code)
    pno = project_no(record.project_no)
    project_type = PROJECT_TYPE[record.case_kind]
    cert_field = "certKey" if record.online else "certkeyGOV"
    return _without_empty(
        {
            "areaCode": area_code(record.area_code),
            "deptCode": record.department_code,
            "deptName": _org_name(record),
            "taskType": task_type(record.item_kind),
            "taskCode": task_code,
            "proTaskCode": task_code,
            "taskHandleItem": handle_item,
            "subMatter": record.item_theme,
            "taskName": record.item_name,
            "proTaskName": record.item_name,
            "projectNo": pno,
            "proProjectNo": pno,
            "projectName": record.project_name,
            "proStatus": _pro_status(record),
            "proDepart": _org_name(record),
            "mobile": record.applicant_phone,
            "userName": record.applicant_name,
            "userProp": str(record.applicant_type),
            "userPageType": record.applicant_cert_type,
            "creditType": record.applicant_cert_type,
            "creditNum": record.applicant_cert_no,
            cert_field: record.applicant_cert_no,
            "acceptDate": wire_time(record.accepted_at or record.occurred_at, zone),
            "promiseDay": str(record.promised_days),
            "promiseType": TIME_UNIT[record.promised_unit],
            "anticipateDay": str(record.legal_days),
            "anticipateType": TIME_UNIT[record.legal_unit],
            "proChannel": PRO_CHANNEL_ONLINE if record.online else PRO_CHANNEL_OFFLINE,
            "promiseTime": project_type,
            "projectType": project_type,
            "orgcode": _org_code(record),
            "orgName": _org_name(record),
            "proManager": record.handler_name,
            "handleUserName": record.agent_name,
            "handleUserPageType": record.agent_cert_type,
            "handleUserPageCode": record.agent_cert_no,
            "serviceName": record.name,
            "serviceNumber": str(record.service_number),
            "serviceTime": wire_time(record.occurred_at, zone),
            "resultDate": wire_time(record.finished_at, zone),
            "dataSource": data_source,
        }
    )


def rating_item(rating: RatingToSend, zone: ZoneInfo, data_source: str) -> dict[str, str]:
    """One evaluation (addEvaluate), carrying the identifying fields of the record it rates."""
    record = rating.record
    task_code, handle_item = split_item_code(record.item_code)
    return _without_empty(
        {
            "projectNo": project_no(record.project_no),
            "serviceNumber": str(record.service_number),
            "assessNumber": str(rating.assess_number),
            "pf": PF_DEFAULT if rating.is_default else PF[rating.channel],
            "satisfaction": satisfaction(rating.level),
            "evalDetail": ",".join(rating.tags),
            "writingEvaluation": rating.comment,
            "assessTime": wire_time(rating.rated_at, zone),
            "name": rating.evaluator_name,
            "deptCode": record.department_code,
            "taskType": task_type(record.item_kind),
            "taskCode": task_code,
            "taskHandleItem": handle_item,
            "taskName": record.item_name,
            "subMatter": record.item_theme,
            "proStatus": _pro_status(record),
            "proDepart": _org_name(record),
            "certKey": record.applicant_cert_no,
            "userName": record.applicant_name,
            "userProp": str(record.applicant_type),
            "userPageType": record.applicant_cert_type,
            "handleUserName": record.agent_name,
            "handleUserPageType": record.agent_cert_type,
            "handleUserPageCode": record.agent_cert_no,
            "acceptDate": wire_time(record.accepted_at or record.occurred_at, zone),
            "promisetime": PROJECT_TYPE[record.case_kind],
            "dataSource": data_source,
        }
    )


def ticket_result_item(
    result: TicketResultToSend, zone: ZoneInfo, data_source: str
) -> dict[str, str]:
    """差评整改在线反馈 (assumption: not in the evidence)."""
    return {
        "projectNo": project_no(result.project_no),
        "serviceNumber": str(result.service_number),
        "assessNumber": str(result.assess_number),
        "rectifyResult": RECTIFY_RESULT[result.result],
        "rectifyMeasures": result.measures,
        "rectifyFeedback": result.feedback,
        "rectifyTime": wire_time(result.closed_at, zone),
        "dataSource": data_source,
    }


def items_json(items: Iterable[dict[str, str]]) -> bytes:
    """The plaintext of one `evaluate` entry: a JSON array of items."""
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":")).encode()


def envelope(params: dict[str, Any], time: str, app_mark: str, sign: str) -> dict[str, Any]:
    return {
        "txnBodyCom": {"sign": sign, "params": params, "time": time, "appMark": app_mark},
        "txnCommCom": {},
    }


def evaluate_params(ciphertexts: list[str]) -> dict[str, Any]:
    return {"evaluate": ciphertexts}


def holdings_params(day: date) -> dict[str, Any]:
    return {"day": day.isoformat()}


# --- answers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One answer, in either style: `ok` with its body, or refused with the province's text."""

    ok: bool
    text: str = ""
    body: Any = None


def _body(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _false(value: Any) -> bool:
    return str(value).strip().lower() == "false"


def _true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def read_answer(payload: Any) -> Answer:
    """Read an answer of the "desc" style (C-Response-Desc / C-Response-Body) or the "code" style
    (code / success / msg). Raises ValueError when it is neither."""
    if not isinstance(payload, dict):
        raise ValueError("省级平台应答不是 JSON 对象")
    if "C-Response-Desc" in payload:
        desc = str(payload.get("C-Response-Desc") or "")
        body = _body(payload.get("C-Response-Body"))
        if desc.strip().lower() != "success":
            return Answer(False, desc or str(payload.get("C-Response-Code") or "未说明原因"))
        # A "success" call can still carry a refusal in its body (HcpEvainstanceSuppJob).
        if isinstance(body, dict) and _false(body.get("success")):
            return Answer(False, _text(body) or "省级平台拒绝（未说明原因）", body)
        return Answer(True, "", body)
    if "code" in payload or "success" in payload:
        code = str(payload.get("code", "")).strip()
        success = payload.get("success")
        ok = _true(success) if success is not None else code == "0"
        if ok and code not in ("", "0"):
            ok = False
        body = _body(payload.get("data", payload.get("body")))
        if ok:
            return Answer(True, "", body)
        return Answer(False, _text(payload) or f"省级平台拒绝（代码 {code or '未知'}）", body)
    raise ValueError("省级平台应答格式不认识")


def _text(obj: dict[str, Any]) -> str:
    for key in ("msg", "message", "desc", "C-Response-Desc"):
        value = obj.get(key)
        if value:
            return str(value)
    return ""


class Refusal(StrEnum):
    record_exists = "record_exists"
    rating_exists = "rating_exists"
    no_record = "no_record"
    needs_reason = "needs_reason"
    credentials = "credentials"
    transient = "transient"
    other = "other"


def classify(text: str) -> Refusal:
    """What a refusal text means; known item texts first, then the call's own credentials."""
    if TEXT_RECORD_EXISTS in text:
        return Refusal.record_exists
    if TEXT_RATING_EXISTS in text:
        return Refusal.rating_exists
    if TEXT_NO_RECORD in text:
        return Refusal.no_record
    if TEXT_BAD_NEEDS_REASON in text:
        return Refusal.needs_reason
    lowered = text.lower()
    if any(word in lowered for word in CREDENTIAL_WORDS):
        return Refusal.credentials
    if any(word in lowered for word in TRANSIENT_WORDS):
        return Refusal.transient
    return Refusal.other


def item_result(refusal: Refusal, text: str, assess_number: int | None) -> ItemResult:
    """The outcome of one item refused with `text`. `assess_number` is that of a rating or ticket
    result (None for a service record). Credential and transient refusals are not an item's: the
    client raises for them before asking."""
    if refusal is Refusal.record_exists:
        return ItemResult(Outcome.duplicate, text)
    if refusal is Refusal.rating_exists:
        # For a first rating the key is there: delivered. For a follow-up the province may be
        # refusing a second rating it never stored: its own outcome, shown, never "delivered".
        if assess_number is not None and assess_number > 1:
            return ItemResult(Outcome.followup_refused, text)
        return ItemResult(Outcome.duplicate, text)
    if refusal is Refusal.no_record:
        return ItemResult(Outcome.no_record, text)
    return ItemResult(Outcome.rejected, text)


def indicators(body: Any) -> list[Indicator]:
    """The norm dictionary: a JSON list of {code, name, satisfaction "1,2", version}. Raises
    ValueError on another shape."""
    if isinstance(body, dict):
        body = body.get("list", body.get("data", body.get("norms")))
    if not isinstance(body, list):
        raise ValueError("指标应答不是列表")
    out = []
    for entry in body:
        if not isinstance(entry, dict) or "code" not in entry:
            raise ValueError(f"指标条目格式不正确：{entry!r}")
        levels = frozenset(
            level_of(part) for part in str(entry.get("satisfaction", "")).split(",") if part.strip()
        )
        out.append(
            Indicator(
                code=str(entry["code"]),
                text=str(entry.get("name", "")),
                levels=levels,
                version=str(entry.get("version", "")),
            )
        )
    return out


def day_holdings(body: Any) -> DayHoldings:
    """{"records": [[projectNo, serviceNumber], …], "ratings": [[projectNo, serviceNumber,
    assessNumber], …]}. Raises ValueError on another shape."""
    if not isinstance(body, dict):
        raise ValueError("对账应答不是对象")
    try:
        records = frozenset((str(r[0]), int(r[1])) for r in body.get("records", []))
        ratings = frozenset((str(r[0]), int(r[1]), int(r[2])) for r in body.get("ratings", []))
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"对账应答格式不正确：{exc}") from None
    return DayHoldings(records=records, ratings=ratings)
