"""Request and response shapes of the intake contract (DESIGN.md §7), and so its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from evaluation_service.kernel.inputs import FREE_TEXT, Int32, Short, check_instant


class AgentIn(msgspec.Struct):
    """代办人：代申请人办理业务的人。The agent who handled the case for the applicant."""

    name: Annotated[Short, msgspec.Meta(description="代办人姓名（最多100字）。Agent's name.")] = ""
    cert_type: Annotated[
        Short,
        msgspec.Meta(
            description="代办人证件类型代码，如 111 居民身份证（最多8位）。"
            "Agent's certificate type code (111: resident ID card)."
        ),
    ] = ""
    cert_no: Annotated[
        Short,
        msgspec.Meta(
            description="代办人证件号码（最多32位）；居民身份证须校验通过。"
            "Agent's certificate number; a resident ID must pass its check digit."
        ),
    ] = ""


class ApplicantIn(msgspec.Struct, forbid_unknown_fields=False):
    type: Int32
    name: Short = ""
    cert_type: Short = ""
    cert_no: Short = ""
    phone: Short = ""
    agent: Annotated[
        AgentIn | None,
        msgspec.Meta(
            description="代办人（可选）：由他人代为办理时填写。"
            "The agent (代办人), when someone else handled the case; omit otherwise."
        ),
    ] = None


class ServiceRecordIn(msgspec.Struct):
    service_number: Int32
    name: Short
    occurred_at: datetime
    window_no: Short = ""
    staff_no: Short = ""

    def __post_init__(self) -> None:
        check_instant(self.occurred_at, "occurred_at")


class TransactionIn(msgspec.Struct):
    project_no: Short
    item_code: Short
    department_code: Short
    area_code: Short
    applicant: ApplicantIn
    records: list[ServiceRecordIn]
    accepted_at: datetime | None = None
    finished_at: datetime | None = None
    project_name: Annotated[
        Short,
        msgspec.Meta(
            description="办件名称（可选），如“张三的个体工商户设立登记”；省略时为空。"
            "Name of the case as the business system shows it; empty when omitted."
        ),
    ] = ""
    online: Annotated[
        bool,
        msgspec.Meta(
            description="是否网上申请（可选，默认否）：true 网上申请，false 窗口申请。"
            "Whether the application came in online (true) or at a counter (false); "
            "omitted: false."
        ),
    ] = False
    item_kind: Annotated[
        Short | None,
        msgspec.Meta(
            description="事项类型（可选）：01 行政许可、05 行政给付、07 行政确认、"
            "08 行政奖励、09 行政裁决、10 其他行政权力、20 公共服务；省略时取事项目录中的类型。"
            "National item-type code; omitted: the catalogue's type of the item."
        ),
    ] = None
    case_kind: Annotated[
        Short | None,
        msgspec.Meta(
            description="办件类型（可选）：immediate 即办件、promised 承诺件；"
            "省略时取事项目录中的类型。"
            "immediate (handled on the spot) or promised (within promised days); "
            "omitted: the catalogue's kind of the item."
        ),
    ] = None
    promised_days: Annotated[
        Int32 | None,
        msgspec.Meta(
            description="承诺办结时限（可选，0至3650，单位同事项目录）；省略时取事项目录中的时限。"
            "Promised time limit of this case (0-3650, in the item's unit); omitted: the "
            "catalogue's limit of the item."
        ),
    ] = None

    def __post_init__(self) -> None:
        check_instant(self.accepted_at, "accepted_at")
        check_instant(self.finished_at, "finished_at")


class ServiceRecordOut(msgspec.Struct):
    service_number: int
    rating_token: str
    rating_url: str
    rating_deadline: datetime
    deadline_estimated: bool


class TransactionOut(msgspec.Struct):
    project_no: str
    created: bool
    records: list[ServiceRecordOut]


class EvaluationIn(msgspec.Struct):
    channel: Short
    level: Int32
    idempotency_key: Short
    tags: list[Short] = msgspec.field(default_factory=list)
    comment: Annotated[str, msgspec.Meta(max_length=20000, pattern=FREE_TEXT)] = ""
    assess_number: Int32 = 1
    client_time: datetime | None = None
    rating_token: Short | None = None
    project_no: Short | None = None
    service_number: Int32 | None = None
    # Set by a kiosk that read the applicant's ID card; a window device identifies them by default.
    applicant_verified: bool = False

    def __post_init__(self) -> None:
        check_instant(self.client_time, "client_time")


class EvaluationOut(msgspec.Struct):
    id: int
    project_no: str
    service_number: int
    assess_number: int
    channel: str
    level: int
    tags: list[str]
    comment: str
    real_name: bool
    received_at: datetime
    ticket_id: int | None = None


class IndicatorOut(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(description="国家评价指标编码。National indicator code.")]
    text: Annotated[
        str,
        msgspec.Meta(
            description="向评价人展示的文字：本县表述，未设置时为国家指标内容。"
            "What to show: the county's wording when set, else the national text."
        ),
    ]
    level: int
    version: str
    national_text: Annotated[
        str, msgspec.Meta(description="国家指标内容。The indicator's national text.")
    ] = ""
