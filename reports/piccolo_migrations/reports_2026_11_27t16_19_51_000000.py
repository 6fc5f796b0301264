"""The archive's unique (month, version) index, as plain CREATE INDEX so the same statement runs on
PostgreSQL and SQLite. Two processes regenerating a month at once cannot both write version n.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-27T16:19:51:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes"

INDEXES = (("UNIQUE", "report_version_month_version", "report_version", "month, version"),)


class _Any(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="reports", description=DESCRIPTION)

    async def create_indexes() -> None:
        for unique, name, table, columns in INDEXES:
            await _Any._meta.db.run_ddl(
                f"CREATE {unique} INDEX IF NOT EXISTS {name} ON {table} ({columns})"
            )

    async def drop_indexes() -> None:
        for _, name, _, _ in INDEXES:
            await _Any._meta.db.run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager
