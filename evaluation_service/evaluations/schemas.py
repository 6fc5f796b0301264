"""Request and response shapes of the intake contract (DESIGN.md §7), and so its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

Short = Annotated[str, msgspec.Meta(max_length=200)]


class ApplicantIn(msgspec.Struct, forbid_unknown_fields=False):
    type: int
    name: Short = ""
    cert_type: Short = ""
    cert_no: Short = ""
    phone: Short = ""


class ServiceRecordIn(msgspec.Struct):
    service_number: int
    name: Short
    occurred_at: datetime
    window_no: Short = ""
    staff_no: Short = ""


class TransactionIn(msgspec.Struct):
    project_no: Short
    item_code: Short
    department_code: Short
    area_code: Short
    applicant: ApplicantIn
    records: list[ServiceRecordIn]
    accepted_at: datetime | None = None
    finished_at: datetime | None = None


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
    level: int
    idempotency_key: Short
    tags: list[Short] = msgspec.field(default_factory=list)
    comment: Annotated[str, msgspec.Meta(max_length=20000)] = ""
    assess_number: int = 1
    client_time: datetime | None = None
    rating_token: Short | None = None
    project_no: Short | None = None
    service_number: int | None = None
    # Set by a kiosk that read the applicant's ID card; a window device identifies them by default.
    applicant_verified: bool = False


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
    code: str
    text: str
    level: int
    version: str


class ErrorOut(msgspec.Struct):
    error: str
    message: str
    message_en: str
    field: str | None = None
