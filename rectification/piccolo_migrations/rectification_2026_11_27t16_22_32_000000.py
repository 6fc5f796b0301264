"""Lookup indexes of the ticket tables, as plain CREATE INDEX so the same statement runs on PostgreSQL
and SQLite. The unique index on ticket.evaluation comes with the column (UNIQUE in CREATE TABLE).

They follow the table migration because Piccolo runs a migration's raw steps before its table steps.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-27T16:22:32:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes"

INDEXES = (
    # The sweep reads open tickets by state and deadline; lists filter by department and state.
    ("", "ticket_state_due", "ticket", "state, due_at"),
    ("", "ticket_department_state", "ticket", "department, state"),
    ("", "ticket_opened_at", "ticket", "opened_at"),
    ("", "ticket_event_ticket", "ticket_event", "ticket, id"),
    ("", "notification_recipient", "notification", "recipient, id"),
    ("", "login_session_user", "login_session", '"user"'),  # quoted: USER is a keyword
    ("", "staff_user_role_department", "staff_user", "role, department"),
)


class _Any(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="rectification", description=DESCRIPTION)

    async def create_indexes() -> None:
        for unique, name, table, columns in INDEXES:
            await _Any._meta.db.run_ddl(
                f'CREATE {unique} INDEX IF NOT EXISTS {name} ON {table} ({columns})'
            )

    async def drop_indexes() -> None:
        for _, name, _, _ in INDEXES:
            await _Any._meta.db.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager
