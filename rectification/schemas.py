"""Request and response shapes of the ticket, login and notification API (the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from evaluation_service.kernel.inputs import FREE_TEXT, Short, check_instant

Long = Annotated[str, msgspec.Meta(max_length=4000, pattern=FREE_TEXT)]


class ActionIn(msgspec.Struct):
    """The fields an action may carry; which are required depends on the action (see the error)."""

    note: Long = ""
    appeal_kind: Short = ""
    reason: Long = ""
    decision: Short = ""
    legal_basis: Long = ""
    measures: Long = ""
    requested_due_date: date | None = None
    contact_method: Short = ""
    contact_outcome: Short = ""
    # When the contact happened (a call made earlier, recorded now); without a zone it is county
    # time; when left out, the time of recording.
    contacted_at: datetime | None = None
    satisfaction: Short = ""
    attachments: list[Short] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        check_instant(self.contacted_at, "contacted_at")


class ContactOut(msgspec.Struct):
    """The evaluator's contact; masked unless the reader may see personal data (§3 rule 8)."""

    name: str
    phone: str
    cert_no: str
    masked: bool


class EventOut(msgspec.Struct):
    id: int
    action: str
    actor: str
    role: str
    from_state: str
    to_state: str
    note: str
    attachments: list[str]
    details: dict[str, str]
    at: datetime


class TicketSummary(msgspec.Struct):
    id: int
    state: str
    state_text: str
    department_code: str
    department_name: str
    item_code: str
    item_name: str
    project_no: str
    level: int
    window_no: str
    staff_no: str
    contact: ContactOut
    opened_at: datetime
    due_at: datetime | None
    due_estimated: bool
    alert: str
    overdue: bool
    redo_count: int
    reopen_count: int
    result: str


class RateCounts(msgspec.Struct):
    """Where the ticket stands in the monthly rates (evaluation_service/kernel/rates.py)."""

    valid: bool  # not an upheld appeal (无效差评)
    feedback_done: bool  # counts as 回访 done in 回访率
    no_view: bool  # 联系不上 / 拒绝回访: counted as 回访 done, listed apart
    rectified: bool  # counts as done in 整改率
    reopened: bool  # 重办 or reopened by a bad follow-up


class TicketDetail(msgspec.Struct):
    id: int
    state: str
    state_text: str
    allowed_actions: list[str]
    department_code: str
    department_name: str
    item_code: str
    item_name: str
    project_no: str
    service_number: int
    service_name: str
    window_no: str
    staff_no: str
    contact: ContactOut
    evaluation_id: int
    level: int
    channel: str
    tags: list[str]
    comment: str
    rated_at: datetime
    opened_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    due_estimated: bool
    alert: str
    overdue: bool
    rectify_cap_at: datetime | None
    extension_used: bool
    requested_due_date: str
    redo_count: int
    reopen_count: int
    first_contact_at: datetime | None
    first_contact_method: str
    first_contact_outcome: str
    paused_working_days: int
    # Distinct days of unanswered 回访 attempts in the current feedback round (联系不上 needs
    # TICKET_UNREACHABLE_ATTEMPTS of them).
    attempt_days: int
    appeal_kind: str
    appeal_reason: str
    legal_basis: str
    explanation: str
    measures: str
    feedback_contact_method: str
    feedback_satisfaction: str
    feedback_note: str
    result: str
    state_times: dict[str, datetime]
    statistics: RateCounts
    version: int
    history: list[EventOut]


class TicketPage(msgspec.Struct):
    total: int
    items: list[TicketSummary]


class NotificationOut(msgspec.Struct):
    id: int
    ticket_id: int | None
    kind: str
    message: str
    created_at: datetime
    read: bool
