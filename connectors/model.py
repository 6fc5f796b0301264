"""What forwarding sends, in our vocabulary (DESIGN.md §2), how the province answered each item, and
the one place where the connector's errors are defined.

Province field names and codes never appear here: `connectors/province/wire.py` maps these types to
the wire and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from evaluation_service.kernel.item_vocabulary import CaseKind, TimeUnit


class RectifyResult(StrEnum):
    """How a rectification ticket closed (差评整改结果)."""

    rectified = "rectified"
    explained = "explained"
    invalid = "invalid"


@dataclass(frozen=True)
class RecordToSend:
    """One service record (服务记录) with what the province needs of its transaction.

    `item_code` is the catalogue code of the service item: 31 characters for an implementation
    item, 33 for a business item (业务办理项). `item_kind` is the national item-type code of the
    catalogue (01 行政许可, 05 行政给付, 07 行政确认, 08 行政奖励, 09 行政裁决, 10 其他行政权力,
    20 公共服务; the connector sends any other kind as "other"). `department_code` is the
    18-character unified social credit code of the department that implements the item;
    `org_code`/`org_name` are the accepting office when it differs (empty: the department).
    """

    record_id: int
    project_no: str
    service_number: int
    name: str
    occurred_at: datetime
    item_code: str
    item_name: str
    department_code: str
    department_name: str
    area_code: str
    applicant_type: int
    applicant_name: str
    applicant_cert_type: str
    applicant_cert_no: str
    applicant_phone: str
    accepted_at: datetime | None
    finished_at: datetime | None
    window_no: str
    staff_no: str
    project_name: str
    item_kind: str
    case_kind: CaseKind
    promised_days: int
    online: bool
    promised_unit: TimeUnit = TimeUnit.working_day
    legal_days: int = 0
    legal_unit: TimeUnit = TimeUnit.working_day
    item_theme: str = ""
    org_code: str = ""
    org_name: str = ""
    handler_name: str = ""
    agent_name: str = ""
    agent_cert_type: str = ""
    agent_cert_no: str = ""


@dataclass(frozen=True)
class RatingToSend:
    """One evaluation (评价) of a service record, with the record it rates.

    `tags` are national indicator codes (the province's norm dictionary, `fetch_indicators`): the
    county maps its local tags onto them before sending. `evaluator_name` is the person who rated
    (empty for an anonymous rating).
    """

    evaluation_id: int
    record: RecordToSend
    assess_number: int
    channel: str
    level: int
    tags: tuple[str, ...]
    comment: str
    is_default: bool
    rated_at: datetime
    evaluator_name: str = ""
    # Not sent: the id of the request that stored the rating, for the delivery log line.
    request_id: str = ""

    @property
    def record_id(self) -> int:
        return self.record.record_id

    @property
    def project_no(self) -> str:
        return self.record.project_no

    @property
    def service_number(self) -> int:
        return self.record.service_number


@dataclass(frozen=True)
class TicketResultToSend:
    """差评整改在线反馈: the closing result of a rectification ticket."""

    ticket_id: int
    project_no: str
    service_number: int
    assess_number: int
    result: RectifyResult
    measures: str
    feedback: str
    closed_at: datetime


class Outcome(StrEnum):
    accepted = "accepted"
    duplicate = "duplicate"  # the province already holds it: delivered
    no_record = "no_record"  # the province has not seen the rated record: push it, then retry
    # A follow-up rating (assess_number 2) answered "rating already there": the province may have
    # refused something it never stored, so it is shown to supervisors, never counted delivered.
    followup_refused = "followup_refused"
    rejected = "rejected"  # the province refuses the item itself; retrying cannot help
    not_forwardable = "not_forwardable"  # a self-built item: never sent (see wire.is_forwardable)
    # Not sent: the province failed while a refused batch was being split; send it again later.
    unsent = "unsent"


@dataclass(frozen=True)
class ItemResult:
    outcome: Outcome
    message: str = ""

    @property
    def delivered(self) -> bool:
        return self.outcome in (Outcome.accepted, Outcome.duplicate)


@dataclass(frozen=True)
class DayHoldings:
    """What the province says it holds for one day: keys of records and of ratings, with project
    numbers as the province spells them (`province_key`)."""

    records: frozenset[tuple[str, int]]
    ratings: frozenset[tuple[str, int, int]]


@dataclass(frozen=True)
class Indicator:
    """One national rating indicator (评价指标) of the province's norm dictionary; `levels` are
    the levels it is offered for, in our numbering (5 非常满意 … 1 非常不满意)."""

    code: str
    text: str
    levels: frozenset[int]
    version: str


# --- errors ---------------------------------------------------------------------------------------
#
# ProvinceConfigError            a setting the connector cannot run with (raised at start-up)
# ProvinceCallFailed             a whole call failed: nothing in it was delivered; try again later
# ├── ProvinceUnavailable        network error, timeout, HTTP 5xx/429, an answer that is not JSON or
# │                              not of a known shape, a refusal of the whole call we cannot place
# ├── ProvinceRefusedCall        the province refused the call itself: wrong key, appMark, appWord,
# │                              tenancy or clock (密钥或应用标识错误); `reason`: its text verbatim
# └── ProvinceEndpointOff        an optional endpoint (ticket results, holdings) is not configured
#
# A refusal of one item is not an error: it comes back as that item's ItemResult.


class ProvinceConfigError(ValueError):
    """A province setting is missing or malformed; the message names the setting."""


class ProvinceCallFailed(Exception):
    """The whole call failed and nothing in it was delivered; the call may be retried."""


class ProvinceUnavailable(ProvinceCallFailed):
    """Network error, timeout, 5xx, 429, or an answer we cannot read: retry with back-off."""


class ProvinceRefusedCall(ProvinceCallFailed):
    """The province refused the call itself (credentials or clock): retrying will not help until
    the settings are corrected. `reason` is the province's text, kept verbatim for the console."""

    console_text = "密钥或应用标识错误"

    def __init__(self, reason: str) -> None:
        super().__init__(f"{self.console_text}：{reason}")
        self.reason = reason


class ProvinceEndpointOff(ProvinceCallFailed):
    """An optional endpoint is not configured (its URL setting is empty)."""
