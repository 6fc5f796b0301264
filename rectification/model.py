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
    contact_review = "contact_review"
    supervision = "supervision"
    paused = "paused"
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
    State.contact_review: "回访复核中",
    State.paused: "暂停（等待群众补正材料）",
    State.supervision: "待监督审核",
    State.closed: "已办结",
    State.closed_invalid: "申诉成立（无效差评）",
}

CLOSED_STATES = frozenset({State.closed, State.closed_invalid})
# The same as an SQL list, for `state IN (…)` in the statements written by hand.
CLOSED_STATES_SQL = ", ".join(f"'{state.value}'" for state in sorted(CLOSED_STATES))
OPEN_STATES = frozenset(State) - CLOSED_STATES


class Action(StrEnum):
    accept = "accept"
    record_contact = "record_contact"
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
    pause = "pause"
    resume = "resume"
    record_attempt = "record_attempt"
    record_feedback = "record_feedback"
    review_close = "review_close"
    review_return = "review_return"
    close = "close"
    close_dissatisfied = "close_dissatisfied"
    send_back = "send_back"


ACTION_TEXT: dict[Action, str] = {
    Action.accept: "受理",
    Action.record_contact: "登记首次联系（回访核实）",
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
    Action.pause: "暂停计时（等待群众补正材料）",
    Action.resume: "恢复整改计时",
    Action.record_attempt: "登记回访未接通",
    Action.record_feedback: "登记回访结果",
    Action.review_close: "复核办结（联系不上/拒绝回访）",
    Action.review_return: "退回重新回访",
    Action.close: "办结",
    Action.close_dissatisfied: "办结（已整改、群众仍不满意）",
    Action.send_back: "退回重新整改",
}

# What the system writes into the audit log; never accepted from a person. A bad follow-up rating
# (追加评价) of a record whose ticket is open is recorded on it (`follow_up`); one whose ticket is
# closed reopens it (`reopen`, counted in `reopen_count`): one ticket per service record.
SYSTEM_OPEN = "open"
SYSTEM_FOLLOW_UP = "follow_up"
SYSTEM_REOPEN = "reopen"
SYSTEM_TEXT = {
    SYSTEM_OPEN: "立案",
    SYSTEM_FOLLOW_UP: "追加差评（并入本工单）",
    SYSTEM_REOPEN: "追加差评（工单重新打开）",
}


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


class ContactOutcome(StrEnum):
    """What the first contact at verification (回访核实) came to."""

    reached = "reached"
    unreachable = "unreachable"
    refused = "refused"


class Satisfaction(StrEnum):
    """The outcome of the 回访 after the result: the citizen's view, or why there is none."""

    satisfied = "satisfied"
    basically_satisfied = "basically_satisfied"
    dissatisfied = "dissatisfied"
    unreachable = "unreachable"  # 联系不上: only after enough attempts on different days
    refused = "refused"  # 拒绝回访


# The branch key of a citizen still dissatisfied after the allowed 重办 rounds (WorkflowLimits).
DISSATISFIED_AFTER_REDOS = "dissatisfied_after_redos"


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
    "contact_method": "联系方式（phone 电话 / sms 短信 / visit 上门 / in_person 当面 / "
    "online 群众在线答复 / other 其他）",
    "contact_outcome": "联系结果（reached 已联系上 / unreachable 未联系上 / refused 拒绝沟通）",
    "contacted_at": "联系时间",
    "satisfaction": "回访结果（satisfied 满意 / basically_satisfied 基本满意 / "
    "dissatisfied 不满意 / unreachable 联系不上 / refused 拒绝回访）",
}

ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "appeal_kind": AppealKind,
    "decision": AppealDecision,
    "contact_method": ContactMethod,
    "contact_outcome": ContactOutcome,
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
    contact_outcome: str = ""
    contacted_at: datetime | None = None  # when the contact happened; now when not given
    satisfaction: str = ""
    attachments: tuple[str, ...] = ()

    def value(self, name: str) -> object:
        raw = getattr(self, name)
        return raw.strip() if isinstance(raw, str) else raw


class Need(StrEnum):
    """A precondition of a transition beyond its state and fields (checked after both)."""

    first_contact = "first_contact"  # the citizen was contacted at verification
    not_dissatisfied = "not_dissatisfied"  # a plain close: the citizen is not still dissatisfied
    dissatisfied_after_redos = "dissatisfied_after_redos"  # the allowed 重办 rounds are used up


@dataclass(frozen=True)
class Transition:
    """One allowed action from one state: who may do it, what they must say, where it leads.

    `branch` lets a field's value pick the target (an appeal upheld or rejected, a citizen satisfied
    or not); without it every application goes to `to`. A citizen still dissatisfied once the
    allowed 重办 rounds are used up takes the `DISSATISFIED_AFTER_REDOS` key of the branch, when it
    has one. `needs` are preconditions on the ticket (see `Need`).
    """

    to: State
    role: Role
    required: tuple[str, ...] = ()
    branch: tuple[str, Mapping[str, State]] | None = None
    needs: tuple[Need, ...] = ()

    def target(self, data: ActionInput, redos_used_up: bool = False) -> State:
        if self.branch is None:
            return self.to
        name, targets = self.branch
        key = str(data.value(name))
        if (
            key == Satisfaction.dissatisfied
            and redos_used_up
            and DISSATISFIED_AFTER_REDOS in targets
        ):
            key = DISSATISFIED_AFTER_REDOS
        return targets[key]


_FEEDBACK_BRANCH: tuple[str, Mapping[str, State]] = (
    "satisfaction",
    {
        Satisfaction.satisfied: State.supervision,
        Satisfaction.basically_satisfied: State.supervision,
        Satisfaction.dissatisfied: State.rectifying,  # 重办, counted
        # After the allowed 重办 rounds the supervisor decides: close as 已整改、群众仍不满意
        # (close_dissatisfied) or send back for one more round.
        DISSATISFIED_AFTER_REDOS: State.supervision,
        # No view of the citizen: the supervisor reviews the attempts (复核) and closes or returns.
        Satisfaction.unreachable: State.contact_review,
        Satisfaction.refused: State.contact_review,
    },
)
_APPEAL_BRANCH: tuple[str, Mapping[str, State]] = (
    "decision",
    {AppealDecision.upheld: State.closed_invalid, AppealDecision.rejected: State.rectifying},
)

L, S = Role.liaison, Role.supervisor
CONTACTED = (Need.first_contact,)

# The whole workflow. A pair missing from this table is refused.
TRANSITIONS: dict[tuple[State, Action], Transition] = {
    (State.opened, Action.accept): Transition(State.verifying, L),
    # 回访核实: the first contact with the citizen, due within TICKET_FIRST_CONTACT_WORKING_DAYS;
    # it may be recorded more than once (a first call not answered, a second one reached).
    (State.verifying, Action.record_contact): Transition(
        State.verifying, L, ("contact_method", "contact_outcome")
    ),
    (State.verifying, Action.confirm): Transition(State.rectifying, L, ("note",), needs=CONTACTED),
    (State.verifying, Action.appeal): Transition(
        State.appeal_review, L, ("appeal_kind", "reason"), needs=CONTACTED
    ),
    (State.verifying, Action.explain): Transition(
        State.explanation_review, L, ("legal_basis", "note"), needs=CONTACTED
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
    # 材料补正: waiting on the citizen stops the clock; the paused working days move the due date
    # and the overall cap when the work resumes. The reason is the note.
    (State.rectifying, Action.pause): Transition(State.paused, L, ("note",)),
    (State.paused, Action.resume): Transition(State.rectifying, L),
    # A 回访 call nobody answered: its own event, so 联系不上 can prove the attempts and their days.
    (State.feedback, Action.record_attempt): Transition(State.feedback, L, ("contact_method",)),
    (State.feedback, Action.record_feedback): Transition(
        State.supervision, L, ("contact_method", "satisfaction", "note"), _FEEDBACK_BRANCH
    ),
    (State.contact_review, Action.review_close): Transition(State.closed, S, ("note",)),
    (State.contact_review, Action.review_return): Transition(State.feedback, S, ("note",)),
    (State.supervision, Action.close): Transition(State.closed, S, needs=(Need.not_dissatisfied,)),
    (State.supervision, Action.close_dissatisfied): Transition(
        State.closed, S, ("note",), needs=(Need.dissatisfied_after_redos,)
    ),
    (State.supervision, Action.send_back): Transition(State.rectifying, S, ("note",)),
}
del L, S

ACTION_ROLE: dict[Action, Role] = {}
for (_state, _action), _transition in TRANSITIONS.items():
    assert ACTION_ROLE.setdefault(_action, _transition.role) == _transition.role, _action
assert set(ACTION_ROLE) == set(Action), "every action is reachable from some state"


# Fields an action takes without requiring them (besides `note` and `attachments`, which all take).
OPTIONAL_FIELDS: dict[Action, tuple[str, ...]] = {
    Action.record_contact: ("contacted_at",),
    Action.record_attempt: ("contacted_at",),
}


def allowed_actions(state: State) -> list[Action]:
    return [action for (s, action) in TRANSITIONS if s == state]


@dataclass(frozen=True)
class WorkflowLimits:
    """The counts of the workflow that are settings (TICKET_UNREACHABLE_ATTEMPTS,
    TICKET_REDO_ROUNDS)."""

    unreachable_attempts: int = 3
    redo_rounds: int = 2


# --- applying an action -------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketView:
    """What the pure rules need to know about a ticket."""

    state: State
    department_id: int
    extension_used: bool = False
    due_at: datetime | None = None
    rectify_cap_at: datetime | None = None
    contacted: bool = False  # a first contact was recorded at verification
    redo_count: int = 0
    feedback_satisfaction: str = ""
    attempt_days: int = 0  # distinct days of unanswered 回访 attempts in this feedback round


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


def _check_needs(
    transition: Transition, ticket: TicketView, action: Action, limits: WorkflowLimits
) -> None:
    dissatisfied = ticket.feedback_satisfaction == Satisfaction.dissatisfied
    for need in transition.needs:
        if need == Need.first_contact and not ticket.contacted:
            raise Conflict(
                "first_contact_missing",
                f"请先“{ACTION_TEXT[Action.record_contact]}”：登记联系群众的方式、时间和结果，"
                f"再{ACTION_TEXT[action]}。",
                "record the first contact with the citizen first",
                "action",
            )
        if need == Need.not_dissatisfied and dissatisfied:
            raise Conflict(
                "citizen_dissatisfied",
                "群众对整改结果仍不满意：请“退回重新整改”，或选择"
                f"“{ACTION_TEXT[Action.close_dissatisfied]}”并写明理由。",
                "the citizen is still dissatisfied; send back or close as dissatisfied",
                "action",
            )
        if need == Need.dissatisfied_after_redos and not (
            dissatisfied and ticket.redo_count >= limits.redo_rounds
        ):
            raise Conflict(
                "redo_rounds_not_used",
                f"只有重办{limits.redo_rounds}次后群众仍不满意的工单，才能"
                f"“{ACTION_TEXT[Action.close_dissatisfied]}”。本工单已重办{ticket.redo_count}次。",
                f"only after {limits.redo_rounds} redo rounds with the citizen still dissatisfied",
                "action",
            )


def _check_unreachable(ticket: TicketView, data: ActionInput, limits: WorkflowLimits) -> None:
    if data.value("satisfaction") != Satisfaction.unreachable:
        return
    if ticket.attempt_days < limits.unreachable_attempts:
        raise Conflict(
            "too_few_attempts",
            f"登记“联系不上”须先在{limits.unreachable_attempts}个不同的日期各尝试联系群众"
            f"（“{ACTION_TEXT[Action.record_attempt]}”），目前已在{ticket.attempt_days}个日期尝试。",
            f"unreachable needs attempts on {limits.unreachable_attempts} different days, "
            f"found {ticket.attempt_days}",
            "satisfaction",
        )


def check_contacted_at(contacted_at: datetime, earliest: datetime, now: datetime) -> None:
    """A contact happened between the ticket's opening and now (a few minutes of clock skew)."""
    if contacted_at > now + timedelta(minutes=10) or contacted_at < earliest:
        raise InvalidInput(
            "bad_contacted_at",
            "“联系时间”不正确：不能早于工单立案时间，也不能晚于现在。",
            "contacted_at must be between the ticket's opening and now",
            "contacted_at",
        )


def apply(
    ticket: TicketView,
    action: Action,
    actor: Actor,
    data: ActionInput,
    limits: WorkflowLimits | None = None,
) -> Outcome:
    """The one rule of the workflow: who may do what, from which state, with which fields.

    Order of refusals: the actor's role for this action, the ticket's department, the state, the
    fields, the preconditions (first contact, 重办 rounds, attempts), then the extension's limits.
    """
    limits = limits or WorkflowLimits()
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
    _check_needs(transition, ticket, action, limits)
    if action == Action.record_feedback:
        _check_unreachable(ticket, data, limits)
    if action == Action.request_extension:
        _check_extension_request(ticket, data)
    to_state = transition.target(data, ticket.redo_count >= limits.redo_rounds)
    # 重办: a still dissatisfied citizen sends the work back, or the supervisor does after the
    # allowed rounds (rather than closing as 已整改、群众仍不满意).
    redo = (action == Action.record_feedback and to_state == State.rectifying) or (
        action == Action.send_back and ticket.feedback_satisfaction == Satisfaction.dissatisfied
    )
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
        State.contact_review: days.supervision,
        # paused: no clock (waiting on the citizen); extension_review: the rectification clock runs.
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

    def first_contact_due(self, since: datetime) -> Due:
        """Verification's first deadline: the first contact (never later than verification's)."""
        return self.due_after(since, min(self.days.first_contact, self.days.verify))

    def paused_working_days(self, paused_at: datetime, resumed_at: datetime) -> int:
        """Working days a pause took: those after the day it began, up to the day it ended."""
        return self.calendar.count_working_days(
            self.local_day(paused_at), self.local_day(resumed_at)
        ).count

    def shifted(self, instant: datetime, working_days: int) -> Due:
        """A deadline moved on by N working days (the days a pause took)."""
        day = self.calendar.add_working_days(self.local_day(instant), working_days).date
        return self.due_on(day)

    def _previous_working_day(self, day: date) -> date:
        candidate = day - timedelta(days=1)
        for _ in range(60):  # the longest run of days off in any schedule is well under this
            if self.calendar.is_workday(candidate):
                return candidate
            candidate -= timedelta(days=1)
        return candidate
