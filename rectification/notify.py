"""Who is told what, and the outbound channel's outbox (issue 10, item 1).

Every event that asks someone to act — a new ticket, a decision, a send-back (退回), a yellow or red
deadline, an escalation — writes in-app notifications for the people who must act *in the event's
own transaction*, and one `outbound_message` row per notification (plus, for a new ticket, the
citizen's SMS with the case link). The worker delivers outbound rows through a `Sender` with
exponential back-off; a gateway that is down delays messages, it never loses one (the rows stay
pending), and each row is marked delivered once.

No framework here: the webhook sender (httpx) is an adapter in `rectification/senders.py`, chosen
by the root from the settings.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from evaluation_service.identity.model import Actor, Role
from evaluation_service.identity.tables import StaffUser
from evaluation_service.kernel.database import Database
from rectification.model import (
    ACTION_TEXT,
    CLOSED_STATES,
    CLOSED_STATES_SQL,
    STATE_TEXT,
    TRANSITIONS,
    Action,
    Outcome,
    State,
    allowed_actions,
)
from rectification.tables import Notification, OutboundMessage

log = logging.getLogger("haochaping.notify")

STAFF = "staff"
CITIZEN = "citizen"
PENDING, DELIVERED, FAILED, SKIPPED = "pending", "delivered", "failed", "skipped"

# Notification kinds (Notification.kind, OutboundMessage.kind).
NEW_TICKET = "new_ticket"
REOPENED = "reopened"
SENT_BACK = "sent_back"
DECISION = "decision"
REVIEW = "review"
REDO = "redo"
CLOSED = "closed"
CASE_LINK = "case_link"
KIND_TEXT = {
    NEW_TICKET: "新工单",
    REOPENED: "重新打开",
    SENT_BACK: "退回",
    DECISION: "审核结果",
    REVIEW: "待审核",
    REDO: "重办",
    CLOSED: "已办结",
    "due_soon": "即将到期",
    "overdue": "已超期",
}

_DECISIONS = frozenset(
    {
        Action.decide_appeal,
        Action.approve_explanation,
        Action.reject_explanation,
        Action.approve_extension,
        Action.reject_extension,
    }
)
_RESULT_TEXT = {"rectified": "已整改", "explained": "已作情况说明", "invalid": "无效差评"}


@dataclass(frozen=True)
class Notice:
    kind: str
    message: str
    liaisons: bool
    supervisors: bool


def next_role(state: State) -> Role | None:
    """Whose move it is in `state` (every action from one state belongs to one role)."""
    roles = {TRANSITIONS[(state, action)].role for action in allowed_actions(state)}
    return roles.pop() if len(roles) == 1 else None


def notice_for(
    ticket_id: int, outcome: Outcome, staff_acted: bool, actor_role: Role
) -> Notice | None:
    """What an action tells whom: the people whose move it now is, unless the actor keeps the move
    (a liaison accepting their own ticket tells nobody). Closing tells the department."""
    to = outcome.to_state
    label = f"工单 {ticket_id}"
    note = (outcome.data.note or outcome.data.reason).strip()
    reason = f"理由：{note}" if note else ""
    if to in CLOSED_STATES:
        text = "申诉成立，按无效差评办结" if to == State.closed_invalid else "已办结"
        return Notice(CLOSED, f"{label} {text}。", liaisons=True, supervisors=False)
    role = next_role(to)
    if role is None or (staff_acted and role == actor_role):
        return None
    if role == Role.supervisor:
        message = f"{label} 提交“{ACTION_TEXT[outcome.action]}”，现为“{STATE_TEXT[to]}”，请审核。"
        return Notice(REVIEW, message, liaisons=False, supervisors=True)
    if outcome.action == Action.send_back:
        message = f"{label} 被监督员退回重新整改。{reason}"
        return Notice(SENT_BACK, message.strip(), liaisons=True, supervisors=False)
    if outcome.redo:
        message = f"{label} 回访群众仍不满意，需重新整改。{reason}"
        return Notice(REDO, message.strip(), liaisons=True, supervisors=False)
    if outcome.action in _DECISIONS:
        message = (
            f"{label} 审核结果：{ACTION_TEXT[outcome.action]}"
            + (f"（{outcome.data.decision}）" if outcome.data.decision else "")
            + f"，现为“{STATE_TEXT[to]}”，请继续办理。{reason}"
        )
        return Notice(DECISION, message.strip(), liaisons=True, supervisors=False)
    message = f"{label} 现为“{STATE_TEXT[to]}”，请及时办理。"
    return Notice(DECISION, message, liaisons=True, supervisors=False)


async def _recipients(department_id: int, notice: Notice, exclude: int | None) -> list[int]:
    ids: list[int] = []
    if notice.liaisons:
        rows = await StaffUser.select(StaffUser.id).where(
            (StaffUser.department == department_id)
            & (StaffUser.role == Role.liaison.value)
            & (StaffUser.active == True)  # noqa: E712 (a column comparison, not a bool test)
        )
        ids += [r["id"] for r in rows]
    if notice.supervisors:
        rows = await StaffUser.select(StaffUser.id).where(
            (StaffUser.role == Role.supervisor.value) & (StaffUser.active == True)  # noqa: E712
        )
        ids += [r["id"] for r in rows]
    return [i for i in dict.fromkeys(ids) if i != exclude]


async def notify(
    ticket_id: int, department_id: int, notice: Notice, now: datetime, exclude: int | None = None
) -> int:
    """Notifications and their outbound rows, in the current transaction. Returns how many."""
    recipients = await _recipients(department_id, notice, exclude)
    if not recipients:
        return 0
    inserted = await Notification.insert(
        *[
            Notification(
                recipient=user_id,
                ticket=ticket_id,
                kind=notice.kind,
                message=notice.message,
                created_at=now,
            )
            for user_id in recipients
        ]
    ).returning(Notification.id, Notification.recipient)
    await OutboundMessage.insert(
        *[
            OutboundMessage(
                audience=STAFF,
                recipient=row["recipient"],
                ticket=ticket_id,
                notification=row["id"],
                kind=notice.kind,
                text=notice.message,
                state=PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for row in inserted
        ]
    )
    return len(inserted)


async def after_action(
    ticket_id: int,
    department_id: int,
    outcome: Outcome,
    actor: Actor,
    now: datetime,
    staff_acted: bool = True,
) -> None:
    """The hook `Rectification.act` calls inside its write transaction."""
    notice = notice_for(ticket_id, outcome, staff_acted, actor.role)
    if notice is not None:
        await notify(ticket_id, department_id, notice, now, exclude=actor.user_id or None)


def new_ticket_notice(ticket_id: int) -> Notice:
    return Notice(
        NEW_TICKET,
        f"新的实名差评工单 {ticket_id} 待受理，请在一个工作日内受理并联系群众核实。",
        liaisons=True,
        supervisors=False,
    )


def reopened_notice(ticket_id: int) -> Notice:
    return Notice(
        REOPENED,
        f"工单 {ticket_id} 因群众追加差评重新打开，请重新受理并联系群众核实。",
        liaisons=True,
        supervisors=False,
    )


async def ticket_opened(ticket_id: int, department_id: int, now: datetime) -> None:
    """A new ticket tells the department's liaisons, and queues the citizen's case-link SMS
    (rendered when sent: the link is signed and the step may have moved on)."""
    await notify(ticket_id, department_id, new_ticket_notice(ticket_id), now)
    await OutboundMessage.insert(
        OutboundMessage(
            audience=CITIZEN,
            ticket=ticket_id,
            kind=CASE_LINK,
            state=PENDING,
            next_attempt_at=now,
            created_at=now,
        )
    )


# PostgreSQL: the same as `ticket_opened` (and `reopened_notice` for a closed ticket a follow-up
# reopened), as CTEs riding in intake's one-statement insert after rectification's
# `ticket_inserted` and `ticket_joined` (which return id and department).
TICKET_NOTIFY_CTES = f""", ticket_to_act AS (
    SELECT id, department, opened_at AS at, '{NEW_TICKET}' AS kind,
           '新的实名差评工单 ' || CAST(id AS TEXT)
               || ' 待受理，请在一个工作日内受理并联系群众核实。' AS message
    FROM ticket_inserted
    UNION ALL
    SELECT j.id, j.department, ins.received_at, '{REOPENED}',
           '工单 ' || CAST(j.id AS TEXT) || ' 因群众追加差评重新打开，请重新受理并联系群众核实。'
    FROM ticket_joined j JOIN ins ON ins.id = j.evaluation
    WHERE j.from_state IN ({CLOSED_STATES_SQL})
), ticket_notified AS (
    INSERT INTO notification (recipient, ticket, kind, message, created_at)
    SELECT u.id, a.id, a.kind, a.message, a.at
    FROM ticket_to_act a
    JOIN staff_user u ON u.department = a.department AND u.role = 'liaison' AND u.active
    RETURNING id, recipient, ticket, kind, message, created_at
), ticket_outbound AS (
    INSERT INTO outbound_message (audience, recipient, ticket, notification, kind, text, state,
        attempts, next_attempt_at, last_error, created_at)
    SELECT 'staff', n.recipient, n.ticket, n.id, n.kind, n.message, 'pending', 0, n.created_at, '',
           n.created_at
    FROM ticket_notified n
    UNION ALL
    SELECT '{CITIZEN}', NULL, ticket_inserted.id, NULL, '{CASE_LINK}', '', 'pending', 0,
           ticket_inserted.opened_at, '', ticket_inserted.opened_at
    FROM ticket_inserted
)"""

# The sweep's notifications (all stamped with the sweep's instant) as outbound rows.
SWEEP_OUTBOUND_SQL = """
INSERT INTO outbound_message (audience, recipient, ticket, notification, kind, text, state,
    attempts, next_attempt_at, last_error, created_at)
SELECT 'staff', n.recipient, n.ticket, n.id, n.kind, n.message, 'pending', 0, n.created_at, '',
       n.created_at
FROM notification n
WHERE n.created_at = {} AND n.kind IN ('due_soon', 'overdue')
  AND NOT EXISTS (SELECT 1 FROM outbound_message o WHERE o.notification = n.id)
"""


async def sweep_outbound(now: datetime) -> None:
    await OutboundMessage.raw(SWEEP_OUTBOUND_SQL, now)


# --- delivery ------------------------------------------------------------------------------------


class SendFailed(Exception):
    """The gateway did not take the message. `permanent`: it refused it (no retry helps)."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class Message:
    """One outbound message as a gateway gets it."""

    id: int
    audience: str
    kind: str
    to: str  # the staff member's username (政务微信 user id) or the citizen's phone
    name: str
    text: str
    ticket_id: int | None


class Sender(Protocol):
    async def send(self, message: Message) -> None:
        """Hand one message to the gateway, or raise SendFailed."""
        ...

    async def close(self) -> None: ...


class LogSender:
    """Writes each message to the log: the default until a gateway is configured."""

    async def send(self, message: Message) -> None:
        log.info("outbound %s #%d to %s: %s", message.kind, message.id, message.to, message.text)

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    max_seconds: float = 900.0
    lease_seconds: float = 60.0

    def delay(self, attempts: int) -> timedelta:
        """Exponential back-off with jitter, capped."""
        seconds = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return timedelta(seconds=seconds * random.uniform(0.8, 1.0))


# What a citizen's message says: (phone, text) for a ticket, or None when there is no phone.
CitizenText = Callable[[int, datetime], Awaitable[tuple[str, str] | None]]


class Outbound:
    """Claims due outbound rows with a lease and delivers them through the sender."""

    def __init__(
        self, db: Database, sender: Sender, policy: RetryPolicy, citizen_text: CitizenText
    ) -> None:
        self.db = db
        self.sender = sender
        self.policy = policy
        self.citizen_text = citizen_text

    async def claim_due(self, limit: int, now: datetime) -> list[int]:
        """Pending rows that are due, leased to this caller: another claim sees them only after
        the lease (a crashed worker's rows come back by themselves)."""
        async with self.db.write():
            rows = (
                await OutboundMessage.select(OutboundMessage.id)
                .where(
                    (OutboundMessage.state == PENDING) & (OutboundMessage.next_attempt_at <= now)
                )
                .order_by(OutboundMessage.id)
                .limit(limit)
            )
            ids = [r["id"] for r in rows]
            if not ids:
                return []
            leased = (
                await OutboundMessage.update(
                    {
                        OutboundMessage.next_attempt_at: now
                        + timedelta(seconds=self.policy.lease_seconds)
                    }
                )
                .where(
                    OutboundMessage.id.is_in(ids)
                    & (OutboundMessage.state == PENDING)
                    & (OutboundMessage.next_attempt_at <= now)
                )
                .returning(OutboundMessage.id)
            )
        return sorted(r["id"] for r in leased)

    async def deliver(self, ids: list[int], now: Callable[[], datetime]) -> dict[str, int]:
        """Send each still-pending row once; settle it delivered, failed or back to pending."""
        counts = {DELIVERED: 0, FAILED: 0, SKIPPED: 0, PENDING: 0}
        if not ids:
            return counts
        rows = await OutboundMessage.select(
            OutboundMessage.id,
            OutboundMessage.audience,
            OutboundMessage.recipient,
            OutboundMessage.ticket,
            OutboundMessage.kind,
            OutboundMessage.text,
            OutboundMessage.attempts,
        ).where(OutboundMessage.id.is_in(ids) & (OutboundMessage.state == PENDING))
        names = await self._staff_names([r["recipient"] for r in rows if r["recipient"]])
        for row in rows:
            outcome = await self._deliver_one(row, names, now())
            counts[outcome] += 1
        return counts

    async def _staff_names(self, ids: list[int]) -> dict[int, tuple[str, str]]:
        if not ids:
            return {}
        found = await StaffUser.select(
            StaffUser.id, StaffUser.username, StaffUser.display_name, StaffUser.active
        ).where(StaffUser.id.is_in(sorted(set(ids))))
        return {r["id"]: (r["username"], r["display_name"]) for r in found if r["active"]}

    async def _deliver_one(
        self, row: dict[str, Any], names: dict[int, tuple[str, str]], now: datetime
    ) -> str:
        if row["audience"] == CITIZEN:
            found = await self.citizen_text(row["ticket"], now) if row["ticket"] else None
            if found is None:
                return await self._settle(row["id"], SKIPPED, now, "no phone number")
            to, text, name = found[0], found[1], ""
        else:
            who = names.get(row["recipient"])
            if who is None:
                return await self._settle(row["id"], SKIPPED, now, "recipient inactive")
            (to, name), text = who, row["text"]
        message = Message(row["id"], row["audience"], row["kind"], to, name, text, row["ticket"])
        try:
            await self.sender.send(message)
        except SendFailed as failure:
            attempts = row["attempts"] + 1
            if failure.permanent:
                return await self._settle(row["id"], FAILED, now, str(failure), attempts)
            async with self.db.write():
                await OutboundMessage.update(
                    {
                        OutboundMessage.attempts: attempts,
                        OutboundMessage.next_attempt_at: now + self.policy.delay(attempts),
                        OutboundMessage.last_error: str(failure)[:500],
                    }
                ).where((OutboundMessage.id == row["id"]) & (OutboundMessage.state == PENDING))
            log.warning("outbound #%d not sent (attempt %d): %s", row["id"], attempts, failure)
            return PENDING
        return await self._settle(row["id"], DELIVERED, now, "", row["attempts"] + 1)

    async def _settle(
        self, row_id: int, state: str, now: datetime, error: str, attempts: int | None = None
    ) -> str:
        values: dict[Any, Any] = {OutboundMessage.state: state, OutboundMessage.last_error: error}
        if attempts is not None:
            values[OutboundMessage.attempts] = attempts
        if state == DELIVERED:
            values[OutboundMessage.delivered_at] = now
        async with self.db.write():
            await OutboundMessage.update(values).where(
                (OutboundMessage.id == row_id) & (OutboundMessage.state == PENDING)
            )
        return state

    async def pending_count(self) -> int:
        return int(await OutboundMessage.count().where(OutboundMessage.state == PENDING))


class OutboundLoop:
    """The embedded default's worker for outbound messages: claim due rows, deliver them, wait.
    With a broker the worker process runs the same claim and hands ids to the dramatiq actor."""

    def __init__(
        self,
        outbound: Outbound,
        clock: Callable[[], datetime],
        interval_seconds: float,
        batch_size: int = 50,
    ) -> None:
        self.outbound = outbound
        self.clock = clock
        self.interval = interval_seconds
        self.batch_size = batch_size

    async def tick(self) -> int:
        sent = 0
        while True:
            ids = await self.outbound.claim_due(self.batch_size, self.clock())
            if not ids:
                return sent
            await self.outbound.deliver(ids, self.clock)
            sent += len(ids)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Rows stay pending; their lease ends and the next tick takes them again.
                log.exception("outbound tick failed; trying again")
            await asyncio.sleep(self.interval)
