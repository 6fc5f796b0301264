"""schedule_run: one row per scheduled job and period, so that however many schedulers run, each
job is sent once per period (the unique index, in the next migration, decides who sends)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "schedule_run"


def _params(**overrides):
    params = {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(overrides)
    return params


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="evaluation_service", description=DESCRIPTION)
    manager.add_table(class_name="ScheduleRun", tablename="schedule_run", schema=None, columns=None)
    for name, column_class, params in (
        ("job", Varchar, _params(length=40, default="")),
        ("period", Varchar, _params(length=40, default="")),
        ("claimed_at", Timestamptz, _params(default=TimestamptzNow())),
    ):
        manager.add_column(
            table_class_name="ScheduleRun",
            tablename="schedule_run",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )

    return manager
