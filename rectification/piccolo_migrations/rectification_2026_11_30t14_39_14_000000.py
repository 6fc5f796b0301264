"""Lookup indexes of the outbound outbox and the evidence of tickets (issue 10), as plain CREATE
INDEX so the same statement runs on PostgreSQL and SQLite; after the table migration because
Piccolo runs a migration's raw steps before its table steps."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-30T14:39:14:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes of outbound_message and ticket_evidence"

INDEXES = (
    # The relay claims pending rows by due time; the sweep and the case page look rows up by ticket.
    ("outbound_message_due", "outbound_message", "state, next_attempt_at"),
    ("outbound_message_notification", "outbound_message", "notification"),
    ("ticket_evidence_ticket", "ticket_evidence", "ticket, id"),
    ("notification_unread", "notification", "recipient, read_at"),
    # The sweep turns the notifications it just wrote (all stamped with its instant) into
    # outbound rows: found by created_at, not by scanning every notification ever written.
    ("notification_created_at", "notification", "created_at"),
)


class _Any(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="rectification", description=DESCRIPTION)

    async def create_indexes() -> None:
        for name, table, columns in INDEXES:
            await _Any._meta.db.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")

    async def drop_indexes() -> None:
        for name, _, _ in INDEXES:
            await _Any._meta.db.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager
