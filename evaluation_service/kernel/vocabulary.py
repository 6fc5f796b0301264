"""The shared vocabulary of DESIGN §2: channels, levels, what a bad review is, outbox kinds."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Channel(StrEnum):
    pc = "pc"
    mobile = "mobile"
    qr = "qr"
    window = "window"
    kiosk = "kiosk"


TOKEN_CHANNELS = frozenset({Channel.pc, Channel.mobile, Channel.qr})


class DeviceKind(StrEnum):
    window = "window"
    kiosk = "kiosk"


class Level(IntEnum):
    very_satisfied = 5
    satisfied = 4
    basically_satisfied = 3
    dissatisfied = 2
    very_dissatisfied = 1


CHANNEL_TEXT = {
    "pc": "网页端",
    "mobile": "移动端",
    "qr": "扫码评价",
    "window": "窗口评价器",
    "kiosk": "自助终端",
}

LEVEL_TEXT = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class ApplicantType(IntEnum):
    natural_person = 1
    enterprise = 2
    public_institution = 3
    social_organization = 4
    unincorporated_enterprise = 5
    government_agency = 6
    other_organization = 9


class OutboxKind(StrEnum):
    service_record = "service_record"
    evaluation = "evaluation"
    ticket_result = "ticket_result"


class OutboxState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"
    # A follow-up rating the province answered 评价数据不可重复: it may never have been stored
    # there, so it is its own outcome for supervisors, never counted as delivered.
    followup_refused = "followup_refused"
    # A self-built item (its code contains 00000000): kept and counted, never pushed.
    not_forwardable = "not_forwardable"


BAD_MAX_LEVEL = int(Level.dissatisfied)


def is_bad(level: int) -> bool:
    """The one place "bad = level ≤ 2" is written (DESIGN §2); SQL uses `bad_sql`."""
    return level <= BAD_MAX_LEVEL


def bad_sql(level_column: str = "level") -> str:
    """The same rule as a SQL condition, for statements that decide in the database."""
    return f"{level_column} <= {BAD_MAX_LEVEL}"


def is_good(level: int, basic_satisfied_counts_as_good: bool) -> bool:
    threshold = Level.basically_satisfied if basic_satisfied_counts_as_good else Level.satisfied
    return level >= threshold
