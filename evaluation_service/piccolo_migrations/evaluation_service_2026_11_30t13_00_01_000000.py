"""The unique (job, period) index of schedule_run, as plain CREATE INDEX after the table exists
(SQLite cannot add a table constraint after CREATE TABLE)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-30T13:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "schedule_run unique job and period"


class _Any(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="evaluation_service", description=DESCRIPTION)

    async def create_index() -> None:
        await _Any._meta.db.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS schedule_run_job_period ON schedule_run (job, period)"
        )

    async def drop_index() -> None:
        await _Any._meta.db.run_ddl("DROP INDEX IF EXISTS schedule_run_job_period")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
