"""Pure rules of issue 10: who is told of an action, working days left, the five steps, the signed
case link, and evidence types."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from evaluation_service.identity.model import Role
from evaluation_service.kernel.errors import Gone, InvalidInput, Unauthenticated
from evaluation_service.kernel.workdays import WorkCalendar
from rectification.case import CaseTokens, step_bar, time_left
from rectification.evidence import content_type_of
from rectification.model import Action, ActionInput, Outcome, State, TicketClock
from rectification.notify import RetryPolicy, notice_for

ZONE = ZoneInfo("Asia/Shanghai")
CLOCK = TicketClock(calendar=WorkCalendar(), zone=ZONE)


def outcome(action: Action, from_state: State, to_state: State, **data: str) -> Outcome:
    redo = action == Action.record_feedback and to_state == State.rectifying
    return Outcome(from_state, to_state, action, ActionInput(**data), redo)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("action", "from_state", "to_state", "role", "kind", "liaisons", "supervisors"),
    [
        ("appeal", "verifying", "appeal_review", "liaison", "review", False, True),
        ("send_back", "supervision", "rectifying", "supervisor", "sent_back", True, False),
        ("decide_appeal", "appeal_review", "rectifying", "supervisor", "decision", True, False),
        (
            "approve_extension",
            "extension_review",
            "rectifying",
            "supervisor",
            "decision",
            True,
            False,
        ),
        ("record_feedback", "feedback", "supervision", "liaison", "review", False, True),
        ("decide_appeal", "appeal_review", "closed_invalid", "supervisor", "closed", True, False),
        ("close", "supervision", "closed", "supervisor", "closed", True, False),
    ],
)
def test_an_action_tells_whoever_must_act_next(
    action: str,
    from_state: str,
    to_state: str,
    role: str,
    kind: str,
    liaisons: bool,
    supervisors: bool,
) -> None:
    done = outcome(Action(action), State(from_state), State(to_state), note="理由")
    notice = notice_for(7, done, True, Role(role))
    assert notice is not None
    assert (notice.kind, notice.liaisons, notice.supervisors) == (kind, liaisons, supervisors)
    assert "工单 7" in notice.message


def test_a_liaison_who_keeps_the_move_tells_nobody() -> None:
    accepted = outcome(Action.accept, State.opened, State.verifying)
    assert notice_for(1, accepted, True, Role.liaison) is None


def test_a_citizen_still_dissatisfied_online_tells_the_liaisons_to_redo() -> None:
    redo = outcome(
        Action.record_feedback, State.feedback, State.rectifying, satisfaction="dissatisfied"
    )
    notice = notice_for(3, redo, False, Role.liaison)
    assert notice is not None and notice.kind == "redo" and notice.liaisons


def test_back_off_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=10, max_seconds=60)
    assert timedelta(seconds=8) <= policy.delay(1) <= timedelta(seconds=10)
    assert timedelta(seconds=16) <= policy.delay(2) <= timedelta(seconds=20)
    assert policy.delay(30) <= timedelta(seconds=60)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).astimezone(UTC)


def test_working_days_left_skip_the_weekend() -> None:
    # Friday 2026-11-27, due Tuesday 2026-12-01: Monday and Tuesday are left.
    left = time_left(CLOCK, CLOCK.end_of(date(2026, 12, 1)), at(date(2026, 11, 27)))
    assert left is not None and (left.overdue, left.days, left.text) == (False, 2, "剩 2 个工作日")
    today = time_left(CLOCK, CLOCK.end_of(date(2026, 12, 1)), at(date(2026, 12, 1)))
    assert today is not None and today.text == "今天到期"


def test_working_days_overdue_skip_holidays() -> None:
    # Due Wednesday 2026-09-30; 国庆 1-7 October are off, so on Friday 9 October it is 2 days late.
    late = time_left(CLOCK, CLOCK.end_of(date(2026, 9, 30)), at(date(2026, 10, 9)))
    assert late is not None and late.overdue
    assert late.text == f"超期 {late.days} 个工作日" and late.days <= 3


def test_the_step_bar_marks_done_current_and_todo() -> None:
    opened = at(date(2026, 11, 27))
    steps = step_bar(State.extension_review, {"opened": opened, "verifying": opened})
    assert [(s.title, s.status) for s in steps] == [
        ("受理", "done"),
        ("核实", "done"),
        ("整改", "current"),
        ("回访", "todo"),
        ("审核", "todo"),
    ]
    assert all(s.status == "done" for s in step_bar(State.closed_invalid, {}))


def test_a_case_link_is_signed_and_expires() -> None:
    tokens = CaseTokens("secret")
    now = datetime(2026, 11, 30, tzinfo=UTC)
    token = tokens.issue(42, now + timedelta(days=1))
    assert tokens.verify(token, now) == 42
    _, expiry, mac = token.split(".")
    with pytest.raises(Unauthenticated):
        tokens.verify(f"43.{expiry}.{mac}", now)
    with pytest.raises(Unauthenticated):
        CaseTokens("other").verify(token, now)
    with pytest.raises(Gone):
        tokens.verify(token, now + timedelta(days=2))


def test_evidence_type_is_read_from_the_content_and_must_match_the_name() -> None:
    assert content_type_of("a.JPG", b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert content_type_of("a.png", b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert content_type_of("a.pdf", b"%PDF-1.7") == "application/pdf"
    for name, data in (("a.png", b"%PDF-1.7"), ("a.exe", b"MZ"), ("a.svg", b"<svg")):
        with pytest.raises(InvalidInput):
            content_type_of(name, data)


def test_every_state_has_a_step_and_a_text_for_the_citizen() -> None:
    from rectification.case import CITIZEN_STATE_TEXT, step_bar
    from rectification.model import State

    for state in State:
        assert CITIZEN_STATE_TEXT[state]
        assert len(step_bar(state, {})) == 5
