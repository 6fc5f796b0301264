"""The rectification workflow as pure data: every (state, action) pair, roles, fields, deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import product
from zoneinfo import ZoneInfo

import pytest

from evaluation_service.identity.model import Actor, Role, can_read, sees_personal_data
from evaluation_service.kernel import rates
from evaluation_service.kernel.errors import Conflict, Forbidden, InvalidInput
from evaluation_service.kernel.settings import Settings, StepDays
from evaluation_service.kernel.workdays import WorkCalendar
from rectification.model import (
    TRANSITIONS,
    Action,
    ActionInput,
    Satisfaction,
    State,
    TicketClock,
    TicketView,
    WorkflowLimits,
    apply,
    check_contacted_at,
)
from rectification.service import workflow_limits

ZONE = ZoneInfo("Asia/Shanghai")
DEPARTMENT = 7
LIAISON = Actor(user_id=1, username="liaison", role=Role.liaison, department_id=DEPARTMENT)
OTHER_LIAISON = Actor(user_id=2, username="other", role=Role.liaison, department_id=8)
SUPERVISOR = Actor(user_id=3, username="supervisor", role=Role.supervisor)
DEPUTY = Actor(user_id=4, username="deputy", role=Role.deputy)
ADMIN = Actor(user_id=5, username="admin", role=Role.admin)

DUE = datetime(2025, 10, 14, 23, 59, tzinfo=ZONE)
CAP = datetime(2025, 10, 28, 23, 59, tzinfo=ZONE)

# The complete data every action needs to succeed (beyond what it branches on).
VALID: dict[Action, ActionInput] = {
    Action.accept: ActionInput(),
    Action.record_contact: ActionInput(contact_method="phone", contact_outcome="reached"),
    Action.confirm: ActionInput(note="已核实：窗口未一次性告知所需材料"),
    Action.appeal: ActionInput(appeal_kind="mistaken", reason="评价人误选了差评"),
    Action.decide_appeal: ActionInput(decision="rejected", note="理由不充分"),
    Action.explain: ActionInput(legal_basis="《行政许可法》第三十二条", note="材料法定必需"),
    Action.approve_explanation: ActionInput(),
    Action.reject_explanation: ActionInput(note="依据不充分"),
    Action.submit_result: ActionInput(measures="已对窗口人员进行一次性告知培训"),
    Action.request_extension: ActionInput(requested_due_date=date(2025, 10, 20), note="需协调"),
    Action.approve_extension: ActionInput(),
    Action.reject_extension: ActionInput(note="不同意"),
    Action.pause: ActionInput(note="等待群众补正身份证明材料"),
    Action.resume: ActionInput(),
    Action.record_attempt: ActionInput(contact_method="phone"),
    Action.record_feedback: ActionInput(
        contact_method="phone", satisfaction="satisfied", note="电话回访，群众满意"
    ),
    Action.review_close: ActionInput(note="三次电话均未接通，附通话记录"),
    Action.review_return: ActionInput(note="请换用短信再联系"),
    Action.close: ActionInput(),
    Action.close_dissatisfied: ActionInput(note="已按规定整改两轮，群众诉求超出政策范围"),
    Action.send_back: ActionInput(note="整改措施不具体"),
}

# Written out independently of TRANSITIONS, so a changed table fails here.
EXPECTED: dict[tuple[State, Action], State] = {
    (State.opened, Action.accept): State.verifying,
    (State.verifying, Action.record_contact): State.verifying,
    (State.verifying, Action.confirm): State.rectifying,
    (State.verifying, Action.appeal): State.appeal_review,
    (State.verifying, Action.explain): State.explanation_review,
    (State.appeal_review, Action.decide_appeal): State.rectifying,
    (State.explanation_review, Action.approve_explanation): State.feedback,
    (State.explanation_review, Action.reject_explanation): State.rectifying,
    (State.rectifying, Action.explain): State.explanation_review,
    (State.rectifying, Action.submit_result): State.feedback,
    (State.rectifying, Action.request_extension): State.extension_review,
    (State.extension_review, Action.approve_extension): State.rectifying,
    (State.extension_review, Action.reject_extension): State.rectifying,
    (State.rectifying, Action.pause): State.paused,
    (State.paused, Action.resume): State.rectifying,
    (State.feedback, Action.record_attempt): State.feedback,
    (State.feedback, Action.record_feedback): State.supervision,
    (State.contact_review, Action.review_close): State.closed,
    (State.contact_review, Action.review_return): State.feedback,
    (State.supervision, Action.close): State.closed,
    (State.supervision, Action.close_dissatisfied): State.closed,
    (State.supervision, Action.send_back): State.rectifying,
}

SUPERVISOR_ACTIONS = {
    Action.decide_appeal,
    Action.approve_explanation,
    Action.reject_explanation,
    Action.approve_extension,
    Action.reject_extension,
    Action.close,
    Action.send_back,
    Action.review_close,
    Action.review_return,
    Action.close_dissatisfied,
}

REFUSED = [pair for pair in product(State, Action) if pair not in EXPECTED]


def right_actor(action: Action) -> Actor:
    return SUPERVISOR if action in SUPERVISOR_ACTIONS else LIAISON


def wrong_actors(action: Action) -> list[Actor]:
    return [LIAISON, DEPUTY, ADMIN] if action in SUPERVISOR_ACTIONS else [SUPERVISOR, DEPUTY, ADMIN]


def ticket(state: State, **fields: object) -> TicketView:
    # Contacted at verification; in supervision after the allowed 重办 rounds when the action is
    # the close for a still dissatisfied citizen (the precondition tests below vary these).
    values: dict[str, object] = {"due_at": DUE, "rectify_cap_at": CAP, "contacted": True}
    values.update(fields)
    return TicketView(state=state, department_id=DEPARTMENT, **values)  # type: ignore[arg-type]


# What a ticket must already carry for an action's preconditions (beyond the first contact).
PREPARED: dict[Action, dict[str, object]] = {
    Action.close_dissatisfied: {"feedback_satisfaction": "dissatisfied", "redo_count": 2},
}


def ready(state: State, action: Action) -> TicketView:
    return ticket(state, **PREPARED.get(action, {}))


def test_the_transition_table_is_the_one_of_design_section_4() -> None:
    assert {pair: t.to for pair, t in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize(("state", "action"), list(EXPECTED))
def test_allowed_pair_succeeds_for_the_right_role(state: State, action: Action) -> None:
    outcome = apply(ready(state, action), action, right_actor(action), VALID[action])

    assert (outcome.from_state, outcome.to_state) == (state, EXPECTED[(state, action)])


@pytest.mark.parametrize(("state", "action"), list(EXPECTED))
def test_allowed_pair_is_refused_to_every_other_role(state: State, action: Action) -> None:
    refusals = []
    for actor in wrong_actors(action):
        with pytest.raises(Forbidden) as refused:
            apply(ticket(state), action, actor, VALID[action])
        refusals.append(refused.value.code)

    assert refusals == ["wrong_role"] * 3


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_every_other_pair_is_refused_with_the_state_and_the_options(
    state: State, action: Action
) -> None:
    with pytest.raises(Conflict) as refused:
        apply(ticket(state), action, right_actor(action), VALID[action])

    assert refused.value.code == "action_not_allowed"
    assert "不能执行" in refused.value.zh


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_every_other_pair_is_refused_to_the_wrong_role_too(state: State, action: Action) -> None:
    with pytest.raises(Forbidden):
        apply(ticket(state), action, wrong_actors(action)[0], VALID[action])


def test_the_walk_covers_every_pair() -> None:
    assert len(EXPECTED) + len(REFUSED) == len(State) * len(Action) == 12 * 21


@pytest.mark.parametrize(
    ("decision", "target"), [("upheld", State.closed_invalid), ("rejected", State.rectifying)]
)
def test_appeal_decision_picks_the_target(decision: str, target: State) -> None:
    outcome = apply(
        ticket(State.appeal_review),
        Action.decide_appeal,
        SUPERVISOR,
        ActionInput(decision=decision, note="审核意见"),
    )

    assert outcome.to_state == target


@pytest.mark.parametrize(
    ("satisfaction", "target", "redo"),
    [
        ("satisfied", State.supervision, False),
        ("basically_satisfied", State.supervision, False),
        ("dissatisfied", State.rectifying, True),
    ],
)
def test_feedback_of_a_still_dissatisfied_citizen_reopens_rectification_as_a_redo(
    satisfaction: str, target: State, redo: bool
) -> None:
    outcome = apply(
        ticket(State.feedback),
        Action.record_feedback,
        LIAISON,
        ActionInput(contact_method="phone", satisfaction=satisfaction, note="回访"),
    )

    assert (outcome.to_state, outcome.redo) == (target, redo)


@pytest.mark.parametrize(
    ("state", "action", "missing"),
    [
        (state, action, name)
        for (state, action), transition in TRANSITIONS.items()
        for name in transition.required
    ],
)
def test_each_required_field_is_named_when_missing(
    state: State, action: Action, missing: str
) -> None:
    data = ActionInput(
        **{**VALID[action].__dict__, missing: "" if missing != "requested_due_date" else None}
    )

    with pytest.raises(InvalidInput) as refused:
        apply(ready(state, action), action, right_actor(action), data)

    assert (refused.value.code, refused.value.field) == ("missing_field", missing)


def test_an_unknown_appeal_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        apply(
            ticket(State.verifying),
            Action.appeal,
            LIAISON,
            ActionInput(appeal_kind="annoying", reason="x"),
        )

    assert refused.value.field == "appeal_kind"


def test_a_liaison_of_another_department_cannot_act() -> None:
    with pytest.raises(Forbidden) as refused:
        apply(ticket(State.opened), Action.accept, OTHER_LIAISON, ActionInput())

    assert refused.value.code == "other_department"


def test_an_extension_is_granted_once_only() -> None:
    with pytest.raises(Conflict) as refused:
        apply(
            ticket(State.rectifying, extension_used=True),
            Action.request_extension,
            LIAISON,
            VALID[Action.request_extension],
        )

    assert refused.value.code == "extension_used"


@pytest.mark.parametrize("day", [date(2025, 10, 14), date(2025, 10, 29)])
def test_an_extension_must_end_after_the_due_date_and_within_the_cap(day: date) -> None:
    with pytest.raises(InvalidInput) as refused:
        apply(
            ticket(State.rectifying),
            Action.request_extension,
            LIAISON,
            ActionInput(requested_due_date=day, note="需协调"),
        )

    assert refused.value.code == "bad_extension_date"


def test_attachment_names_with_paths_are_refused() -> None:
    with pytest.raises(InvalidInput):
        apply(
            ticket(State.opened),
            Action.accept,
            LIAISON,
            ActionInput(attachments=("../../etc/passwd",)),
        )


def test_only_the_handling_department_and_supervisors_see_personal_data() -> None:
    seen = {
        actor.username: (can_read(actor, DEPARTMENT), sees_personal_data(actor, DEPARTMENT))
        for actor in (LIAISON, OTHER_LIAISON, SUPERVISOR, DEPUTY, ADMIN)
    }

    assert seen == {
        "liaison": (True, True),
        "other": (False, False),
        "supervisor": (True, True),
        "deputy": (False, False),
        "admin": (True, False),
    }


# --- deadlines across National Day 2025 (Oct 1–8 off; Sun Sep 28 and Sat Oct 11 worked) --------

CLOCK = TicketClock(calendar=WorkCalendar(), zone=ZONE, days=StepDays())


def local(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZONE)


def end_of_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZONE) + timedelta(days=1, microseconds=-1)


def test_a_ticket_opened_before_national_day_is_due_on_the_first_day_back() -> None:
    due = CLOCK.accept_due(local(2025, 9, 30, 20))

    assert due.at == end_of_day(date(2025, 10, 9))
    assert due.estimated is False


def test_five_working_days_of_rectification_cross_the_holiday_and_count_the_makeup_saturday() -> (
    None
):
    due = CLOCK.for_state(State.rectifying, local(2025, 9, 30))

    # Oct 9 (Thu), 10 (Fri), 11 (make-up Sat), 13 (Mon), 14 (Tue)
    assert due is not None
    assert due.at == end_of_day(date(2025, 10, 14))


def test_a_ticket_opened_on_a_saturday_is_due_on_the_makeup_sunday() -> None:
    due = CLOCK.accept_due(local(2025, 9, 27))

    assert due.at == end_of_day(date(2025, 9, 28))


def test_a_ticket_opened_on_friday_before_the_makeup_saturday_is_due_that_saturday() -> None:
    due = CLOCK.accept_due(local(2025, 10, 10))

    assert due.at == end_of_day(date(2025, 10, 11))


def test_yellow_starts_on_the_working_day_before_the_due_day_across_the_holiday() -> None:
    due = CLOCK.for_state(State.verifying, local(2025, 9, 29))

    # Three working days after Mon Sep 29: Sep 30, Oct 9, Oct 10; the day before is Oct 9.
    assert due is not None
    assert due.at == end_of_day(date(2025, 10, 10))
    assert due.warn_at == datetime(2025, 10, 9, tzinfo=ZONE)


def test_the_rectification_cap_is_fifteen_working_days() -> None:
    cap = CLOCK.rectify_cap(local(2025, 9, 30))

    # Oct 9, 10, 11, 13-17, 20-24, 27, 28 → the 15th is Oct 28.
    assert cap == end_of_day(date(2025, 10, 28))


def test_deadlines_are_returned_in_utc() -> None:
    due = CLOCK.accept_due(local(2025, 9, 30))

    assert due.at.tzinfo == UTC


# --- first contact, 联系不上 / 拒绝回访, 重办 rounds (issue 10) ----------------------------------


@pytest.mark.parametrize("action", [Action.confirm, Action.appeal, Action.explain])
def test_verification_needs_the_first_contact_recorded(action: Action) -> None:
    with pytest.raises(Conflict) as refused:
        apply(ticket(State.verifying, contacted=False), action, LIAISON, VALID[action])

    assert refused.value.code == "first_contact_missing"


def test_an_unknown_contact_outcome_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        apply(
            ticket(State.verifying),
            Action.record_contact,
            LIAISON,
            ActionInput(contact_method="phone", contact_outcome="maybe"),
        )

    assert refused.value.field == "contact_outcome"


@pytest.mark.parametrize(("days", "allowed"), [(2, False), (3, True)])
def test_unreachable_needs_attempts_on_three_different_days(days: int, allowed: bool) -> None:
    data = ActionInput(contact_method="phone", satisfaction="unreachable", note="均未接通")
    view = ticket(State.feedback, attempt_days=days)

    if allowed:
        assert apply(view, Action.record_feedback, LIAISON, data).to_state == State.contact_review
    else:
        with pytest.raises(Conflict) as refused:
            apply(view, Action.record_feedback, LIAISON, data)
        assert refused.value.code == "too_few_attempts"


def test_a_refusal_goes_to_the_supervisor_without_attempts() -> None:
    outcome = apply(
        ticket(State.feedback),
        Action.record_feedback,
        LIAISON,
        ActionInput(contact_method="phone", satisfaction="refused", note="群众拒绝回访"),
    )

    assert (outcome.to_state, outcome.redo) == (State.contact_review, False)


@pytest.mark.parametrize(
    ("redo_count", "target", "redo"),
    [(0, State.rectifying, True), (1, State.rectifying, True), (2, State.supervision, False)],
)
def test_after_the_allowed_redo_rounds_a_dissatisfied_citizen_goes_to_the_supervisor(
    redo_count: int, target: State, redo: bool
) -> None:
    outcome = apply(
        ticket(State.feedback, redo_count=redo_count),
        Action.record_feedback,
        LIAISON,
        ActionInput(contact_method="phone", satisfaction="dissatisfied", note="仍不满意"),
    )

    assert (outcome.to_state, outcome.redo) == (target, redo)


def test_the_redo_limit_is_a_setting() -> None:
    outcome = apply(
        ticket(State.feedback, redo_count=0),
        Action.record_feedback,
        LIAISON,
        ActionInput(contact_method="phone", satisfaction="dissatisfied", note="仍不满意"),
        WorkflowLimits(redo_rounds=0),
    )

    assert outcome.to_state == State.supervision


def test_a_still_dissatisfied_citizen_is_not_closed_as_a_plain_close() -> None:
    view = ticket(State.supervision, feedback_satisfaction="dissatisfied", redo_count=2)

    with pytest.raises(Conflict) as refused:
        apply(view, Action.close, SUPERVISOR, ActionInput())

    assert refused.value.code == "citizen_dissatisfied"


def test_closing_as_still_dissatisfied_needs_the_redo_rounds_used_up() -> None:
    view = ticket(State.supervision, feedback_satisfaction="satisfied")

    with pytest.raises(Conflict) as refused:
        apply(view, Action.close_dissatisfied, SUPERVISOR, VALID[Action.close_dissatisfied])

    assert refused.value.code == "redo_rounds_not_used"


def test_sending_back_a_still_dissatisfied_citizen_counts_as_a_redo() -> None:
    view = ticket(State.supervision, feedback_satisfaction="dissatisfied", redo_count=2)

    outcome = apply(view, Action.send_back, SUPERVISOR, VALID[Action.send_back])

    assert (outcome.to_state, outcome.redo) == (State.rectifying, True)


def test_a_contact_time_in_the_future_or_before_the_opening_is_refused() -> None:
    opened = datetime(2025, 10, 9, 9, tzinfo=UTC)
    now = datetime(2025, 10, 10, 9, tzinfo=UTC)
    refusals = []
    for when in (now + timedelta(hours=1), opened - timedelta(minutes=1)):
        with pytest.raises(InvalidInput) as refused:
            check_contacted_at(when, opened, now)
        refusals.append(refused.value.code)

    check_contacted_at(now - timedelta(hours=3), opened, now)
    assert refusals == ["bad_contacted_at", "bad_contacted_at"]


def test_a_pause_over_national_day_moves_the_due_date_by_its_working_days() -> None:
    paused = CLOCK.paused_working_days(local(2025, 9, 29), local(2025, 10, 10))
    moved = CLOCK.shifted(end_of_day(date(2025, 10, 14)), paused)

    # Sep 30, Oct 9, Oct 10 are the working days after Mon Sep 29 up to Fri Oct 10.
    assert paused == 3
    assert moved.at == end_of_day(date(2025, 10, 17))


def test_the_first_contact_is_due_within_one_working_day_of_acceptance() -> None:
    due = CLOCK.first_contact_due(local(2025, 9, 30, 16))

    assert due.at == end_of_day(date(2025, 10, 9))


def test_the_rate_definitions_name_the_workflows_states_and_outcomes() -> None:
    assert (State.closed, State.closed_invalid) == (rates.CLOSED, rates.CLOSED_INVALID)
    assert set(rates.FEEDBACK_OUTCOMES) == {s.value for s in Satisfaction}


@pytest.mark.parametrize(
    ("state", "satisfaction", "expected"),
    [
        ("closed", "satisfied", (True, True, False, True)),
        ("closed", "unreachable", (True, True, True, True)),
        ("closed_invalid", "", (False, False, False, False)),
        ("opened", "", (True, False, False, False)),
    ],
)
def test_a_ticket_counts_in_the_rates_by_the_one_definition(
    state: str, satisfaction: str, expected: tuple[bool, ...]
) -> None:
    counts = rates.ticket_counts(state, satisfaction, redo_count=0, reopen_count=0)

    assert (counts.valid, counts.feedback_done, counts.no_view, counts.rectified) == expected


def test_the_workflow_counts_and_the_first_contact_days_are_settings() -> None:
    settings = Settings.from_env(
        {
            "TOKEN_SECRET": "x",
            "TICKET_FIRST_CONTACT_WORKING_DAYS": "2",
            "TICKET_UNREACHABLE_ATTEMPTS": "4",
            "TICKET_REDO_ROUNDS": "0",
        }
    )

    assert workflow_limits(settings) == WorkflowLimits(unreachable_attempts=4, redo_rounds=0)
    assert settings.step_days.first_contact == 2
    assert WorkflowLimits() == workflow_limits(Settings())
