"""The province's rules, as public integration code shows them: field names, texts, item checks.

Pure functions and data only; nothing here knows HTTP, SQLite or our own connector.

Evidence (each check below names its row). Sources, all public:
  [J]  LouisCherry/tempproject134 java/com/epoint/hcp/rest/controller/HcpController.java — the
       Jining (济宁) vendor's gate in front of the province: its own /hcp/addEvaluateService and
       /hcp/addEvaluate check items, then push them to the province's configured URLs
  [J2] LouisCherry/tempproject134 java/com/epoint/hcp/rest/controller/HcpOneTwoGetController.java
  [J3] LouisCherry/tempproject134 java/com/epoint/hcp/HcpUtil.java
  [N]  yupomang/YFMAPLAST src/com/yondervision/yfmap/controller/WebHttpContorller.java — the
       national evaluation fields as Ningbo documents them (the national spec every province uses)

E1  Envelope {"txnBodyCom": {"sign", "params": {"evaluate": [cipher, ...]}, "time":
    yyyyMMddHHmmss, "appMark"}, "txnCommCom": {}} with header C-Tenancy-Id: 370000000000. [J]
E2  sign = SM2 of time + appMark + appWord ("即将发送时间、应用标识、应用密钥按顺序连接并进行
    SM2加密"); each evaluate entry = SM2 of a JSON array of items (list.toString()). [J]
E3  Success is read as C-Response-Desc == "success", the body a JSON string in C-Response-Body;
    any other answer's reason is kept from C-Response-Desc. [J] addEvaluateService,
    addEvaluate, getServiceNumber
E4  Another province endpoint answers {"code": "0", "success": "true"}. [J] submitTemp
E5  The province refuses a rating with 评价数据不可重复 in C-Response-Desc (matched with
    contains). [J] addEvaluate, [J2]
E6  The gate's own refusals, the best evidence of what the province refuses:
    已存在该条服务信息，请勿重复提交！ (record key known), 没有对应的服务数据 (rating before its
    record), 差评必须勾选详情或填写文字评价 (satisfaction < 3 without evalDetail and
    writingEvaluation), 参数结构不正确，请检查参数结构 (a required field blank),
    自建事项不进行推送 (self-built item). [J]
E7  Record fields sent: areaCode, deptCode, taskType, taskCode, proTaskCode, taskHandleItem,
    subMatter, taskName, proTaskName, projectNo, proProjectNo, projectName, proStatus,
    proDepart, mobile, userName, creditNum, creditType, userProp, acceptDate, promiseDay,
    promiseType, anticipateDay, anticipateType, deptName, proChannel, promiseTime, certKey
    (proChannel 1) or certkeyGOV (spelled so, otherwise), orgcode, orgName, proManager,
    userPageType, handleUserName, handleUserPageType, handleUserPageCode, serviceName,
    serviceTime, dataSource ("165"), projectType, resultDate. [J] addEvaluateService
E8  Record fields required before sending: mobile, serviceTime, areaCode, taskCode, taskName,
    projectNo, proStatus, orgcode, orgName, userProp, userName, userPageType, certKey or
    certKeyGOV, serviceName, serviceNumber, projectType. [J] addEvaluateService
E9  A taskCode containing 00000000 is self-built and not pushed; a 33-character code is a
    taskHandleItem whose first 31 characters are the taskCode. [J] addEvaluateService
E10 taskType 01/05/07/08/09/10/20, anything else 99 (11 becomes 20). [J]
E11 projectNo = "37" + the county's number; areaCode padded to 12 digits. [J]
E12 Rating fields sent online: projectNo, pf, deptCode, taskCode, taskHandleItem, taskName,
    subMatter, proStatus, proDepart, certKey, userName, userProp, userPageType, handleUser*,
    satisfaction, evalDetail, serviceNumber, writingEvaluation, assessTime, assessNumber,
    dataSource, promisetime, acceptDate; offline also name and taskType. [J] submitTemp,
    addEvaluate
E13 satisfaction 1 非常不满意, 2 不满意, 3 基本满意, 4 满意, 5 非常满意 (so 5 is 非常满意 on the
    wire, as in our own numbering); pf 1 pc, 2 mobile, 3 QR code, 4 hall tablet, 5 other hall
    terminal, 6 SMS, 7 system default; assessNumber 1 first, 2 second; proStatus 1 waiting,
    2 in progress, 3 finished; promiseTime 1/2; dataSource three digits; times
    yyyy-MM-dd HH:mm:ss. [N]; Jining sends satisfaction "5" with its default good rating and
    treats < 3 as bad [J], and pushes pf "6" [J2]
E14 userProp 1 自然人, 2 企业法人, 3 事业法人, 4 社会组织法人, 5 非法人企业, 6 行政机关,
    9 其他组织; proChannel 1 online, 2 offline; promiseType/anticipateType 0 天, 1 工作日,
    2 月, 3 年. [J] addEvaluateService comments
E15 serviceTime is sent 5 minutes early, assessTime 2-3 minutes early: the province refuses
    times after its own clock. [J] (inferred)
E16 The norm (indicator) call posts appMark, time and sign as form fields. [J] getnorm, [J3]

Not in the evidence, fixed by the brief (assumptions): the endpoint paths, the norm and daily
holdings call shapes, the rectification result items, HTTP 200 for envelope refusals, the exact
envelope refusal texts below, and a resent rectification result being answered success.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from connectors.province_sim.indicators import BY_CODE

# --- refusal texts -------------------------------------------------------------------------
# Seen in the evidence (E5, E6):
RECORD_EXISTS = "已存在该条服务信息，请勿重复提交！"
RATING_EXISTS = "评价数据不可重复"
NO_RECORD = "没有对应的服务数据"
BAD_NEEDS_REASON = "差评必须勾选详情或填写文字评价"
BAD_STRUCTURE = "参数结构不正确，请检查参数结构"
SELF_BUILT = "自建事项不进行推送"
# Assumed (no evidence of the province's wording):
NO_RATING = "没有对应的评价数据"
WRONG_TENANCY = "租户标识C-Tenancy-Id不正确"
BAD_ENVELOPE = "报文格式不正确"
UNKNOWN_APP = "应用标识appMark不存在"
BAD_TIME = "请求时间time格式应为yyyyMMddHHmmss"
STALE_TIME = "请求时间time与系统时间相差超过5分钟"
SIGN_UNREADABLE = "签名sign无法解密"
SIGN_MISMATCH = "签名sign校验失败"
ENTRY_UNREADABLE = "evaluate数据无法解密"
ENTRY_NOT_ARRAY = "evaluate数据解密后应为JSON数组"
NO_ITEMS = "evaluate不能为空"
BAD_DAY = "查询日期day格式应为yyyy-MM-dd"

SUCCESS = "success"
WIRE_TIME = "%Y-%m-%d %H:%M:%S"
ENVELOPE_TIME = "%Y%m%d%H%M%S"
DAY = "%Y-%m-%d"
CLOCK_TOLERANCE_SECONDS = 300
PROVINCE_PREFIX = "37"  # E11
SELF_BUILT_MARK = "00000000"  # E9
TASK_CODE_LENGTH = 31
HANDLE_ITEM_LENGTH = 33

_WIRE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


class Kind(StrEnum):
    """What a call carries; the values are the simulator's control API vocabulary."""

    RECORD = "record"
    RATING = "rating"
    RESULT = "ticket_result"


class Refused(Exception):
    """The province refuses the whole call; `text` is what it puts in its answer."""

    def __init__(self, text: str, detail: Mapping[str, Any] | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.detail = dict(detail or {})


@dataclass(frozen=True)
class Item:
    """One decrypted item, its key and the fields the store keeps apart."""

    kind: Kind
    key: tuple[str, ...]
    fields: dict[str, Any]
    event_time: str  # serviceTime / assessTime / rectifyTime, China time

    @property
    def project_no(self) -> str:
        return self.key[0]

    def as_json(self) -> str:
        return json.dumps(self.fields, ensure_ascii=False, sort_keys=True)


def text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    return "" if value is None else str(value).strip()


def parse_wire_time(value: str) -> datetime | None:
    if not _WIRE_TIME_RE.match(value):
        return None
    try:
        return datetime.strptime(value, WIRE_TIME)
    except ValueError:
        return None


# --- item checks ---------------------------------------------------------------------------
# Each returns the item or raises Refused; none looks at what the province already holds
# (ordering and duplicates are the service's, with the store).

RECORD_REQUIRED = (  # E8, plus acceptDate, deptCode, proChannel and dataSource (E7, sent always)
    "projectNo",
    "serviceNumber",
    "serviceName",
    "serviceTime",
    "taskCode",
    "taskName",
    "proStatus",
    "orgcode",
    "orgName",
    "deptCode",
    "areaCode",
    "userProp",
    "userName",
    "userPageType",
    "mobile",
    "projectType",
    "acceptDate",
    "proChannel",
    "dataSource",
)
RATING_REQUIRED = (  # E12 (the online form, which carries assessNumber and dataSource)
    "projectNo",
    "serviceNumber",
    "assessNumber",
    "pf",
    "satisfaction",
    "assessTime",
    "dataSource",
)
RESULT_REQUIRED = (  # assumed (brief)
    "projectNo",
    "serviceNumber",
    "assessNumber",
    "rectifyResult",
    "rectifyTime",
    "dataSource",
)

TASK_TYPES = {"01", "05", "07", "08", "09", "10", "20", "99"}  # E10
PRO_STATUSES = {"1", "2", "3"}  # E13
USER_PROPS = {"1", "2", "3", "4", "5", "6", "9"}  # E14
CHANNELS = {"1", "2"}  # E14
TIME_UNITS = {"0", "1", "2", "3"}  # E14
PF_VALUES = {"1", "2", "3", "4", "5", "6", "7"}  # E13
SATISFACTION_VALUES = {"1", "2", "3", "4", "5"}  # E13
ASSESS_NUMBERS = {"1", "2"}  # E13
PROMISE_TIMES = {"1", "2"}  # E13
RECTIFY_RESULTS = {"1", "2", "3"}  # assumed (brief): rectified, explained, invalid


def _require(fields: Mapping[str, Any], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not text(fields, name)]
    if missing:
        raise Refused(f"{BAD_STRUCTURE}（缺少：{'、'.join(missing)}）", {"missing": missing})


def _invalid(name: str, rule: str) -> Refused:
    return Refused(f"{BAD_STRUCTURE}（{name}{rule}）", {"field": name})


def _one_of(fields: Mapping[str, Any], name: str, allowed: set[str], optional: bool) -> None:
    value = text(fields, name)
    if (value or not optional) and value not in allowed:
        raise _invalid(name, f"取值应为{'/'.join(sorted(allowed))}")


def _time(fields: Mapping[str, Any], name: str, now: datetime, optional: bool = False) -> str:
    value = text(fields, name)
    if optional and not value:
        return value
    moment = parse_wire_time(value)
    if moment is None:
        raise _invalid(name, "格式应为yyyy-MM-dd HH:mm:ss")
    if (moment - now).total_seconds() > CLOCK_TOLERANCE_SECONDS:  # E15
        raise _invalid(name, "不能晚于当前时间")
    return value


def _number(fields: Mapping[str, Any], name: str) -> str:
    value = text(fields, name)
    if not value.isdigit() or int(value) < 1:
        raise _invalid(name, "应为正整数")
    return str(int(value))


def _project_no(fields: Mapping[str, Any]) -> str:
    value = text(fields, "projectNo")
    if not value.startswith(PROVINCE_PREFIX) or len(value) <= len(PROVINCE_PREFIX):
        raise _invalid("projectNo", f"应以{PROVINCE_PREFIX}开头")
    return value


def _data_source(fields: Mapping[str, Any]) -> None:
    value = text(fields, "dataSource")
    if len(value) != 3 or not value.isdigit():
        raise _invalid("dataSource", "应为省级分配的三位数字")


def _dept_code(fields: Mapping[str, Any], optional: bool) -> None:
    value = text(fields, "deptCode")
    if (value or not optional) and not _USCC_RE.match(value):
        raise _invalid("deptCode", "应为18位统一社会信用代码")


def _task_codes(fields: Mapping[str, Any], optional: bool) -> None:
    task, handle = text(fields, "taskCode"), text(fields, "taskHandleItem")
    if optional and not task and not handle:
        return
    if len(task) != TASK_CODE_LENGTH:
        raise _invalid("taskCode", f"应为{TASK_CODE_LENGTH}位事项编码")
    if handle and (len(handle) != HANDLE_ITEM_LENGTH or not handle.startswith(task)):
        raise _invalid(
            "taskHandleItem", f"应为以taskCode开头的{HANDLE_ITEM_LENGTH}位业务办理项编码"
        )
    if SELF_BUILT_MARK in task:  # E9
        raise Refused(SELF_BUILT, {"field": "taskCode"})


def check_record(fields: Mapping[str, Any], now: datetime) -> Item:
    _require(fields, RECORD_REQUIRED)
    project_no = _project_no(fields)
    service_number = _number(fields, "serviceNumber")
    _task_codes(fields, optional=False)
    area = text(fields, "areaCode")
    if len(area) != 12 or not area.isdigit():
        raise _invalid("areaCode", "应为12位行政区划代码")
    _dept_code(fields, optional=False)
    _one_of(fields, "proStatus", PRO_STATUSES, optional=False)
    _one_of(fields, "userProp", USER_PROPS, optional=False)
    _one_of(fields, "proChannel", CHANNELS, optional=False)
    _one_of(fields, "taskType", TASK_TYPES, optional=True)
    _one_of(fields, "promiseTime", PROMISE_TIMES, optional=True)
    _one_of(fields, "promiseType", TIME_UNITS, optional=True)
    _one_of(fields, "anticipateType", TIME_UNITS, optional=True)
    # E7: the online applicant's number travels as certKey, the offline one as certkeyGOV
    # (that spelling on the wire; certKeyGOV in the county's own data, so both are read).
    online = text(fields, "proChannel") == "1"
    cert = (
        text(fields, "certKey")
        if online
        else text(fields, "certkeyGOV") or text(fields, "certKeyGOV")
    )
    if not cert:
        raise Refused(
            f"{BAD_STRUCTURE}（缺少：{'certKey' if online else 'certKeyGOV'}）",
            {"missing": ["certKey" if online else "certKeyGOV"]},
        )
    _data_source(fields)
    service_time = _time(fields, "serviceTime", now)
    _time(fields, "acceptDate", now)
    _time(fields, "resultDate", now, optional=True)
    return Item(Kind.RECORD, (project_no, service_number), dict(fields), service_time)


def check_rating(fields: Mapping[str, Any], now: datetime) -> Item:
    _require(fields, RATING_REQUIRED)
    project_no = _project_no(fields)
    service_number = _number(fields, "serviceNumber")
    _one_of(fields, "assessNumber", ASSESS_NUMBERS, optional=False)
    _one_of(fields, "pf", PF_VALUES, optional=False)
    _one_of(fields, "satisfaction", SATISFACTION_VALUES, optional=False)
    _data_source(fields)
    _dept_code(fields, optional=True)
    _task_codes(fields, optional=True)
    _one_of(fields, "proStatus", PRO_STATUSES, optional=True)
    _one_of(fields, "userProp", USER_PROPS, optional=True)
    _one_of(fields, "taskType", TASK_TYPES, optional=True)
    assess_time = _time(fields, "assessTime", now)
    _time(fields, "acceptDate", now, optional=True)
    level = int(text(fields, "satisfaction"))
    codes = [code.strip() for code in text(fields, "evalDetail").split(",") if code.strip()]
    for code in codes:
        indicator = BY_CODE.get(code)
        if not code.isdigit() or indicator is None:
            raise _invalid("evalDetail", f"含有不存在的评价指标编码{code}")
        if level not in indicator.levels:
            raise _invalid("evalDetail", f"评价指标{code}不适用于满意度{level}")
    if level < 3 and not codes and not text(fields, "writingEvaluation"):  # E6
        raise Refused(BAD_NEEDS_REASON)
    key = (project_no, service_number, text(fields, "assessNumber"))
    return Item(Kind.RATING, key, dict(fields), assess_time)


def check_result(fields: Mapping[str, Any], now: datetime) -> Item:
    _require(fields, RESULT_REQUIRED)
    project_no = _project_no(fields)
    service_number = _number(fields, "serviceNumber")
    _one_of(fields, "assessNumber", ASSESS_NUMBERS, optional=False)
    _one_of(fields, "rectifyResult", RECTIFY_RESULTS, optional=False)
    _data_source(fields)
    rectify_time = _time(fields, "rectifyTime", now)
    key = (project_no, service_number, text(fields, "assessNumber"))
    return Item(Kind.RESULT, key, dict(fields), rectify_time)


CHECKS = {Kind.RECORD: check_record, Kind.RATING: check_rating, Kind.RESULT: check_result}


def item_key(kind: Kind, fields: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The key as received, for receipt counting even when the item is refused."""
    project_no, service_number = text(fields, "projectNo"), text(fields, "serviceNumber")
    if not project_no or not service_number:
        return None
    if service_number.isdigit():
        service_number = str(int(service_number))
    if kind is Kind.RECORD:
        return (project_no, service_number)
    assess_number = text(fields, "assessNumber")
    return (project_no, service_number, assess_number) if assess_number else None
