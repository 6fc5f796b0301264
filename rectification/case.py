"""The citizen's case (issue 10, item 2) and the path every ticket walks (item 6).

A signed case link (no login) shows a real-name bad review's case: its number, each step's date,
the current step and its due date, the result and the explanation; at the feedback step it takes
the citizen's answer online, recorded through `Rectification.act` (contact method "online").
The page shows nothing personal: no name, phone or ID number, and no staff names.

Also here, because the desk and the case page share them: the five steps of the whole path
(受理 → 核实 → 整改 → 回访 → 审核) and "剩 N 个工作日 / 超期 N 个工作日".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from evaluation_service.identity.model import Actor, Role
from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.errors import Conflict, Gone, InvalidInput, Unauthenticated
from rectification.model import (
    CLOSED_STATES,
    Action,
    ContactMethod,
    Satisfaction,
    State,
    TicketClock,
)
from rectification.schemas import ActionIn
from rectification.service import Rectification
from rectification.tables import Ticket, TicketEvent

# --- the path and the time left (pure) -----------------------------------------------------------

STEPS: tuple[tuple[str, str], ...] = (
    ("accept", "受理"),
    ("verify", "核实"),
    ("rectify", "整改"),
    ("feedback", "回访"),
    ("review", "审核"),
)
# Which step each state is in; closed means every step is behind it.
_STEP_OF: dict[State, int] = {
    State.opened: 0,
    State.verifying: 1,
    State.appeal_review: 1,
    State.explanation_review: 1,
    State.rectifying: 2,
    State.extension_review: 2,
    State.paused: 2,  # a pause is taken from rectifying only (材料补正) and goes back to it
    State.feedback: 3,
    State.contact_review: 3,  # 联系不上 / 拒绝回访, under the supervisor's 复核
    State.supervision: 4,
    State.closed: 5,
    State.closed_invalid: 5,
}
# The state whose entry time dates each step.
_STEP_ENTERED = ("opened", "verifying", "rectifying", "feedback", "supervision")


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    status: str  # done / current / todo
    at: datetime | None


def step_bar(state: State, times: dict[str, datetime | None]) -> list[Step]:
    """The five steps with the one the ticket is in; a step is dated when the ticket entered it."""
    current = _STEP_OF[state]
    steps = []
    for index, (key, title) in enumerate(STEPS):
        status = "done" if index < current else "current" if index == current else "todo"
        at = times.get(_STEP_ENTERED[index]) if status != "todo" else None
        steps.append(Step(key, title, status, at))
    return steps


@dataclass(frozen=True)
class TimeLeft:
    overdue: bool
    days: int  # working days left (today counts when it is one) or working days overdue
    text: str


def time_left(clock: TicketClock, due_at: datetime | None, now: datetime) -> TimeLeft | None:
    """剩 N 个工作日 / 超期 N 个工作日, in the county's working days after today (so a step of N
    working days begun today shows 剩 N); 今天到期 on the due day itself."""
    if due_at is None:
        return None
    today = clock.local_day(now)
    due_day = clock.local_day(due_at)
    if now <= due_at:
        days = clock.calendar.count_working_days(today, due_day).count
        if due_day == today:
            return TimeLeft(False, days, "今天到期")
        return TimeLeft(False, days, f"剩 {days} 个工作日")
    days = clock.calendar.count_working_days(due_day, today).count
    return TimeLeft(True, days, f"超期 {days} 个工作日" if days else "已超期")


def case_number(ticket_id: int, opened_at: datetime, clock: TicketClock) -> str:
    """ZG + the year it was opened + the ticket id: what a citizen quotes on the phone."""
    return f"ZG{clock.local_day(opened_at).year}{ticket_id:06d}"


# --- the signed link -----------------------------------------------------------------------------


def _mac(secret: bytes, payload: str) -> str:
    # "case:" keeps these apart from rating tokens signed with the same secret.
    digest = hmac.new(secret, f"case:{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


class CaseTokens:
    """`ticket.expiry.mac`, HMAC-SHA256 like the rating links."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def issue(self, ticket_id: int, expires_at: datetime) -> str:
        payload = f"{ticket_id}.{int(expires_at.timestamp())}"
        return f"{payload}.{_mac(self._secret, payload)}"

    def verify(self, token: str, now: datetime) -> int:
        broken = Unauthenticated(
            "bad_case_token",
            "案件查询链接无效或已被改动，请使用短信或评价完成页中的完整链接。",
            "the case link is malformed or its signature does not match",
            "token",
        )
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 96:
            raise broken
        ticket, expiry, mac = parts
        if not hmac.compare_digest(mac, _mac(self._secret, f"{ticket}.{expiry}")):
            raise broken
        if not (ticket.isdigit() and expiry.isdigit()):
            raise broken
        if now > datetime.fromtimestamp(int(expiry), UTC):
            raise Gone(
                "case_link_expired",
                "该案件查询链接已过期。如需了解办理情况，请拨打政务服务便民热线 12345。",
                "the case link has expired",
            )
        return int(ticket)


# --- what the citizen sees -----------------------------------------------------------------------

CITIZEN_STATE_TEXT: dict[State, str] = {
    State.opened: "已立案，等待办理部门受理",
    State.verifying: "办理部门正在核实",
    State.appeal_review: "核实情况审核中",
    State.explanation_review: "核实情况审核中",
    State.rectifying: "办理部门正在整改",
    State.extension_review: "办理部门正在整改",
    State.paused: "办理部门正在整改（等待补正材料，期间不计时限）",
    State.feedback: "整改已完成，等待您评价整改结果",
    State.contact_review: "回访情况审核中",
    State.supervision: "监督员审核中",
    State.closed: "已办结",
    State.closed_invalid: "已办结（经核实不属于服务问题）",
}
# The audit actions a citizen is shown (dates only; notes may name staff or other people).
_PUBLIC_EVENTS: dict[str, str] = {
    "open": "您的差评已立案",
    Action.accept: "办理部门已受理",
    Action.confirm: "核实属实，开始整改",
    Action.submit_result: "办理部门提交整改结果",
    Action.approve_explanation: "情况说明经监督员审核同意",
    Action.approve_extension: "整改期限经批准延长",
    Action.record_feedback: "回访：登记您对整改结果的评价",
    Action.send_back: "监督员要求重新整改",
    Action.decide_appeal: "监督员完成核实审核",
    Action.close: "监督员审核通过，办结",
}
SATISFACTION_TEXT = {
    Satisfaction.satisfied.value: "满意",
    Satisfaction.basically_satisfied.value: "基本满意",
    Satisfaction.dissatisfied.value: "不满意",
}
RESULT_TEXT = {"rectified": "已整改", "explained": "已作情况说明", "invalid": "无效差评"}


@dataclass(frozen=True)
class CaseCard:
    """What the thank-you page shows: the case number, the current step, its due date, the link."""

    ticket_id: int
    case_no: str
    step_text: str
    due_at: datetime | None
    url: str
    path: str  # the link without PUBLIC_BASE_URL, for links within the site


@dataclass(frozen=True)
class CaseEvent:
    at: datetime
    text: str


@dataclass(frozen=True)
class CaseView:
    token: str
    case_no: str
    item_name: str
    department_name: str
    service_name: str
    opened_at: datetime
    state: str
    state_text: str
    closed: bool
    due_at: datetime | None
    left: TimeLeft | None
    steps: list[Step]
    events: list[CaseEvent]
    result_text: str
    measures: str
    explanation: str
    feedback_text: str
    feedback_online: bool
    answer_open: bool  # the 回访 answer is taken online now


class Cases:
    """The citizen's side of a ticket, behind a signed link."""

    def __init__(
        self,
        rectification: Rectification,
        tokens: CaseTokens,
        base_url: str,
        link_days: int,
        sms_template: str,
    ) -> None:
        self.rectification = rectification
        self.clock = rectification.clock
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")
        self.link_days = link_days
        self.sms_template = sms_template

    def path(self, ticket_id: int, now: datetime) -> str:
        """The case link, valid `link_days` from today; the same link all day (the expiry is
        rounded up to the next UTC midnight), so the thank-you page and a later visit agree."""
        last_day = (now + timedelta(days=self.link_days)).astimezone(UTC).date()
        day_end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=UTC)
        return f"/case/{self.tokens.issue(ticket_id, day_end)}"

    async def _card(self, row: dict[str, Any], now: datetime) -> CaseCard:
        state = State(row["state"])
        path = self.path(row["id"], now)
        return CaseCard(
            ticket_id=row["id"],
            case_no=case_number(row["id"], as_utc(row["opened_at"]), self.clock),
            step_text=CITIZEN_STATE_TEXT[state],
            due_at=None if state in CLOSED_STATES else as_utc(row["due_at"]),
            url=self.base_url + path,
            path=path,
        )

    async def for_evaluation(self, evaluation_id: int, now: datetime) -> CaseCard | None:
        row = (
            await Ticket.select(Ticket.id, Ticket.state, Ticket.opened_at, Ticket.due_at)
            .where(Ticket.evaluation == evaluation_id)
            .first()
        )
        return None if row is None else await self._card(row, now)

    async def for_record(self, record_id: int, now: datetime) -> CaseCard | None:
        """The latest ticket of a service record (the rating link leads there once rated)."""
        row = (
            await Ticket.select(Ticket.id, Ticket.state, Ticket.opened_at, Ticket.due_at)
            .where(Ticket.service_record == record_id)
            .order_by(Ticket.id, ascending=False)
            .first()
        )
        return None if row is None else await self._card(row, now)

    async def sms(self, ticket_id: int, now: datetime) -> tuple[str, str] | None:
        """The case-link SMS (CASE_SMS_TEMPLATE) and the phone it goes to; None without a phone."""
        row = (
            await Ticket.select(
                Ticket.id,
                Ticket.state,
                Ticket.opened_at,
                Ticket.due_at,
                Ticket.service_transaction.applicant_phone.as_alias("phone"),
            )
            .where(Ticket.id == ticket_id)
            .first()
        )
        if row is None or not (row["phone"] or "").strip():
            return None
        card = await self._card(row, now)
        due = as_utc(row["due_at"])
        text = self.sms_template.format(
            case_no=card.case_no,
            step=card.step_text,
            due=f"{due.astimezone(self.clock.zone):%m月%d日}" if due else "—",
            url=card.url,
        )
        return row["phone"].strip(), text

    async def view(self, token: str, now: datetime) -> CaseView:
        ticket_id = self.tokens.verify(token, now)
        row = (
            await Ticket.select(
                Ticket.id,
                Ticket.state,
                Ticket.opened_at,
                Ticket.due_at,
                Ticket.result,
                Ticket.measures,
                Ticket.explanation,
                Ticket.feedback_satisfaction,
                Ticket.feedback_contact_method,
                *[getattr(Ticket, f"{name}_at") for name in _STEP_ENTERED if name != "opened"],
                Ticket.closed_at,
                Ticket.closed_invalid_at,
                Ticket.item.name.as_alias("item_name"),
                Ticket.department.name.as_alias("department_name"),
                Ticket.service_record.name.as_alias("service_name"),
            )
            .where(Ticket.id == ticket_id)
            .first()
        )
        if row is None:
            raise Unauthenticated(
                "bad_case_token",
                "找不到该案件，请使用短信或评价完成页中的完整链接。",
                "no such case",
                "token",
            )
        events = (
            await TicketEvent.select(
                TicketEvent.action, TicketEvent.created_at, TicketEvent.details
            )
            .where(TicketEvent.ticket == ticket_id)
            .order_by(TicketEvent.id)
        )
        state = State(row["state"])
        closed = state in CLOSED_STATES
        times: dict[str, datetime | None] = {
            name: as_utc(row.get(f"{name}_at")) for name in _STEP_ENTERED
        }
        times["opened"] = as_utc(row["opened_at"])
        closed_at = as_utc(row["closed_at"] or row["closed_invalid_at"])
        shown = [
            CaseEvent(as_utc(e["created_at"]), _PUBLIC_EVENTS[e["action"]])
            for e in events
            if e["action"] in _PUBLIC_EVENTS
        ]
        due_at = None if closed else as_utc(row["due_at"])
        result = row["result"] if closed else ""
        satisfaction = row["feedback_satisfaction"] or ""
        return CaseView(
            token=token,
            case_no=case_number(ticket_id, times["opened"] or now, self.clock),
            item_name=row["item_name"],
            department_name=row["department_name"],
            service_name=row["service_name"],
            opened_at=times["opened"] or now,
            state=state.value,
            state_text=CITIZEN_STATE_TEXT[state],
            closed=closed,
            due_at=due_at,
            left=time_left(self.clock, due_at, now),
            steps=step_bar(state, {**times, "closed": closed_at}),
            events=shown,
            result_text=RESULT_TEXT.get(result, ""),
            measures=row["measures"] if state != State.closed_invalid else "",
            explanation=row["explanation"] if result == "explained" else "",
            feedback_text=SATISFACTION_TEXT.get(satisfaction, ""),
            feedback_online=row["feedback_contact_method"] == ContactMethod.online.value,
            answer_open=state == State.feedback,
        )

    async def answer(self, token: str, satisfaction: str, comment: str, now: datetime) -> None:
        """The citizen's 回访 answer, as `record_feedback` with contact method "online"."""
        ticket_id = self.tokens.verify(token, now)
        if satisfaction not in SATISFACTION_TEXT:
            raise InvalidInput(
                "bad_satisfaction",
                "请选择您对整改结果的评价：满意、基本满意或不满意。",
                "satisfaction must be satisfied, basically_satisfied or dissatisfied",
                "satisfaction",
            )
        row = (
            await Ticket.select(Ticket.state, Ticket.department)
            .where(Ticket.id == ticket_id)
            .first()
        )
        if row is None or row["state"] != State.feedback:
            raise Conflict(
                "not_at_feedback",
                "该案件当前不在回访环节，无需在线答复。您的答复可能已经提交过。",
                "the case is not waiting for the citizen's answer",
                "satisfaction",
            )
        citizen = Actor(
            user_id=0,
            username="群众本人（在线答复）",
            role=Role.liaison,
            department_id=row["department"],
        )
        note = "群众通过案件查询页在线答复" + (f"：{comment.strip()}" if comment.strip() else "")
        await self.rectification.act(
            ticket_id,
            Action.record_feedback.value,
            citizen,
            ActionIn(
                contact_method=ContactMethod.online.value, satisfaction=satisfaction, note=note
            ),
            now,
            citizen=True,
        )
