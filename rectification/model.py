"""The rectification workflow as data (DESIGN.md §4): states, actions, roles, fields, deadlines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from evaluation_service.identity.model import ROLE_TEXT, Actor, Role
from evaluation_service.kernel.errors import Conflict, Forbidden, InvalidInput
from evaluation_service.kernel.settings import StepDays
from evaluation_service.kernel.workdays import WorkCalendar


class State(StrEnum):
    opened = "opened"
    verifying = "verifying"
    appeal_review = "appeal_review"
    explanation_review = "explanation_review"
    rectifying = "rectifying"
    extension_review = "extension_review"
    feedback = "feedback"
    supervision = "supervision"
    closed = "closed"
    closed_invalid = "closed_invalid"


STATE_TEXT: dict[State, str] = {
    State.opened: "待受理",
    State.verifying: "核实中",
    State.appeal_review: "申诉审核中",
    State.explanation_review: "情况说明审核中",
    State.rectifying: "整改中",
    State.extension_review: "延期审核中",
    State.feedback: "待回访",
    State.supervision: "待监督审核",
    State.closed: "已办结",
    State.closed_invalid: "申诉成立（无效差评）",
}

CLOSED_STATES = frozenset({State.closed, State.closed_invalid})
OPEN_STATES = frozenset(State) - CLOSED_STATES


class Action(StrEnum):
    accept = "accept"
    confirm = "confirm"
    appeal = "appeal"
    decide_appeal = "decide_appeal"
    explain = "explain"
    approve_explanation = "approve_explanation"
    reject_explanation = "reject_explanation"
    submit_result = "submit_result"
    request_extension = "request_extension"
    approve_extension = "approve_extension"
    reject_extension = "reject_extension"
    record_feedback = "record_feedback"
    close = "close"
    send_back = "send_back"


ACTION_TEXT: dict[Action, str] = {
    Action.accept: "受理",
    Action.confirm: "核实属实",
    Action.appeal: "申诉（恶意/误评）",
    Action.decide_appeal: "申诉审核",
    Action.explain: "无法整改情况说明",
    Action.approve_explanation: "同意情况说明",
    Action.reject_explanation: "退回情况说明",
    Action.submit_result: "提交整改结果",
    Action.request_extension: "申请延期",
    Action.approve_extension: "同意延期",
    Action.reject_extension: "不同意延期",
    Action.record_feedback: "登记回访结果",
    Action.close: "办结",
    Action.send_back: "退回重新整改",
}

# What the opening and the sweep write into the audit log; never accepted from a person.
SYSTEM_OPEN = "open"


class AppealKind(StrEnum):
    malicious = "malicious"  # 恶意差评
    mistaken = "mistaken"  # 误评


class AppealDecision(StrEnum):
    upheld = "upheld"
    rejected = "rejected"


class ContactMethod(StrEnum):
    phone = "phone"
    sms = "sms"
    visit = "visit"
    in_person = "in_person"
    online = "online"  # the citizen answered on the case page
    other = "other"


class Satisfaction(StrEnum):
    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"


class Result(StrEnum):
    rectified = "rectified"
    explained = "explained"
    invalid = "invalid"


class Alert(StrEnum):
    none = "none"
    yellow = "yellow"
    red = "red"


# --- action input -------------------------------------------------------------------------------

FIELD_TEXT: dict[str, str] = {
    "note": "说明",
    "appeal_kind": "申诉类型（malicious 恶意差评 / mistaken 误评）",
    "reason": "申诉理由",
    "decision": "审核结论（upheld 申诉成立 / rejected 申诉不成立）",
    "legal_basis": "无法整改的法律法规或政策依据",
    "measures": "整改措施",
    "requested_due_date": "申请的新整改期限（YYYY-MM-DD）",
    "contact_method": "回访方式（phone 电话 / sms 短信 / visit 上门 / in_person 当面 / "
    "online 群众在线答复 / other 其他）",
    "satisfaction": "群众对整改结果的评价（satisfied 满意 / basically_satisfied 基本满意 / "
    "dissatisfied 不满意）",
}

ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "appeal_kind": AppealKind,
    "decision": AppealDecision,
    "contact_method": ContactMethod,
    "satisfaction": Satisfaction,
}

TEXT_MAX_CHARS = 2000
ATTACHMENT_NAME_MAX = 200
ATTACHMENTS_MAX = 20
_ATTACHMENT_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")


@dataclass(frozen=True)
class ActionInput:
    """What a person submits with an action; which fields count depends on the action."""

    note: str = ""
    appeal_kind: str = ""
    reason: str = ""
    decision: str = ""
    legal_basis: str = ""
    measures: str = ""
    requested_due_date: date | None = None
    contact_method: str = ""
    satisfaction: str = ""
    attachments: tuple[str, ...] = ()

    def value(self, name: str) -> object:
        raw = getattr(self, name)
        return raw.strip() if isinstance(raw, str) else raw


@dataclass(frozen=True)
class Transition:
    """One allowed action from one state: who may do it, what they must say, where it leads.

    `branch` lets a field's value pick the target (an appeal upheld or rejected, a citizen satisfied
    or not); without it every application goes to `to`.
    """

    to: State
    role: Role
    required: tuple[str, ...] = ()
    branch: tuple[str, Mapping[str, State]] | None = None

    def target(self, data: ActionInput) -> State:
        if self.branch is None:
            return self.to
        name, targets = self.branch
        return targets[str(data.value(name))]


_FEEDBACK_BRANCH: tuple[str, Mapping[str, State]] = (
    "satisfaction",
    {
        Satisfaction.satisfied: State.supervision,
        Satisfaction.basically_satisfied: State.supervision,
        Satisfaction.dissatisfied: State.rectifying,
    },
)
_APPEAL_BRANCH: tuple[str, Mapping[str, State]] = (
    "decision",
    {AppealDecision.upheld: State.closed_invalid, AppealDecision.rejected: State.rectifying},
)

L, S = Role.liaison, Role.supervisor

# The whole workflow. A pair missing from this table is refused.
TRANSITIONS: dict[tuple[State, Action], Transition] = {
    (State.opened, Action.accept): Transition(State.verifying, L),
    (State.verifying, Action.confirm): Transition(State.rectifying, L, ("note",)),
    (State.verifying, Action.appeal): Transition(State.appeal_review, L, ("appeal_kind", "reason")),
    (State.verifying, Action.explain): Transition(
        State.explanation_review, L, ("legal_basis", "note")
    ),
    (State.appeal_review, Action.decide_appeal): Transition(
        State.rectifying, S, ("decision", "note"), _APPEAL_BRANCH
    ),
    (State.explanation_review, Action.approve_explanation): Transition(State.feedback, S),
    (State.explanation_review, Action.reject_explanation): Transition(
        State.rectifying, S, ("note",)
    ),
    # Discovering during the work that it cannot be done is the same explanation as at verification.
    (State.rectifying, Action.explain): Transition(
        State.explanation_review, L, ("legal_basis", "note")
    ),
    (State.rectifying, Action.submit_result): Transition(State.feedback, L, ("measures",)),
    (State.rectifying, Action.request_extension): Transition(
        State.extension_review, L, ("requested_due_date", "note")
    ),
    (State.extension_review, Action.approve_extension): Transition(State.rectifying, S),
    (State.extension_review, Action.reject_extension): Transition(State.rectifying, S, ("note",)),
    (State.feedback, Action.record_feedback): Transition(
        State.supervision, L, ("contact_method", "satisfaction", "note"), _FEEDBACK_BRANCH
    ),
    (State.supervision, Action.close): Transition(State.closed, S),
    (State.supervision, Action.send_back): Transition(State.rectifying, S, ("note",)),
}
del L, S

ACTION_ROLE: dict[Action, Role] = {}
for (_state, _action), _transition in TRANSITIONS.items():
    assert ACTION_ROLE.setdefault(_action, _transition.role) == _transition.role, _action
assert set(ACTION_ROLE) == set(Action), "every action is reachable from some state"


def allowed_actions(state: State) -> list[Action]:
    return [action for (s, action) in TRANSITIONS if s == state]


# --- applying an action -------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketView:
    """What the pure rules need to know about a ticket."""

    state: State
    department_id: int
    extension_used: bool = False
    due_at: datetime | None = None
    rectify_cap_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    from_state: State
    to_state: State
    action: Action
    data: ActionInput
    redo: bool = False  # 重办: the citizen was still dissatisfied with the result


def _refuse_state(ticket: TicketView, action: Action) -> Conflict:
    options = "、".join(ACTION_TEXT[a] for a in allowed_actions(ticket.state)) or "无（工单已办结）"
    return Conflict(
        "action_not_allowed",
        f"工单当前状态为“{STATE_TEXT[ticket.state]}”，不能执行“{ACTION_TEXT[action]}”。"
        f"当前可执行的操作：{options}。",
        f"action {action} is not allowed in state {ticket.state}",
        "action",
    )


def _check_fields(transition: Transition, data: ActionInput) -> None:
    for name in transition.required:
        value = data.value(name)
        if value in ("", None):
            raise InvalidInput(
                "missing_field",
                f"请填写“{FIELD_TEXT[name]}”。",
                f"{name} is required for this action",
                name,
            )
    for name, kind in ENUM_FIELDS.items():
        value = data.value(name)
        if value and value not in {member.value for member in kind}:
            raise InvalidInput(
                f"bad_{name}",
                f"“{FIELD_TEXT[name]}”的取值“{value}”不正确。",
                f"{name} must be one of {', '.join(m.value for m in kind)}",
                name,
            )
    for name in ("note", "reason", "legal_basis", "measures"):
        if len(str(data.value(name))) > TEXT_MAX_CHARS:
            raise InvalidInput(
                "text_too_long",
                f"“{FIELD_TEXT[name]}”过长，最多{TEXT_MAX_CHARS}字。",
                f"{name} is longer than {TEXT_MAX_CHARS} characters",
                name,
            )
    if len(data.attachments) > ATTACHMENTS_MAX or not all(
        _ATTACHMENT_NAME.match(name) for name in data.attachments
    ):
        raise InvalidInput(
            "bad_attachments",
            f"附件名称不正确：最多{ATTACHMENTS_MAX}个，每个不超过{ATTACHMENT_NAME_MAX}字，"
            "且不能包含路径分隔符。",
            "attachments must be at most 20 plain file names",
            "attachments",
        )


def apply(ticket: TicketView, action: Action, actor: Actor, data: ActionInput) -> Outcome:
    """The one rule of the workflow: who may do what, from which state, with which fields.

    Order of refusals: the actor's role for this action, the ticket's department, the state, the
    fields, then the extension's limits.
    """
    role = ACTION_ROLE[action]
    if actor.role != role:
        raise Forbidden(
            "wrong_role",
            f"“{ACTION_TEXT[action]}”须由{ROLE_TEXT[role]}办理，您的角色是{ROLE_TEXT[actor.role]}。",
            f"{action} needs role {role}, you are {actor.role}",
            "action",
        )
    if role == Role.liaison and actor.department_id != ticket.department_id:
        raise Forbidden(
            "other_department",
            "该工单不属于您所在部门，只能由办理该事项的部门联络员处理。",
            "this ticket belongs to another department",
            "action",
        )
    transition = TRANSITIONS.get((ticket.state, action))
    if transition is None:
        raise _refuse_state(ticket, action)
    _check_fields(transition, data)
    if action == Action.request_extension:
        _check_extension_request(ticket, data)
    to_state = transition.target(data)
    redo = action == Action.record_feedback and to_state == State.rectifying
    return Outcome(ticket.state, to_state, action, data, redo)


def _check_extension_request(ticket: TicketView, data: ActionInput) -> None:
    if ticket.extension_used:
        raise Conflict(
            "extension_used",
            "本工单已申请过一次延期，不能再次申请。请按期完成整改或提交无法整改情况说明。",
            "a ticket can be extended once",
            "requested_due_date",
        )
    requested = data.requested_due_date
    assert requested is not None
    # Compared as calendar days because the dates a liaison picks are days, not instants.
    if (
        ticket.due_at is not None
        and ticket.rectify_cap_at is not None
        and (requested <= ticket.due_at.date() or requested > ticket.rectify_cap_at.date())
    ):
        raise InvalidInput(
            "bad_extension_date",
            f"延期后的整改期限须晚于当前期限（{ticket.due_at.date().isoformat()}），"
            f"且不超过整改最长期限（{ticket.rectify_cap_at.date().isoformat()}）。",
            "the new due date must be after the current one and within the rectification cap",
            "requested_due_date",
        )


# --- deadlines ----------------------------------------------------------------------------------


def step_allowance(days: StepDays, state: State) -> int | None:
    """Working days allowed in a state, or None for a state with no clock of its own."""
    return {
        State.opened: days.accept,
        State.verifying: days.verify,
        State.rectifying: days.rectify,
        State.feedback: days.feedback,
        State.supervision: days.supervision,
        # Supervisors' reviews run on the supervision step's clock.
        State.appeal_review: days.supervision,
        State.explanation_review: days.supervision,
    }.get(state)


@dataclass(frozen=True)
class Due:
    """A step's deadline: the end of its last working day, and the start of the day before it."""

    at: datetime
    warn_at: datetime
    estimated: bool


@dataclass(frozen=True)
class TicketClock:
    """Deadlines in the county's working days; instants are returned in UTC."""

    calendar: WorkCalendar
    zone: ZoneInfo
    days: StepDays = field(default_factory=StepDays)

    def local_day(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()

    def end_of(self, day: date) -> datetime:
        start_next = datetime.combine(day + timedelta(days=1), datetime.min.time(), self.zone)
        return (start_next - timedelta(microseconds=1)).astimezone(UTC)

    def start_of(self, day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), self.zone).astimezone(UTC)

    def due_after(self, since: datetime, working_days: int) -> Due:
        """Due at the end of the N-th working day after `since`'s day; warn from the working day
        before that (yellow), so a one-day step is yellow at once."""
        result = self.calendar.add_working_days(self.local_day(since), working_days)
        previous = self._previous_working_day(result.date)
        warn_day = max(previous, self.local_day(since))
        return Due(self.end_of(result.date), self.start_of(warn_day), result.estimated)

    def due_on(self, day: date) -> Due:
        """A deadline on a chosen day (an approved extension)."""
        previous = self._previous_working_day(day)
        return Due(
            self.end_of(day), self.start_of(previous), not self.calendar.is_official(day.year)
        )

    def for_state(self, state: State, since: datetime) -> Due | None:
        days = step_allowance(self.days, state)
        return None if days is None else self.due_after(since, days)

    def accept_due(self, now: datetime) -> Due:
        return self.due_after(now, self.days.accept)

    def rectify_cap(self, since: datetime) -> datetime:
        return self.due_after(since, self.days.rectify_cap).at

    def _previous_working_day(self, day: date) -> date:
        candidate = day - timedelta(days=1)
        for _ in range(60):  # the longest run of days off in any schedule is well under this
            if self.calendar.is_workday(candidate):
                return candidate
            candidate -= timedelta(days=1)
        return candidate
