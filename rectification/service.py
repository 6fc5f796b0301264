"""Rectification use cases: open a ticket with its rating, act on it, read, sweep deadlines.

Every change goes through `Rectification.act`: the pure rule of `model.apply`, then a
compare-and-set UPDATE (`WHERE id = ? AND state = ? AND version = ?`) and the audit row, in
one transaction.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from evaluation_service.identity.model import can_read, sees_personal_data
from evaluation_service.kernel import rates
from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from evaluation_service.kernel.settings import Settings
from evaluation_service.kernel.tables import Department, Evaluation, Outbox
from evaluation_service.kernel.vocabulary import OutboxKind, bad_sql, is_bad
from evaluation_service.kernel.workdays import WorkCalendar
from rectification import model, notify
from rectification.model import (
    ACTION_TEXT,
    CLOSED_STATES,
    CLOSED_STATES_SQL,
    OPEN_STATES,
    STATE_TEXT,
    Action,
    ActionInput,
    Actor,
    Alert,
    Due,
    Result,
    Role,
    State,
    TicketClock,
    TicketView,
    WorkflowLimits,
)
from rectification.schemas import (
    ActionIn,
    ContactOut,
    EventOut,
    NotificationOut,
    RateCounts,
    TicketDetail,
    TicketPage,
    TicketSummary,
)
from rectification.tables import Notification, Ticket, TicketEvent

# Actions that record a contact with the citizen, dated by `contacted_at`.
CONTACT_ACTIONS = frozenset({Action.record_contact, Action.record_attempt})
SYSTEM_NAME = "系统"
SYSTEM_ROLE = "system"
LIST_LIMIT_MAX = 200

# --- opening (called by the intake path, inside the rating's transaction) ------------------------


def ticket_clock(settings: Settings, calendar: WorkCalendar) -> TicketClock:
    """The deadlines of every step, from the settings the shell read."""
    return TicketClock(calendar=calendar, zone=ZoneInfo(settings.timezone), days=settings.step_days)


def workflow_limits(settings: Settings) -> WorkflowLimits:
    return WorkflowLimits(
        unreachable_attempts=settings.ticket_unreachable_attempts,
        redo_rounds=settings.ticket_redo_rounds,
    )


def accept_due_at(clock: TicketClock, now: datetime) -> Due:
    """The deadline of a ticket opened at `now`: its accept step (default 1 working day)."""
    return clock.accept_due(now)


_OPENED_NOTE = "实名差评自动立案"
_FOLLOW_UP_NOTE = "群众追加评价，仍不满意："
_REOPEN_NOTE = "群众追加评价，仍不满意，工单重新打开："

# What a reopened ticket starts again from (besides its state, deadline and counters): a new
# verification with its own first contact, a new result, a new overall cap and extension.
_REOPEN_RESET: dict[str, object] = {
    "alert": Alert.none.value,
    "alerted_at": None,
    "escalated_at": None,
    "result": "",
    "feedback_contact_method": "",
    "feedback_satisfaction": "",
    "feedback_note": "",
    "first_contact_at": None,
    "first_contact_method": "",
    "first_contact_outcome": "",
    "rectify_started_at": None,
    "rectify_cap_at": None,
    "extension_used": False,
    "requested_due_date": "",
    "due_before_pause": None,
}


def _follow_up_details(evaluation_id: int, level: int) -> str:
    return json.dumps({"evaluation": str(evaluation_id), "level": str(level)})


async def open_ticket(evaluation_id: int, now: datetime, due: Due) -> int | None:
    """Open, join or reopen the ticket of a real-name bad rating, with its audit event.

    One ticket per service record (DESIGN.md §4): a bad follow-up rating (追加评价) of a record
    whose ticket is open is recorded on it (`follow_up`); one whose ticket is closed reopens it
    (`reopen`, counted in `reopen_count`, due to be accepted again by `due`). Runs in whatever
    transaction is current, so called right after inserting the evaluation it shares that
    transaction (DESIGN.md §3 rule 6). Returns None for a rating that concerns no ticket (good,
    or anonymous). The unique indexes on ticket.evaluation and ticket.service_record refuse a
    second ticket.
    """
    rating = (
        await Evaluation.select(
            Evaluation.id,
            Evaluation.level,
            Evaluation.comment,
            Evaluation.real_name,
            Evaluation.service_record.as_alias("record"),
            Evaluation.service_record.window_no.as_alias("window_no"),
            Evaluation.service_record.staff_no.as_alias("staff_no"),
            Evaluation.service_record.service_transaction.as_alias("service_transaction"),
            Evaluation.service_record.service_transaction.department.as_alias("department"),  # type: ignore[union-attr]
            Evaluation.service_record.service_transaction.item.as_alias("item"),  # type: ignore[union-attr]
        )
        .where(Evaluation.id == evaluation_id)
        .first()
    )
    if rating is None:
        raise NotFound("unknown_evaluation", "评价不存在。", f"no evaluation {evaluation_id}")
    if not (rating["real_name"] and is_bad(rating["level"])):
        return None
    existing = (
        await Ticket.select(Ticket.id, Ticket.state, Ticket.evaluation)
        .where(Ticket.service_record == rating["record"])
        .first()
    )
    if existing is not None and existing["evaluation"] == rating["id"]:
        return int(existing["id"])  # this rating opened it already
    if existing is not None:
        return await _join_ticket(existing, rating, now, due)
    inserted = await Ticket.insert(
        Ticket(
            evaluation=rating["id"],
            service_record=rating["record"],
            service_transaction=rating["service_transaction"],
            department=rating["department"],
            item=rating["item"],
            level=rating["level"],
            window_no=rating["window_no"] or "",
            staff_no=rating["staff_no"] or "",
            state=State.opened,
            due_at=due.at,
            warn_at=due.warn_at,
            due_estimated=due.estimated,
            opened_at=now,
            updated_at=now,
        )
    ).returning(Ticket.id)
    ticket_id = int(inserted[0]["id"])
    await TicketEvent.insert(
        TicketEvent(
            ticket=ticket_id,
            action=model.SYSTEM_OPEN,
            actor=None,
            actor_name=SYSTEM_NAME,
            role=SYSTEM_ROLE,
            from_state="",
            to_state=State.opened,
            note=_OPENED_NOTE,
            created_at=now,
        )
    )
    await notify.ticket_opened(ticket_id, rating["department"], now)
    return ticket_id


async def _join_ticket(
    existing: dict[str, Any], rating: dict[str, Any], now: datetime, due: Due
) -> int:
    """The Piccolo path of a bad follow-up: record it on the open ticket, or reopen the closed one.

    The write transaction is the lock here (SQLite serialises writers); PostgreSQL's one-statement
    path below locks the row instead."""
    ticket_id = int(existing["id"])
    state = State(existing["state"])
    reopen = state in CLOSED_STATES
    values: dict[Any, Any] = {Ticket.version: Ticket.version + 1, Ticket.updated_at: now}
    if reopen:
        values.update({getattr(Ticket, name): value for name, value in _REOPEN_RESET.items()})
        values.update(
            {
                Ticket.state: State.opened,
                Ticket.reopen_count: Ticket.reopen_count + 1,
                Ticket.due_at: due.at,
                Ticket.warn_at: due.warn_at,
                Ticket.due_estimated: due.estimated,
            }
        )
    await Ticket.update(values).where(Ticket.id == ticket_id)
    if reopen:
        await notify.notify(ticket_id, rating["department"], notify.reopened_notice(ticket_id), now)
    await TicketEvent.insert(
        TicketEvent(
            ticket=ticket_id,
            action=model.SYSTEM_REOPEN if reopen else model.SYSTEM_FOLLOW_UP,
            actor=None,
            actor_name=SYSTEM_NAME,
            role=SYSTEM_ROLE,
            from_state=state,
            to_state=State.opened if reopen else state,
            note=(_REOPEN_NOTE if reopen else _FOLLOW_UP_NOTE) + (rating["comment"] or ""),
            details=_follow_up_details(rating["id"], rating["level"]),
            created_at=now,
        )
    )
    return ticket_id


def _sql_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    assert isinstance(value, str) and "'" not in value
    return f"'{value}'"


_REOPEN_SET = ",\n        ".join(
    f"{name} = CASE WHEN x.state IN ({CLOSED_STATES_SQL}) THEN {_sql_literal(value)}"
    f" ELSE k.{name} END"
    for name, value in _REOPEN_RESET.items()
)

# PostgreSQL: the same opening as extra CTEs of the one-statement rating insert. The statement must
# already have a CTE named `ins` with columns (id, service_record, level, comment, real_name,
# received_at); these CTEs follow it after a comma. Fill the three placeholders with parameter
# numbers (`ticket_insert_ctes(first_param)` does) and pass `ticket_insert_params(due)` in that
# order. `rating_ticket (id, evaluation)` is the ticket each real-name bad rating opened, joined or
# reopened. A record without a ticket gets one (`ticket_inserted`); one with a ticket has it locked
# (`ticket_locked`: FOR UPDATE waits for a concurrent action and reads the state it left) and
# updated — reopened when closed — by `ticket_joined`, so a follow-up is never lost to a race.
TICKET_INSERT_SQL = (
    """
ticket_inserted AS (
    INSERT INTO ticket (evaluation, service_record, service_transaction, department, item, level,
        window_no, staff_no, state, version, due_at, warn_at, due_estimated, alert,
        opened_at, updated_at)
    SELECT ins.id, ins.service_record, t.id, t.department, t.item, ins.level,
           sr.window_no, sr.staff_no, 'opened', 1, {due_at}::timestamptz, {warn_at}::timestamptz,
           {due_estimated}::boolean, 'none', ins.received_at, ins.received_at
    FROM ins
    JOIN service_record sr ON sr.id = ins.service_record
    JOIN service_transaction t ON t.id = sr.service_transaction
    WHERE ins.real_name AND ins."""
    + bad_sql()
    + """
      AND NOT EXISTS (SELECT 1 FROM ticket k WHERE k.service_record = ins.service_record)
    RETURNING id, evaluation, opened_at, department
), ticket_locked AS (
    SELECT k.id, k.state, ins.id AS evaluation
    FROM ticket k JOIN ins ON k.service_record = ins.service_record
    WHERE ins.real_name AND ins."""
    + bad_sql()
    + f"""
    FOR UPDATE OF k
), ticket_joined AS (
    UPDATE ticket k SET
        version = k.version + 1,
        updated_at = ins.received_at,
        state = CASE WHEN x.state IN ({CLOSED_STATES_SQL}) THEN 'opened' ELSE k.state END,
        reopen_count = k.reopen_count
            + CASE WHEN x.state IN ({CLOSED_STATES_SQL}) THEN 1 ELSE 0 END,
        due_at = CASE WHEN x.state IN ({CLOSED_STATES_SQL}) THEN {{due_at}}::timestamptz
                      ELSE k.due_at END,
        warn_at = CASE WHEN x.state IN ({CLOSED_STATES_SQL}) THEN {{warn_at}}::timestamptz
                       ELSE k.warn_at END,
        due_estimated = CASE WHEN x.state IN ({CLOSED_STATES_SQL}) THEN {{due_estimated}}::boolean
                             ELSE k.due_estimated END,
        {_REOPEN_SET}
    FROM ticket_locked x JOIN ins ON ins.id = x.evaluation
    WHERE k.id = x.id
    RETURNING k.id, k.department, x.evaluation, x.state AS from_state, k.state AS to_state
), ticket_events AS (
    INSERT INTO ticket_event (ticket, action, actor, actor_name, role, from_state, to_state, note,
        attachments, details, created_at)
    SELECT ticket_inserted.id, '{model.SYSTEM_OPEN}', CAST(NULL AS INTEGER), '{SYSTEM_NAME}',
           '{SYSTEM_ROLE}', '', 'opened', '{_OPENED_NOTE}', '', '', ticket_inserted.opened_at
    FROM ticket_inserted
    UNION ALL
    SELECT j.id,
           CASE WHEN j.from_state IN ({CLOSED_STATES_SQL}) THEN '{model.SYSTEM_REOPEN}'
                ELSE '{model.SYSTEM_FOLLOW_UP}' END,
           CAST(NULL AS INTEGER), '{SYSTEM_NAME}', '{SYSTEM_ROLE}', j.from_state, j.to_state,
           CASE WHEN j.from_state IN ({CLOSED_STATES_SQL}) THEN '{_REOPEN_NOTE}'
                ELSE '{_FOLLOW_UP_NOTE}' END || ins.comment,
           '', '{{{{"evaluation": "' || CAST(ins.id AS TEXT) || '", "level": "'
               || CAST(ins.level AS TEXT) || '"}}}}',
           ins.received_at
    FROM ticket_joined j JOIN ins ON ins.id = j.evaluation
), rating_ticket AS (
    SELECT id, evaluation FROM ticket_inserted
    UNION ALL
    SELECT id, evaluation FROM ticket_joined
)"""
    + notify.TICKET_NOTIFY_CTES
)


def ticket_insert_ctes(first_param: int) -> str:
    """TICKET_INSERT_SQL with its placeholders numbered $first_param, +1, +2."""
    return TICKET_INSERT_SQL.format(
        due_at=f"${first_param}",
        warn_at=f"${first_param + 1}",
        due_estimated=f"${first_param + 2}",
    )


def ticket_insert_params(due: Due) -> tuple[datetime, datetime, bool]:
    return (due.at, due.warn_at, due.estimated)


class TicketOpening:
    """What intake needs to open a ticket in the rating's own transaction (DESIGN §3 rule 6):
    the root hands an instance to the evaluation domain, which never imports this package."""

    insert_ctes = TICKET_INSERT_SQL

    def __init__(self, clock: TicketClock) -> None:
        self.clock = clock

    def accept_due(self, now: datetime) -> Due:
        return self.clock.accept_due(now)

    async def open(self, evaluation_id: int, now: datetime) -> int | None:
        return await open_ticket(evaluation_id, now, self.clock.accept_due(now))

    async def ticket_of(self, evaluation_id: int) -> int | None:
        """The ticket a stored rating opened, joined or reopened (for a repeated request)."""
        rating = (
            await Evaluation.select(
                Evaluation.service_record, Evaluation.level, Evaluation.real_name
            )
            .where(Evaluation.id == evaluation_id)
            .first()
        )
        if rating is None or not (rating["real_name"] and is_bad(rating["level"])):
            return None
        row = (
            await Ticket.select(Ticket.id)
            .where(Ticket.service_record == rating["service_record"])
            .first()
        )
        return int(row["id"]) if row else None


# --- the service ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    yellow: int
    red: int
    escalated_ticket_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class TicketFilter:
    state: str | None = None
    department_code: str | None = None
    overdue: bool | None = None
    month: str | None = None
    limit: int = 50
    offset: int = 0


class Rectification:
    """The ticket workflow's use cases, with the collaborators the shell hands in."""

    def __init__(
        self, db: Database, clock: TicketClock, limits: WorkflowLimits | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.limits = limits or WorkflowLimits()

    @classmethod
    def from_settings(
        cls, db: Database, settings: Settings, calendar: WorkCalendar
    ) -> Rectification:
        return cls(db, ticket_clock(settings, calendar), workflow_limits(settings))

    # --- acting on a ticket ----------------------------------------------------------------

    async def act(
        self,
        ticket_id: int,
        action_name: str,
        actor: Actor,
        data: ActionIn,
        now: datetime,
        *,
        citizen: bool = False,
    ) -> TicketDetail:
        """`citizen`: the citizen answers online (the case page): audited as the citizen."""
        action = _parse_action(action_name)
        given = ActionInput(
            note=data.note,
            appeal_kind=data.appeal_kind.strip(),
            reason=data.reason,
            decision=data.decision.strip(),
            legal_basis=data.legal_basis,
            measures=data.measures,
            requested_due_date=data.requested_due_date,
            contact_method=data.contact_method.strip(),
            contact_outcome=data.contact_outcome.strip(),
            contacted_at=self._aware(data.contacted_at),
            satisfaction=data.satisfaction.strip(),
            attachments=tuple(name.strip() for name in data.attachments),
        )
        async with self.db.write():
            ticket = await _ticket_row(ticket_id)
            if ticket is None or not can_read(actor, ticket["department"]):
                raise _ticket_not_found(ticket_id)
            state = State(ticket["state"])
            view = TicketView(
                state=state,
                department_id=ticket["department"],
                extension_used=bool(ticket["extension_used"]),
                due_at=_local_due(ticket["due_at"], self.clock),
                rectify_cap_at=_local_due(ticket["rectify_cap_at"], self.clock),
                contacted=ticket["first_contact_at"] is not None,
                redo_count=ticket["redo_count"],
                feedback_satisfaction=ticket["feedback_satisfaction"],
                attempt_days=await self._attempt_days(ticket)
                if action == Action.record_feedback and state == State.feedback
                else 0,
            )
            outcome = model.apply(view, action, actor, given, self.limits)
            if action in CONTACT_ACTIONS:
                # A contact is dated; recorded later than it happened is fine, invented is not.
                given = replace(given, contacted_at=given.contacted_at or now)
                assert given.contacted_at is not None
                model.check_contacted_at(given.contacted_at, as_utc(ticket["opened_at"]), now)
                outcome = replace(outcome, data=given)
            elif given.contacted_at is not None:
                # Only a contact is dated; elsewhere the field is ignored, not audited unchecked.
                outcome = replace(outcome, data=replace(given, contacted_at=None))
            extra: dict[str, str] = {}
            values = self._changes(ticket, outcome, now, extra)
            changed = (
                await Ticket.update(values)
                .where(
                    (Ticket.id == ticket_id)
                    & (Ticket.state == ticket["state"])
                    & (Ticket.version == ticket["version"])
                )
                .returning(Ticket.id)
            )
            if not changed:
                # Only on PostgreSQL: another transaction changed the ticket since we read it.
                raise Conflict(
                    "ticket_changed",
                    "该工单刚刚已被他人处理，请刷新后查看最新状态再操作。",
                    "the ticket changed concurrently; reload and retry",
                )
            await TicketEvent.insert(
                TicketEvent(
                    ticket=ticket_id,
                    action=action,
                    actor=None if citizen else actor.user_id,
                    actor_name=actor.username,
                    role="citizen" if citizen else actor.role,
                    from_state=outcome.from_state,
                    to_state=outcome.to_state,
                    note=(given.note or given.reason).strip(),
                    attachments="\n".join(given.attachments),
                    details=json.dumps({**_details(outcome), **extra}, ensure_ascii=False),
                    created_at=now,
                )
            )
            await notify.after_action(
                ticket_id, ticket["department"], outcome, actor, now, staff_acted=not citizen
            )
            if outcome.to_state in CLOSED_STATES:
                # Reported back to the province with the outbox's guarantees (DESIGN.md §4).
                await Outbox.insert(
                    Outbox(
                        kind=OutboxKind.ticket_result.value,
                        ref_id=ticket_id,
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
        return await self.get_ticket(ticket_id, actor, now)

    def _aware(self, value: datetime | None) -> datetime | None:
        """A time given without a zone is the county's wall clock."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.clock.zone)
        return value.astimezone(UTC)

    async def _attempt_days(self, ticket: dict[str, Any]) -> int:
        """Distinct county days of unanswered 回访 attempts since the ticket entered feedback."""
        since = ticket["feedback_at"]
        rows = await TicketEvent.select(TicketEvent.details).where(
            (TicketEvent.ticket == ticket["id"])
            & (TicketEvent.action == Action.record_attempt)
            & (TicketEvent.created_at >= since)
        )
        days = set()
        for row in rows:
            when = json.loads(row["details"] or "{}").get("contacted_at")
            if when:
                days.add(self.clock.local_day(datetime.fromisoformat(when)))
        return len(days)

    def _changes(
        self, ticket: dict[str, Any], outcome: model.Outcome, now: datetime, extra: dict[str, str]
    ) -> dict[Any, Any]:
        """The columns an action writes: state, its timestamp, the next deadline, its own fields.

        `extra` receives what the audit row should say beyond the action's fields (a pause's
        length)."""
        to, data, action = outcome.to_state, outcome.data, outcome.action
        values: dict[Any, Any] = {
            Ticket.state: to,
            Ticket.version: Ticket.version + 1,
            Ticket.updated_at: now,
        }
        if to != outcome.from_state:
            values[getattr(Ticket, f"{to.value}_at")] = now
        due: Due | None = None
        if action == Action.accept:
            due = self.clock.first_contact_due(now)
        elif action == Action.record_contact:
            if ticket["first_contact_at"] is None:
                # The first contact is made: verification's own deadline from acceptance applies.
                due = self.clock.for_state(State.verifying, as_utc(ticket["verifying_at"]))
                values[Ticket.first_contact_at] = data.contacted_at
                values[Ticket.first_contact_method] = data.value("contact_method")
                values[Ticket.first_contact_outcome] = data.value("contact_outcome")
        elif action == Action.record_attempt:
            pass  # the feedback deadline runs on
        elif to == State.paused:
            # The clock stops: the due date is kept aside and the sweep ignores the ticket.
            values.update(
                {
                    Ticket.due_before_pause: ticket["due_at"],
                    Ticket.due_at: None,
                    Ticket.warn_at: None,
                    Ticket.alert: Alert.none,
                }
            )
        elif action == Action.resume:
            paused = self.clock.paused_working_days(as_utc(ticket["paused_at"]), now)
            due = self.clock.shifted(as_utc(ticket["due_before_pause"]), paused)
            cap = as_utc(ticket["rectify_cap_at"])
            if cap is not None:
                values[Ticket.rectify_cap_at] = self.clock.shifted(cap, paused).at
            values[Ticket.due_before_pause] = None
            values[Ticket.paused_working_days] = Ticket.paused_working_days + paused
            extra.update(
                paused_at=as_utc(ticket["paused_at"]).isoformat(), paused_working_days=str(paused)
            )
        elif action == Action.approve_extension:
            requested = date.fromisoformat(ticket["requested_due_date"])
            due = self.clock.due_on(requested)
        elif to == State.rectifying and outcome.from_state != State.extension_review:
            # A rectification round: its own allowance, within the ONE overall cap set at the first
            # entry (confirmation) and moved on only by pauses — never a fresh cap per round.
            cap = as_utc(ticket["rectify_cap_at"]) or self.clock.rectify_cap(now)
            due = self.clock.for_state(to, now)
            assert due is not None
            if due.at > cap:
                due = self.clock.due_on(self.clock.local_day(cap))
            values[Ticket.rectify_started_at] = now
            values[Ticket.rectify_cap_at] = cap
        elif to not in (State.extension_review, State.rectifying) and to not in CLOSED_STATES:
            due = self.clock.for_state(to, now)
        # An extension under review, or refused, leaves the rectification clock running as it was.
        if due is not None:
            values.update(
                {
                    Ticket.due_at: due.at,
                    Ticket.warn_at: due.warn_at,
                    Ticket.due_estimated: due.estimated,
                    Ticket.alert: Alert.none,
                    Ticket.alerted_at: None,
                    Ticket.escalated_at: None,
                }
            )
        if action == Action.appeal:
            values[Ticket.appeal_kind] = data.value("appeal_kind")
            values[Ticket.appeal_reason] = data.value("reason")
        elif action == Action.explain:
            values[Ticket.legal_basis] = data.value("legal_basis")
            values[Ticket.explanation] = data.value("note")
        elif action == Action.submit_result:
            values[Ticket.measures] = data.value("measures")
            values[Ticket.result] = Result.rectified
        elif action == Action.approve_explanation:
            values[Ticket.result] = Result.explained
        elif action == Action.request_extension:
            assert data.requested_due_date is not None
            values[Ticket.extension_used] = True
            values[Ticket.requested_due_date] = data.requested_due_date.isoformat()
        elif action == Action.record_feedback:
            values[Ticket.feedback_contact_method] = data.value("contact_method")
            values[Ticket.feedback_satisfaction] = data.value("satisfaction")
            values[Ticket.feedback_note] = data.value("note")
        elif action == Action.review_return:
            values[Ticket.feedback_satisfaction] = ""
        if outcome.redo:
            values[Ticket.redo_count] = Ticket.redo_count + 1
            values[Ticket.result] = ""
        elif action == Action.send_back:
            values[Ticket.result] = ""
        if to == State.closed_invalid:
            values[Ticket.result] = Result.invalid
        if to in CLOSED_STATES:
            values.update({Ticket.due_at: None, Ticket.warn_at: None, Ticket.alert: Alert.none})
        return values

    # --- reading ---------------------------------------------------------------------------

    async def get_ticket(self, ticket_id: int, actor: Actor, now: datetime) -> TicketDetail:
        row = await _detail_query().where(Ticket.id == ticket_id).first()
        if row is None or not can_read(actor, row["department"]):
            raise _ticket_not_found(ticket_id)
        events = (
            await TicketEvent.select(
                TicketEvent.id,
                TicketEvent.action,
                TicketEvent.actor_name,
                TicketEvent.role,
                TicketEvent.from_state,
                TicketEvent.to_state,
                TicketEvent.note,
                TicketEvent.attachments,
                TicketEvent.details,
                TicketEvent.created_at,
            )
            .where(TicketEvent.ticket == ticket_id)
            .order_by(TicketEvent.id)
        )
        state = State(row["state"])
        due_at = as_utc(row["due_at"])
        full = sees_personal_data(actor, row["department"])
        return TicketDetail(
            id=row["id"],
            state=state,
            state_text=STATE_TEXT[state],
            allowed_actions=[a.value for a in model.allowed_actions(state)],
            department_code=row["department_code"],
            department_name=row["department_name"],
            item_code=row["item_code"],
            item_name=row["item_name"],
            project_no=row["project_no"],
            service_number=row["service_number"],
            service_name=row["service_name"],
            window_no=row["window_no"],
            staff_no=row["staff_no"],
            contact=_contact(row, masked=not full, cert_masked=actor.role != Role.supervisor),
            evaluation_id=row["evaluation"],
            level=row["level"],
            channel=row["channel"],
            tags=[t for t in (row["tags"] or "").split(",") if t],
            comment=row["comment"] or "",
            rated_at=as_utc(row["rated_at"]),
            opened_at=as_utc(row["opened_at"]),
            due_at=due_at,
            warn_at=as_utc(row["warn_at"]),
            due_estimated=bool(row["due_estimated"]),
            alert=row["alert"],
            overdue=_overdue(state, due_at, now),
            rectify_cap_at=as_utc(row["rectify_cap_at"]),
            extension_used=bool(row["extension_used"]),
            requested_due_date=row["requested_due_date"],
            redo_count=row["redo_count"],
            reopen_count=row["reopen_count"],
            first_contact_at=as_utc(row["first_contact_at"]),
            first_contact_method=row["first_contact_method"],
            first_contact_outcome=row["first_contact_outcome"],
            paused_working_days=row["paused_working_days"],
            attempt_days=await self._attempt_days(row) if state == State.feedback else 0,
            appeal_kind=row["appeal_kind"],
            appeal_reason=row["appeal_reason"],
            legal_basis=row["legal_basis"],
            explanation=row["explanation"],
            measures=row["measures"],
            feedback_contact_method=row["feedback_contact_method"],
            feedback_satisfaction=row["feedback_satisfaction"],
            feedback_note=row["feedback_note"],
            result=row["result"],
            state_times={
                s.value: as_utc(row[f"{s.value}_at"])
                for s in State
                if row[f"{s.value}_at"] is not None
            },
            statistics=RateCounts(
                **asdict(
                    rates.ticket_counts(
                        state,
                        row["feedback_satisfaction"],
                        row["redo_count"],
                        row["reopen_count"],
                    )
                )
            ),
            version=row["version"],
            history=[_event_out(e) for e in events],
        )

    async def list_tickets(self, actor: Actor, filters: TicketFilter, now: datetime) -> TicketPage:
        where: list[Any] = []
        if actor.role == Role.liaison:
            where.append(Ticket.department == actor.department_id)
        if filters.department_code:
            department = (
                await Department.select(Department.id)
                .where(Department.code == filters.department_code)
                .first()
            )
            if department is None:
                raise InvalidInput(
                    "unknown_department",
                    f"部门编码 {filters.department_code} 不在事项目录中。",
                    "unknown department code",
                    "department",
                )
            if actor.role == Role.liaison and department["id"] != actor.department_id:
                raise Forbidden(
                    "other_department",
                    "部门联络员只能查看本部门的工单。",
                    "liaisons see their own department's tickets only",
                    "department",
                )
            where.append(Ticket.department == department["id"])
        if filters.state:
            where.append(_state_condition(filters.state))
        if filters.overdue is not None:
            overdue = Ticket.state.is_in(list(OPEN_STATES)) & (Ticket.due_at < now)
            where.append(overdue if filters.overdue else _not_overdue(now))
        if filters.month:
            start, end = _month_bounds(filters.month, self.clock.zone)
            where.append((Ticket.opened_at >= start) & (Ticket.opened_at < end))
        if not 1 <= filters.limit <= LIST_LIMIT_MAX or filters.offset < 0:
            raise InvalidInput(
                "bad_page",
                f"每页条数应为1至{LIST_LIMIT_MAX}，偏移量不能为负数。",
                f"limit must be 1-{LIST_LIMIT_MAX} and offset >= 0",
                "limit",
            )
        query = _summary_query()
        count = Ticket.count()
        for condition in where:
            query = query.where(condition)
            count = count.where(condition)
        rows = (
            await query.order_by(Ticket.id, ascending=False)
            .limit(filters.limit)
            .offset(filters.offset)
        )
        return TicketPage(total=await count, items=[_summary(r, now) for r in rows])

    # --- notifications ---------------------------------------------------------------------

    async def notifications(self, actor: Actor, unread_only: bool = False) -> list[NotificationOut]:
        query = Notification.select(
            Notification.id,
            Notification.ticket,
            Notification.kind,
            Notification.message,
            Notification.created_at,
            Notification.read_at,
        ).where(Notification.recipient == actor.user_id)
        if unread_only:
            query = query.where(Notification.read_at.is_null())
        rows = await query.order_by(Notification.id, ascending=False).limit(LIST_LIMIT_MAX)
        return [
            NotificationOut(
                id=r["id"],
                ticket_id=r["ticket"],
                kind=r["kind"],
                message=r["message"],
                created_at=as_utc(r["created_at"]),
                read=r["read_at"] is not None,
            )
            for r in rows
        ]

    async def unread_count(self, actor: Actor) -> int:
        return int(
            await Notification.count().where(
                (Notification.recipient == actor.user_id) & Notification.read_at.is_null()
            )
        )

    async def mark_read(self, actor: Actor, notification_id: int, now: datetime) -> None:
        async with self.db.write():
            done = (
                await Notification.update({Notification.read_at: now})
                .where(
                    (Notification.id == notification_id) & (Notification.recipient == actor.user_id)
                )
                .returning(Notification.id)
            )
        if not done:
            raise NotFound("unknown_notification", "该通知不存在。", "no such notification", "id")

    # --- the deadline sweep ----------------------------------------------------------------

    async def sweep(self, now: datetime) -> SweepResult:
        """Mark yellow and red and notify, in a handful of set-based statements (never a loop).

        Idempotent: a ticket is marked once per step (an action resets its alert), so a sweep run
        twice, or by two schedulers at once, notifies nobody twice.
        """
        open_states = [s.value for s in OPEN_STATES]
        async with self.db.write():
            yellow = (
                await Ticket.update({Ticket.alert: Alert.yellow, Ticket.alerted_at: now})
                .where(
                    Ticket.state.is_in(open_states)
                    & (Ticket.alert == Alert.none)
                    & (Ticket.warn_at <= now)
                    & (Ticket.due_at > now)
                )
                .returning(Ticket.id)
            )
            red = (
                await Ticket.update(
                    {Ticket.alert: Alert.red, Ticket.alerted_at: now, Ticket.escalated_at: now}
                )
                .where(
                    Ticket.state.is_in(open_states)
                    & (Ticket.alert != Alert.red)
                    & (Ticket.due_at <= now)
                )
                .returning(Ticket.id)
            )
            if yellow or red:
                # Tickets marked by this sweep are exactly those with alerted_at = now.
                await Notification.raw(_NOTIFY_SQL, now, now)
                await notify.sweep_outbound(now)
        return SweepResult(
            yellow=len(yellow), red=len(red), escalated_ticket_ids=[r["id"] for r in red]
        )


# Yellow goes to the department's liaisons; red (overdue) to them and to every supervisor. Two
# joins rather than one with OR, so each is a hash join instead of a nested loop.
_NOTIFY_SQL = """
INSERT INTO notification (recipient, ticket, kind, message, created_at)
SELECT u.id, t.id,
       CASE t.alert WHEN 'red' THEN 'overdue' ELSE 'due_soon' END,
       CASE t.alert WHEN 'red' THEN '工单 ' || CAST(t.id AS TEXT) || ' 已超期，请尽快办理。'
            ELSE '工单 ' || CAST(t.id AS TEXT) || ' 将于一个工作日内到期，请及时处理。' END,
       t.alerted_at
FROM ticket t
JOIN staff_user u ON u.department = t.department AND u.role = 'liaison' AND u.active
WHERE t.alerted_at = {} AND t.alert IN ('yellow', 'red')
UNION ALL
SELECT u.id, t.id, 'overdue', '工单 ' || CAST(t.id AS TEXT) || ' 已超期，已上报督办。', t.alerted_at
FROM ticket t
CROSS JOIN staff_user u
WHERE t.alerted_at = {} AND t.alert = 'red' AND u.role = 'supervisor' AND u.active
"""


# --- helpers -------------------------------------------------------------------------------------


def _parse_action(name: str) -> Action:
    try:
        return Action(name)
    except ValueError:
        options = "、".join(f"{a.value}（{ACTION_TEXT[a]}）" for a in Action)
        raise NotFound(
            "unknown_action",
            f"没有名为“{name}”的工单操作。可用的操作：{options}。",
            f"unknown action {name!r}",
            "action",
        ) from None


def _ticket_not_found(ticket_id: int) -> NotFound:
    return NotFound(
        "unknown_ticket",
        f"工单 {ticket_id} 不存在，或不属于您所在的部门。",
        f"ticket {ticket_id} does not exist or belongs to another department",
        "ticket_id",
    )


async def _ticket_row(ticket_id: int) -> dict[str, Any] | None:
    return (
        await Ticket.select(  # type: ignore[no-any-return]
            Ticket.id,
            Ticket.state,
            Ticket.version,
            Ticket.department,
            Ticket.extension_used,
            Ticket.due_at,
            Ticket.rectify_cap_at,
            Ticket.requested_due_date,
            Ticket.opened_at,
            Ticket.verifying_at,
            Ticket.feedback_at,
            Ticket.paused_at,
            Ticket.due_before_pause,
            Ticket.first_contact_at,
            Ticket.redo_count,
            Ticket.feedback_satisfaction,
        )
        .where(Ticket.id == ticket_id)
        .first()
    )


def _local_due(value: datetime | None, clock: TicketClock) -> datetime | None:
    """A deadline as the county's wall clock, so its .date() is the day a liaison sees."""
    utc = as_utc(value)
    return None if utc is None else utc.astimezone(clock.zone)


def _details(outcome: model.Outcome) -> dict[str, str]:
    data = outcome.data
    names = (
        "appeal_kind",
        "reason",
        "decision",
        "legal_basis",
        "measures",
        "requested_due_date",
        "contact_method",
        "contact_outcome",
        "contacted_at",
        "satisfaction",
    )
    details = {}
    for name in names:
        value = data.value(name)
        if value not in ("", None):
            details[name] = value.isoformat() if isinstance(value, date | datetime) else str(value)
    if outcome.redo:
        details["redo"] = "true"
    return details


def _event_out(row: dict[str, Any]) -> EventOut:
    return EventOut(
        id=row["id"],
        action=row["action"],
        actor=row["actor_name"],
        role=row["role"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        note=row["note"],
        attachments=[a for a in row["attachments"].split("\n") if a],
        details=json.loads(row["details"]) if row["details"] else {},
        at=as_utc(row["created_at"]),
    )


def _state_condition(value: str) -> Any:
    if value == "open":
        return Ticket.state.is_in([s.value for s in OPEN_STATES])
    if value == "closed":
        return Ticket.state.is_in([s.value for s in CLOSED_STATES])
    try:
        return Ticket.state == State(value)
    except ValueError:
        raise InvalidInput(
            "bad_state",
            "工单状态不正确，可选：open（未办结）、closed（已办结）或 "
            + "、".join(s.value for s in State)
            + "。",
            f"unknown state {value!r}",
            "state",
        ) from None


def _not_overdue(now: datetime) -> Any:
    return (
        Ticket.state.is_in([s.value for s in CLOSED_STATES])
        | Ticket.due_at.is_null()
        | (Ticket.due_at >= now)
    )


def _month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    # Years outside 2000-2100 are refused like a malformed month: nothing older exists, and the
    # edges of datetime (0000-01, 9999-12) would overflow below.
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise InvalidInput(
            "bad_month",
            "月份格式应为 YYYY-MM（2000年至2100年），例如 2025-10。",
            "month must be YYYY-MM, years 2000-2100",
            "month",
        )
    year, number = int(match.group(1)), int(match.group(2))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def _common_columns() -> list[Any]:
    return [
        Ticket.id,
        Ticket.state,
        Ticket.department,
        Ticket.department.code.as_alias("department_code"),
        Ticket.department.name.as_alias("department_name"),
        Ticket.item.code.as_alias("item_code"),
        Ticket.item.name.as_alias("item_name"),
        Ticket.service_transaction.project_no.as_alias("project_no"),
        Ticket.service_transaction.applicant_name.as_alias("applicant_name"),
        Ticket.service_transaction.applicant_phone.as_alias("applicant_phone"),
        Ticket.service_transaction.applicant_cert_no.as_alias("applicant_cert_no"),
        Ticket.level,
        Ticket.window_no,
        Ticket.staff_no,
        Ticket.opened_at,
        Ticket.due_at,
        Ticket.due_estimated,
        Ticket.alert,
        Ticket.redo_count,
        Ticket.reopen_count,
        Ticket.result,
    ]


def _summary_query() -> Any:
    return Ticket.select(*_common_columns())


def _detail_query() -> Any:
    return Ticket.select(
        *_common_columns(),
        Ticket.evaluation,
        Ticket.version,
        Ticket.warn_at,
        Ticket.rectify_cap_at,
        Ticket.extension_used,
        Ticket.requested_due_date,
        Ticket.appeal_kind,
        Ticket.appeal_reason,
        Ticket.legal_basis,
        Ticket.explanation,
        Ticket.measures,
        Ticket.feedback_contact_method,
        Ticket.feedback_satisfaction,
        Ticket.feedback_note,
        Ticket.first_contact_at,
        Ticket.first_contact_method,
        Ticket.first_contact_outcome,
        Ticket.paused_working_days,
        *[getattr(Ticket, f"{s.value}_at") for s in State if s != State.opened],
        Ticket.service_record.service_number.as_alias("service_number"),
        Ticket.service_record.name.as_alias("service_name"),
        Ticket.evaluation.channel.as_alias("channel"),
        Ticket.evaluation.tags.as_alias("tags"),
        Ticket.evaluation.comment.as_alias("comment"),
        Ticket.evaluation.received_at.as_alias("rated_at"),
    )


def _summary(row: dict[str, Any], now: datetime) -> TicketSummary:
    state = State(row["state"])
    due_at = as_utc(row["due_at"])
    return TicketSummary(
        id=row["id"],
        state=state,
        state_text=STATE_TEXT[state],
        department_code=row["department_code"],
        department_name=row["department_name"],
        item_code=row["item_code"],
        item_name=row["item_name"],
        project_no=row["project_no"],
        level=row["level"],
        window_no=row["window_no"],
        staff_no=row["staff_no"],
        # Lists always mask (DESIGN.md §3 rule 8); the full contact is on the ticket itself.
        contact=_contact(row, masked=True),
        opened_at=as_utc(row["opened_at"]),
        due_at=due_at,
        due_estimated=bool(row["due_estimated"]),
        alert=row["alert"],
        overdue=_overdue(state, due_at, now),
        redo_count=row["redo_count"],
        reopen_count=row["reopen_count"],
        result=row["result"],
    )


def _contact(row: dict[str, Any], masked: bool, cert_masked: bool = True) -> ContactOut:
    """`cert_masked`: the ID number stays masked even for the handling department's liaisons,
    whose work needs the phone, not the ID number (issue 10); supervisors see it whole."""
    name = row["applicant_name"] or ""
    phone = row["applicant_phone"] or ""
    cert_no = row["applicant_cert_no"] or ""
    if not masked:
        shown = mask_cert(cert_no) if cert_masked else cert_no
        return ContactOut(name=name, phone=phone, cert_no=shown, masked=False)
    return ContactOut(
        name=mask_name(name), phone=mask_phone(phone), cert_no=mask_cert(cert_no), masked=True
    )


def mask_phone(phone: str) -> str:
    """138****1234: the first three and the last four digits stay."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_cert(number: str) -> str:
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def _overdue(state: State, due_at: datetime | None, now: datetime) -> bool:
    return state in OPEN_STATES and due_at is not None and due_at < now


# --- closing results, for the province (差评整改在线反馈) ---------------------------------------


@dataclass(frozen=True)
class ClosedResult:
    """What the province is told when a ticket closes: in our vocabulary (`Result` values)."""

    ticket_id: int
    project_no: str
    service_number: int
    assess_number: int
    result: str
    measures: str
    feedback: str
    closed_at: datetime


_CLOSED_RESULTS_SQL = """
SELECT t.id, t.result, t.measures, t.explanation, t.feedback_note, t.closed_at,
       t.closed_invalid_at, e.assess_number, sr.service_number, st.project_no
FROM ticket t
JOIN evaluation e ON e.id = t.evaluation
JOIN service_record sr ON sr.id = e.service_record
JOIN service_transaction st ON st.id = sr.service_transaction
WHERE t.id IN ({placeholders})
"""


async def closed_results(ticket_ids: list[int]) -> dict[int, ClosedResult]:
    """The results of those tickets that are closed; open ones are left out."""
    if not ticket_ids:
        return {}
    sql = _CLOSED_RESULTS_SQL.format(placeholders=", ".join("{}" for _ in ticket_ids))
    out: dict[int, ClosedResult] = {}
    for r in await Ticket.raw(sql, *ticket_ids):
        closed = r["closed_at"] or r["closed_invalid_at"]
        if not r["result"] or not closed:
            continue
        out[r["id"]] = ClosedResult(
            ticket_id=r["id"],
            project_no=r["project_no"],
            service_number=r["service_number"],
            assess_number=r["assess_number"],
            result=r["result"],
            measures=r["measures"] or r["explanation"] or "",
            feedback=r["feedback_note"] or "",
            closed_at=as_utc(closed),
        )
    return out
