"""One ticket per service record (issue 10): a unique index on ticket.service_record.

A bad follow-up rating joins or reopens the ticket of its record instead of opening a second one;
the database refuses a second one. A database that already holds two tickets for one record (the
old behaviour) stops here with the list, to be merged by hand, rather than losing either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-11-30T14:42:46:000000"
VERSION = "1.38.0"
DESCRIPTION = "one ticket per service record"


class _Any(Table):
    pass


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="rectification", description=DESCRIPTION)

    async def create_index() -> None:
        duplicates = await _Any.raw(
            "SELECT service_record, COUNT(*) AS tickets FROM ticket "
            "GROUP BY service_record HAVING COUNT(*) > 1"
        )
        if duplicates:
            records = ", ".join(str(row["service_record"]) for row in duplicates[:20])
            raise RuntimeError(
                "同一服务记录有多张整改工单，请先人工合并后再升级 / several tickets share a "
                f"service record; merge them before this migration (service_record: {records})"
            )
        await _Any._meta.db.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS ticket_service_record_key ON ticket (service_record)"
        )

    async def drop_index() -> None:
        await _Any._meta.db.run_ddl("DROP INDEX IF EXISTS ticket_service_record_key")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
