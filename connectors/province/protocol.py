"""The Shandong wire format: field names, codes and the signed envelope. Province names live
only here.

Codes marked (sim) are those of our simulator; check them against the province's interface document
when connecting to the real system.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.model import (
    DayHoldings,
    ItemResult,
    Outcome,
    RatingToSend,
    RecordToSend,
    TicketResultToSend,
)

PROVINCE_PREFIX = "37"
DATA_SOURCE = "2"  # county-built system (sim)
TENANCY_HEADER = "C-Tenancy-Id"

RECORDS_PATH = "/hcp/api/v1/serviceRecords"
RATINGS_PATH = "/hcp/api/v1/evaluations"
TICKET_RESULTS_PATH = "/hcp/api/v1/rectifyFeedback"
DAY_QUERY_PATH = "/hcp/api/v1/dailyHoldings"

# Item answers (sim): 0 accepted, 1 already received, 2 no such service record, 3 invalid data.
ITEM_OK, ITEM_DUPLICATE, ITEM_NO_RECORD, ITEM_INVALID = "0", "1", "2", "3"
ENVELOPE_OK = "200"

PF = {"pc": "1", "mobile": "2", "qr": "3", "window": "4", "kiosk": "5"}
PF_DEFAULT = "7"  # a configured default rating, never an active one (DESIGN.md §3 rule 4)

TICKET_RESULT_CODES = {
    "rectified": ("1", "已整改"),
    "explained": ("2", "已解释说明"),
    "invalid": ("3", "无效差评"),
}

TASK_CODE_LENGTH = 31
HANDLE_ITEM_LENGTH = 33


def project_no(ours: str) -> str:
    """The province numbers transactions under its own prefix; ours may already carry it."""
    return ours if ours.startswith(PROVINCE_PREFIX) else PROVINCE_PREFIX + ours


def split_item_code(code: str) -> tuple[str, str]:
    """31 characters are an implementation code (taskCode); 33 are a business item (taskHandleItem)
    whose first 31 characters are its implementation code."""
    if len(code) == HANDLE_ITEM_LENGTH:
        return code[:TASK_CODE_LENGTH], code
    return code, ""


def wire_time(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def envelope_time(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y%m%d%H%M%S")


def record_params(record: RecordToSend, zone: ZoneInfo) -> dict[str, Any]:
    task_code, handle_item = split_item_code(record.item_code)
    return {
        "projectNo": project_no(record.project_no),
        "serviceNumber": str(record.service_number),
        "serviceName": record.name,
        "serviceTime": wire_time(record.occurred_at, zone),
        "taskCode": task_code,
        "taskHandleItem": handle_item,
        "taskName": record.item_name,
        "deptCode": record.department_code,
        "deptName": record.department_name,
        "areaCode": record.area_code,
        "userProp": str(record.applicant_type),
        "userName": record.applicant_name,
        "certificateType": record.applicant_cert_type,
        "certificateNo": record.applicant_cert_no,
        "mobile": record.applicant_phone,
        "proStatus": "2" if record.finished_at else "1",  # 2 办结, 1 受理 (sim)
        "acceptDate": wire_time(record.accepted_at or record.occurred_at, zone),
        "resultDate": wire_time(record.finished_at, zone),
        "windowNo": record.window_no,
        "staffNo": record.staff_no,
        "dataSource": DATA_SOURCE,
    }


def rating_params(rating: RatingToSend, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "projectNo": project_no(rating.project_no),
        "serviceNumber": str(rating.service_number),
        "assessNumber": str(rating.assess_number),
        "pf": PF_DEFAULT if rating.is_default else PF[rating.channel],
        "satisfaction": str(rating.level),
        "evalDetail": rating.tags,
        "writingEvaluation": rating.comment,
        "assessTime": wire_time(rating.rated_at, zone),
    }


def ticket_result_params(result: TicketResultToSend, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "projectNo": project_no(result.project_no),
        "serviceNumber": str(result.service_number),
        "assessNumber": str(result.assess_number),
        "rectifyResult": TICKET_RESULT_CODES.get(result.result, ("9", result.result))[0],
        "rectifyResultDesc": TICKET_RESULT_CODES.get(result.result, ("9", result.result))[1],
        "rectifyMeasures": result.measures,
        "feedback": result.feedback,
        "rectifyTime": wire_time(result.closed_at, zone),
    }


def list_params(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"dataList": items}


def envelope(params: dict[str, Any], time: str, app_mark: str, sign: str) -> dict[str, Any]:
    return {
        "txnBodyCom": {"sign": sign, "params": params, "time": time, "appMark": app_mark},
        "txnCommCom": {},
    }


def item_results(answer: dict[str, Any], count: int) -> list[ItemResult]:
    """Per-item answers of a list push, in request order. Raises ProvinceUnavailable-worthy
    ValueError when the envelope itself was refused or the answer does not fit the request."""
    if str(answer.get("code")) != ENVELOPE_OK:
        raise ValueError(f"省级平台拒绝请求（{answer.get('code')}）：{answer.get('msg', '')}")
    results = (answer.get("data") or {}).get("results")
    if not isinstance(results, list) or len(results) != count:
        raise ValueError(f"省级平台应答条数不符：请求{count}条")
    out = []
    for item in results:
        code = str(item.get("code"))
        message = str(item.get("msg", ""))
        outcome = {
            ITEM_OK: Outcome.accepted,
            ITEM_DUPLICATE: Outcome.duplicate,
            ITEM_NO_RECORD: Outcome.no_record,
        }.get(code, Outcome.rejected)
        out.append(ItemResult(outcome, message or f"省级平台返回代码{code}"))
    return out


def day_holdings(answer: dict[str, Any]) -> DayHoldings:
    if str(answer.get("code")) != ENVELOPE_OK:
        raise ValueError(f"省级平台拒绝查询（{answer.get('code')}）：{answer.get('msg', '')}")
    data = answer.get("data") or {}
    return DayHoldings(
        records=frozenset(
            (r["projectNo"], int(r["serviceNumber"])) for r in data.get("serviceRecords", [])
        ),
        ratings=frozenset(
            (r["projectNo"], int(r["serviceNumber"]), int(r["assessNumber"]))
            for r in data.get("evaluations", [])
        ),
    )
