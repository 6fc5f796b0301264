"""Piccolo tables of tickets, their append-only audit log, staff, sessions and notifications."""

from __future__ import annotations

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from evaluation_service.identity.tables import LoginFailure, LoginSession, LoginThrottle, StaffUser
from evaluation_service.kernel.tables import (
    Department,
    Evaluation,
    ServiceItem,
    ServiceRecord,
    ServiceTransaction,
)
from rectification.model import Alert, State

# Lookup indexes live in the second migration as plain CREATE INDEX (see evaluation_service's).


class Ticket(Table):
    id: Serial  # declared by Piccolo; annotated for the type checker
    # Exactly one ticket per real-name bad review (DESIGN.md §3 rule 6), and one per service record:
    # a bad follow-up joins or reopens it. `evaluation` is the rating that opened it. The database
    # enforces both (service_record by a unique index in the migration).
    evaluation = ForeignKey(Evaluation, null=False, unique=True, on_delete=OnDelete.restrict)
    service_record = ForeignKey(ServiceRecord, null=False, on_delete=OnDelete.restrict)
    service_transaction = ForeignKey(ServiceTransaction, null=False, on_delete=OnDelete.restrict)
    department = ForeignKey(Department, null=False, on_delete=OnDelete.restrict)
    item = ForeignKey(ServiceItem, null=False, on_delete=OnDelete.restrict)
    level = SmallInt()
    window_no = Varchar(length=32, default="")
    staff_no = Varchar(length=32, default="")

    state = Varchar(length=20, choices=State, default=State.opened)
    # Bumped by every action; the compare-and-set matches it together with the state.
    version = Integer(default=1)

    # The current step's deadline, when it turns yellow, and what the sweep last marked.
    due_at = Timestamptz(null=True, default=None)
    warn_at = Timestamptz(null=True, default=None)
    due_estimated = Boolean(default=False)
    alert = Varchar(length=8, choices=Alert, default=Alert.none)
    alerted_at = Timestamptz(null=True, default=None)
    escalated_at = Timestamptz(null=True, default=None)

    # 回访核实: the first contact with the citizen at verification (method, time, outcome).
    first_contact_at = Timestamptz(null=True, default=None)
    first_contact_method = Varchar(length=12, default="")
    first_contact_outcome = Varchar(length=12, default="")

    # Rectification: the current round's start, the one overall cap from the first entry
    # (confirmation) — moved on by paused working days — and the one extension allowed.
    rectify_started_at = Timestamptz(null=True, default=None)
    rectify_cap_at = Timestamptz(null=True, default=None)
    extension_used = Boolean(default=False)
    requested_due_date = Varchar(length=10, default="")
    redo_count = Integer(default=0)  # 重办: the citizen was still dissatisfied
    # 材料补正: the due date the pause stopped, and the working days all pauses took.
    due_before_pause = Timestamptz(null=True, default=None)
    paused_working_days = Integer(default=0)
    # A bad follow-up rating (追加评价) that reopened the closed ticket of its record.
    reopen_count = Integer(default=0)

    appeal_kind = Varchar(length=12, default="")
    appeal_reason = Text(default="")
    legal_basis = Text(default="")
    explanation = Text(default="")
    measures = Text(default="")
    feedback_contact_method = Varchar(length=12, default="")
    feedback_satisfaction = Varchar(length=20, default="")
    feedback_note = Text(default="")
    result = Varchar(length=12, default="")  # rectified / explained / invalid, once closed

    # A timestamp per state: when the ticket last entered it.
    opened_at = Timestamptz(default=TimestamptzNow())
    verifying_at = Timestamptz(null=True, default=None)
    appeal_review_at = Timestamptz(null=True, default=None)
    explanation_review_at = Timestamptz(null=True, default=None)
    rectifying_at = Timestamptz(null=True, default=None)
    extension_review_at = Timestamptz(null=True, default=None)
    feedback_at = Timestamptz(null=True, default=None)
    contact_review_at = Timestamptz(null=True, default=None)
    supervision_at = Timestamptz(null=True, default=None)
    paused_at = Timestamptz(null=True, default=None)  # also the start of the current pause
    closed_at = Timestamptz(null=True, default=None)
    closed_invalid_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class TicketEvent(Table, tablename="ticket_event"):
    """The audit log (DESIGN.md §3 rule 9): rows are only inserted, in the action's transaction."""

    id: Serial  # declared by Piccolo; annotated for the type checker

    ticket = ForeignKey(Ticket, null=False, on_delete=OnDelete.restrict)
    action = Varchar(length=24)
    actor = ForeignKey(StaffUser, null=True, on_delete=OnDelete.restrict)  # null: the system
    actor_name = Varchar(length=64, default="")
    role = Varchar(length=12, default="")
    from_state = Varchar(length=20, default="")
    to_state = Varchar(length=20)
    note = Text(default="")
    attachments = Text(default="")  # file names, one per line
    details = Text(default="")  # the action's other fields, as JSON
    created_at = Timestamptz(default=TimestamptzNow())


class Notification(Table):
    """The in-app notification list of one staff member."""

    id: Serial  # declared by Piccolo; annotated for the type checker

    recipient = ForeignKey(StaffUser, null=False, on_delete=OnDelete.cascade)
    # A plain id, not a foreign key: tickets are never deleted, and the sweep inserts notifications
    # by the tens of thousands, where a per-row constraint check would be most of its time.
    ticket = Integer(null=True, default=None)
    kind = Varchar(length=16)  # due_soon / overdue
    message = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    read_at = Timestamptz(null=True, default=None)


class OutboundMessage(Table, tablename="outbound_message"):
    """The outbox of the outbound channel (SMS / 政务微信): one row per message to send, written in
    the transaction of the event it tells of, delivered by the worker with back-off."""

    id: Serial  # declared by Piccolo; annotated for the type checker

    audience = Varchar(length=8)  # staff / citizen
    recipient = Integer(null=True, default=None)  # staff_user id, for staff
    ticket = Integer(null=True, default=None)
    notification = Integer(null=True, default=None)
    kind = Varchar(length=16)
    # Staff messages carry their text; a citizen's case link is rendered when sent (it is signed).
    text = Text(default="")
    state = Varchar(length=10, default="pending")  # pending / delivered / failed / skipped
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    delivered_at = Timestamptz(null=True, default=None)


class TicketEvidence(Table, tablename="ticket_evidence"):
    """A file attached to a ticket's result: kept under VAR_DIR/evidence, named by its SHA-256."""

    id: Serial  # declared by Piccolo; annotated for the type checker

    ticket = Integer(null=False)
    file_name = Varchar(length=200)
    content_type = Varchar(length=40)
    size = Integer()
    sha256 = Varchar(length=64)
    uploaded_by = Integer(null=True, default=None)
    uploaded_by_name = Varchar(length=64, default="")
    created_at = Timestamptz(default=TimestamptzNow())


TABLES: list[type[Table]] = [
    StaffUser,
    LoginSession,
    LoginThrottle,
    LoginFailure,
    Ticket,
    TicketEvent,
    Notification,
    OutboundMessage,
    TicketEvidence,
]
