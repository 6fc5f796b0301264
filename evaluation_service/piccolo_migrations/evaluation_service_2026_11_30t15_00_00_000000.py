"""Staff.phone: a staff member's own mobile number, for the reports' integrity flag of a staff
member rating their own service from their own phone."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "staff phone"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="evaluation_service", description=DESCRIPTION
    )
    manager.add_column(
        table_class_name="Staff",
        tablename="staff",
        column_name="phone",
        db_column_name="phone",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 20,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
