"""What forwarding sends, in our vocabulary (DESIGN.md §2), and how the province answered each
item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class RecordToSend:
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


@dataclass(frozen=True)
class RatingToSend:
    evaluation_id: int
    record_id: int
    project_no: str
    service_number: int
    assess_number: int
    channel: str
    level: int
    tags: str
    comment: str
    is_default: bool
    rated_at: datetime


@dataclass(frozen=True)
class TicketResultToSend:
    """差评整改在线反馈: the closing result of a rectification ticket."""

    ticket_id: int
    project_no: str
    service_number: int
    assess_number: int
    result: str  # rectified / explained / invalid (rectification's Result values)
    measures: str
    feedback: str
    closed_at: datetime


class Outcome(StrEnum):
    accepted = "accepted"
    duplicate = "duplicate"  # the province already holds it: delivered
    no_record = "no_record"  # a rating whose service record the province has not seen
    rejected = "rejected"  # the province refuses the item itself; retrying cannot help


@dataclass(frozen=True)
class ItemResult:
    outcome: Outcome
    message: str = ""

    @property
    def delivered(self) -> bool:
        return self.outcome in (Outcome.accepted, Outcome.duplicate)


@dataclass(frozen=True)
class DayHoldings:
    """What the province says it holds for one day: keys of records and of ratings."""

    records: frozenset[tuple[str, int]]
    ratings: frozenset[tuple[str, int, int]]


class ProvinceUnavailable(Exception):
    """Network error, timeout, 5xx or an envelope-level refusal: the whole request may be
    retried."""
