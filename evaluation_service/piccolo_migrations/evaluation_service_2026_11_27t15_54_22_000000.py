"""Composite and lookup indexes, as plain CREATE INDEX so the same statement runs on PostgreSQL and SQLite.

They follow the table migration because Piccolo runs a migration's raw steps before its table steps.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-27T15:54:22:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes"

INDEXES = (
    ("UNIQUE", "service_record_transaction_number", "service_record", "service_transaction, service_number"),
    ("UNIQUE", "evaluation_record_assess", "evaluation", "service_record, assess_number"),
    ("UNIQUE", "indicator_version_level_code", "indicator", "version, level, code"),
    ("", "outbox_state_due", "outbox", "state, next_attempt_at"),
    ("", "service_transaction_department", "service_transaction", "department"),
)


class _Any(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="evaluation_service", description=DESCRIPTION)

    async def create_indexes() -> None:
        for unique, name, table, columns in INDEXES:
            await _Any._meta.db.run_ddl(f"CREATE {unique} INDEX IF NOT EXISTS {name} ON {table} ({columns})")

    async def drop_indexes() -> None:
        for _, name, _, _ in INDEXES:
            await _Any._meta.db.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager
