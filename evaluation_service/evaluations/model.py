"""Evaluation vocabulary and pure rules: channels, levels, codes, and what a valid rating is."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from evaluation_service.kernel.errors import InvalidInput
from evaluation_service.kernel.item_vocabulary import (
    CASE_KIND_TEXT,
    ITEM_KIND_TEXT,
    MAX_LIMIT_DAYS,
    TIME_UNIT_TEXT,
    CaseKind,
    ItemKind,
    TimeUnit,
)
from evaluation_service.kernel.vocabulary import (
    CHANNEL_TEXT,
    LEVEL_TEXT,
    TOKEN_CHANNELS,
    ApplicantType,
    Channel,
    DeviceKind,
    Level,
    OutboxKind,
    OutboxState,
    is_bad,
    is_good,
)
from evaluation_service.kernel.workdays import WorkCalendar

__all__ = [
    "CASE_KIND_TEXT",
    "CHANNEL_TEXT",
    "ITEM_KIND_TEXT",
    "LEVEL_TEXT",
    "MAX_LIMIT_DAYS",
    "TIME_UNIT_TEXT",
    "TOKEN_CHANNELS",
    "ApplicantType",
    "CaseKind",
    "Channel",
    "DeviceKind",
    "ItemKind",
    "Level",
    "OutboxKind",
    "OutboxState",
    "TimeUnit",
    "is_bad",
    "is_good",
]


def rating_deadline(
    occurred_at: datetime, calendar: WorkCalendar, working_days: int, zone: tzinfo
) -> tuple[datetime, bool]:
    """§3 rule 2: the end of the N-th working day after the service, on the county's clock.

    Returns the deadline in UTC and whether it rests on an estimated (Monday–Friday) calendar.
    """
    local_day = occurred_at.astimezone(zone).date()
    result = calendar.add_working_days(local_day, working_days)
    end = datetime.combine(result.date + timedelta(days=1), datetime.min.time(), zone)
    return (end - timedelta(microseconds=1)).astimezone(UTC), result.estimated


# --- codes -------------------------------------------------------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_ITEM_CODE_RE = re.compile(r"^[0-9A-Za-z]+$")
_PROJECT_NO_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_\-]{0,63}$")
_IDEMPOTENCY_RE = re.compile(r"^[0-9A-Za-z_\-.:]{8,64}$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9\-]{4,19}$")
_CODE_RE = re.compile(r"^[0-9A-Za-z_\-]{1,32}$")
_VERSION_RE = re.compile(r"^[0-9A-Za-z_\-.]{1,32}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CARD = "111"


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character of a unified social credit code."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    return bool(_USCC_RE.match(code)) and uscc_check_char(code[:17]) == code[17]


def is_valid_resident_id(number: str) -> bool:
    if not re.match(r"^\d{17}[\dX]$", number):
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17]


def check_department_code(code: str, field: str = "department_code") -> str:
    if not is_valid_uscc(code):
        raise InvalidInput(
            "bad_department_code",
            f"部门编码“{code}”不是有效的18位统一社会信用代码，请核对后重试。",
            f"department code {code!r} is not a valid 18-character unified social credit code",
            field,
        )
    return code


def check_item_code(code: str, field: str = "item_code") -> str:
    if len(code) not in (31, 33) or not _ITEM_CODE_RE.match(code):
        raise InvalidInput(
            "bad_item_code",
            f"事项编码“{code}”格式不正确：应为31位实施编码或33位业务办理项编码。",
            f"item code {code!r} must be 31 (implementation code) or 33 (business item) characters",
            field,
        )
    return code


def check_area_code(code: str, field: str = "area_code") -> str:
    if not (len(code) == 12 and code.isdigit()):
        raise InvalidInput(
            "bad_area_code",
            f"行政区划代码“{code}”应为12位数字。",
            f"area code {code!r} must be 12 digits",
            field,
        )
    return code


def check_project_no(value: str) -> str:
    if not _PROJECT_NO_RE.match(value):
        raise InvalidInput(
            "bad_project_no",
            "办件编号只能由字母、数字、下划线和短横线组成，长度1至64位。",
            "project_no must be 1-64 letters, digits, '_' or '-'",
            "project_no",
        )
    return value


def check_code(value: str, field: str, zh_name: str) -> str:
    if not _CODE_RE.match(value):
        raise InvalidInput(
            f"bad_{field}",
            f"{zh_name}“{value}”格式不正确：只能由字母、数字、下划线和短横线组成，最长32位。",
            f"{field} {value!r} must be 1-32 letters, digits, '_' or '-'",
            field,
        )
    return value


def check_indicator_version(value: str, field: str = "version") -> str:
    """An indicator dictionary's version, as the province names it (e.g. `SIM-2020.1`)."""
    if not _VERSION_RE.match(value):
        raise InvalidInput(
            "bad_indicator_version",
            f"指标版本“{value}”格式不正确：只能由字母、数字、点、下划线和短横线组成，最长32位。",
            f"indicator version {value!r} must be 1-32 letters, digits, '.', '_' or '-'",
            field,
        )
    return value


def check_indicator_rows(rows: Iterable[tuple[int, str, str]]) -> dict[tuple[int, str], str]:
    """A national indicator dictionary as (level, code, text) rows → text by (level, code).

    Refuses an empty dictionary, so a broken answer from the province never empties the rating
    page; a row repeated with the same text counts once, with another text it is refused.
    """
    result: dict[tuple[int, str], str] = {}
    for level, code, text in rows:
        where = f"{level}/{code}"
        if level not in LEVEL_TEXT:
            raise InvalidInput(
                "bad_indicator_level",
                f"评价指标 {where} 的满意度应为1至5。",
                f"indicator {where}: level must be 1-5",
                "level",
            )
        check_code(code, "code", "指标编码")
        text = text.strip()
        if not text or len(text) > 100:
            raise InvalidInput(
                "bad_indicator_text",
                f"评价指标 {where} 的内容为空或超过100字。",
                f"indicator {where}: text must be 1-100 characters",
                "text",
            )
        if result.setdefault((level, code), text) != text:
            raise InvalidInput(
                "conflicting_indicator",
                f"评价指标 {where} 出现两次且内容不同，未替换现有指标。",
                f"indicator {where} appears twice with different texts",
                "code",
            )
    if not result:
        raise InvalidInput(
            "empty_indicator_dictionary",
            "评价指标字典为空，未替换现有指标，评价页面继续使用当前指标。",
            "the indicator dictionary is empty; the current one is kept",
            "rows",
        )
    return result


# --- handling facts of items and transactions ---------------------------------------------------

_ITEM_KINDS_ZH = "、".join(f"{code} {text}" for code, text in ITEM_KIND_TEXT.items())
_CASE_KINDS_ZH = "、".join(f"{kind}（{text}）" for kind, text in CASE_KIND_TEXT.items())
_TIME_UNITS_ZH = "、".join(f"{unit}（{text}）" for unit, text in TIME_UNIT_TEXT.items())


def check_item_kind(value: str, field: str = "item_kind") -> ItemKind:
    """A national item-type code; empty is `unknown` (the province is then told "other")."""
    try:
        return ItemKind(value)
    except ValueError:
        raise InvalidInput(
            "bad_item_kind",
            f"事项类型“{value}”不正确，应为国家事项类型代码之一：{_ITEM_KINDS_ZH}。",
            f"item_kind {value!r} must be one of 01, 05, 07, 08, 09, 10, 20",
            field,
        ) from None


def check_case_kind(value: str, field: str = "case_kind") -> CaseKind:
    try:
        return CaseKind(value)
    except ValueError:
        raise InvalidInput(
            "bad_case_kind",
            f"办件类型“{value}”不正确，应为 {_CASE_KINDS_ZH}。",
            f"case_kind {value!r} must be 'immediate' or 'promised'",
            field,
        ) from None


def check_time_unit(value: str, field: str) -> TimeUnit:
    try:
        return TimeUnit(value)
    except ValueError:
        raise InvalidInput(
            "bad_time_unit",
            f"时限单位“{value}”不正确，可选：{_TIME_UNITS_ZH}。",
            f"{field} {value!r} must be day, working_day, month or year",
            field,
        ) from None


def check_limit_days(value: int, field: str, zh_name: str) -> int:
    if not 0 <= value <= MAX_LIMIT_DAYS:
        raise InvalidInput(
            f"bad_{field}",
            f"{zh_name}应为0至{MAX_LIMIT_DAYS}之间的整数，当前为{value}。",
            f"{field} must be 0-{MAX_LIMIT_DAYS}, got {value}",
            field,
        )
    return value


@dataclass(frozen=True)
class Handling:
    """How one transaction was handled, as the business system states it.

    None in `item_kind`, `case_kind` or `promised_days`: as the service item says.
    """

    project_name: str = ""
    online: bool = False
    item_kind: ItemKind | None = None
    case_kind: CaseKind | None = None
    promised_days: int | None = None


def check_handling(
    *,
    project_name: str,
    online: bool,
    item_kind: str | None,
    case_kind: str | None,
    promised_days: int | None,
) -> Handling:
    project_name = project_name.strip()
    if len(project_name) > 200:
        raise InvalidInput(
            "bad_project_name",
            f"办件名称过长：最多200字，当前{len(project_name)}字。",
            "project_name must be at most 200 characters",
            "project_name",
        )
    return Handling(
        project_name=project_name,
        online=online,
        # An empty item_kind says as little as an absent one: the item's kind applies.
        item_kind=check_item_kind(item_kind) if item_kind else None,
        case_kind=check_case_kind(case_kind) if case_kind is not None else None,
        promised_days=(
            check_limit_days(promised_days, "promised_days", "承诺办结时限（天数）")
            if promised_days is not None
            else None
        ),
    )


# --- applicants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applicant:
    type: int
    name: str = ""
    cert_type: str = ""
    cert_no: str = ""
    phone: str = ""

    @property
    def identified(self) -> bool:
        """Known well enough to contact about a bad review: what makes a rating real-name."""
        return bool(self.name and (self.cert_no or self.phone))


def check_applicant(applicant: Applicant) -> Applicant:
    if applicant.type not in {t.value for t in ApplicantType}:
        raise InvalidInput(
            "bad_applicant_type",
            "申请人类型不正确：1 自然人，2 企业法人，3 事业法人，4 社会组织法人，5 非法人企业，"
            "6 行政机关，9 其他组织。",
            "applicant.type must be one of 1, 2, 3, 4, 5, 6, 9",
            "applicant.type",
        )
    if len(applicant.name) > 100:
        raise InvalidInput(
            "bad_applicant_name",
            "申请人名称过长（最多100字）。",
            "applicant.name too long",
            "applicant.name",
        )
    if applicant.cert_type == RESIDENT_ID_CARD and not is_valid_resident_id(applicant.cert_no):
        raise InvalidInput(
            "bad_cert_no",
            "身份证号码不正确，请核对18位号码及校验位。",
            "applicant.cert_no is not a valid resident ID number",
            "applicant.cert_no",
        )
    if len(applicant.cert_no) > 32 or len(applicant.cert_type) > 8:
        raise InvalidInput(
            "bad_cert_no",
            "证件类型或证件号码过长。",
            "certificate type or number too long",
            "applicant.cert_no",
        )
    if applicant.phone and not _PHONE_RE.match(applicant.phone):
        raise InvalidInput(
            "bad_phone",
            f"联系电话“{applicant.phone}”格式不正确。",
            f"applicant.phone {applicant.phone!r} is not a phone number",
            "applicant.phone",
        )
    return applicant


@dataclass(frozen=True)
class Agent:
    """The person who handled the case for the applicant (代办人); all empty when there was none."""

    name: str = ""
    cert_type: str = ""
    cert_no: str = ""


def check_agent(agent: Agent) -> Agent:
    where = "applicant.agent"
    if len(agent.name) > 100:
        raise InvalidInput(
            "bad_agent_name",
            "代办人姓名过长（最多100字）。",
            f"{where}.name too long",
            f"{where}.name",
        )
    if (agent.cert_type or agent.cert_no) and not agent.name:
        raise InvalidInput(
            "agent_without_name",
            "填写了代办人证件，但缺少代办人姓名（applicant.agent.name）。",
            f"{where}.name is required when a certificate of the agent is given",
            f"{where}.name",
        )
    if len(agent.cert_no) > 32 or len(agent.cert_type) > 8:
        raise InvalidInput(
            "bad_agent_cert_no",
            "代办人证件类型或证件号码过长（类型最多8位，号码最多32位）。",
            "agent certificate type or number too long",
            f"{where}.cert_no",
        )
    if agent.cert_type == RESIDENT_ID_CARD and not is_valid_resident_id(agent.cert_no):
        raise InvalidInput(
            "bad_agent_cert_no",
            "代办人身份证号码不正确，请核对18位号码及校验位。",
            f"{where}.cert_no is not a valid resident ID number",
            f"{where}.cert_no",
        )
    return agent


# --- ratings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingInput:
    """What a person said: validated before anything touches the database."""

    channel: Channel
    level: int
    tags: tuple[str, ...]
    comment: str
    assess_number: int
    idempotency_key: str
    client_time: datetime | None


def parse_channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise InvalidInput(
            "unknown_channel",
            f"未知的评价渠道“{value}”，可选：pc、mobile、qr、window、kiosk。",
            f"unknown channel {value!r}; expected pc, mobile, qr, window or kiosk",
            "channel",
        ) from None


def says_something(text: str) -> bool:
    """Whether a text has a visible character: not only whitespace and format characters
    (zero-width space, joiners, BOM), which str.strip() keeps."""
    return any(not ch.isspace() and unicodedata.category(ch) != "Cf" for ch in text)


def check_rating(
    *,
    channel: str,
    level: int,
    tags: Iterable[str],
    comment: str,
    assess_number: int,
    idempotency_key: str,
    client_time: datetime | None,
    indicators: Mapping[int, frozenset[str]],
    comment_max_chars: int,
) -> RatingInput:
    """DESIGN.md §3 rule 3 and the input rules; `indicators` maps level → offered tag codes."""
    parsed_channel = parse_channel(channel)
    if level not in LEVEL_TEXT:
        raise InvalidInput(
            "bad_level",
            "满意度应为1至5：5 非常满意，4 满意，3 基本满意，2 不满意，1 非常不满意。",
            "level must be 1-5 (5 very satisfied … 1 very dissatisfied)",
            "level",
        )
    if assess_number not in (1, 2):
        raise InvalidInput(
            "bad_assess_number",
            "评价次数只能是1（首次评价）或2（追加评价）。",
            "assess_number must be 1 (first rating) or 2 (follow-up)",
            "assess_number",
        )
    if not _IDEMPOTENCY_RE.match(idempotency_key):
        raise InvalidInput(
            "bad_idempotency_key",
            "幂等键应为8至64位字母、数字或 _-.: 字符。",
            "idempotency_key must be 8-64 characters of letters, digits or _-.:",
            "idempotency_key",
        )
    # A comment of only spaces and invisible characters says nothing: stored empty, and no reason
    # for a bad rating.
    comment = comment.strip() if says_something(comment) else ""
    if len(comment) > comment_max_chars:
        raise InvalidInput(
            "comment_too_long",
            f"评价内容过长：最多{comment_max_chars}字，当前{len(comment)}字。",
            f"comment has {len(comment)} characters; at most {comment_max_chars} allowed",
            "comment",
        )
    unique_tags = tuple(dict.fromkeys(tags))
    offered = indicators.get(level, frozenset())
    unknown = [tag for tag in unique_tags if tag not in offered]
    if unknown:
        raise InvalidInput(
            "tag_not_for_level",
            f"评价指标 {'、'.join(unknown)} 不属于“{LEVEL_TEXT[level]}”这一档，请重新选择。",
            f"tags {', '.join(unknown)} are not offered for level {level}",
            "tags",
        )
    if is_bad(level) and not unique_tags and not comment:
        raise InvalidInput(
            "bad_review_needs_reason",
            "选择“不满意”或“非常不满意”时，请至少选择一项原因或填写评价内容。",
            "a rating of level 2 or 1 needs at least one tag or a comment",
            "tags",
        )
    return RatingInput(
        channel=parsed_channel,
        level=level,
        tags=unique_tags,
        comment=comment,
        assess_number=assess_number,
        idempotency_key=idempotency_key,
        client_time=client_time,
    )
