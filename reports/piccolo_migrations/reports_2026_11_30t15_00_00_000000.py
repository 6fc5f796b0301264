"""report_version.restricted: what only supervisors read (integrity flags with their evidence,
example bad-review comments), archived with the version; report_job: generations started from the
page, with their progress, readable by every web process."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "restricted part of a report version; generation jobs"

JOB_COLUMNS = (
    ("month", Varchar, {"length": 7, "default": ""}),
    ("total", Integer, {"default": 0}),
    ("done", Integer, {"default": 0}),
    ("state", Varchar, {"length": 10, "default": "running"}),
    ("version", Integer, {"default": None, "null": True}),
    ("error", Text, {"default": ""}),
    ("started_at", Timestamptz, {"default": TimestamptzNow()}),
    ("heartbeat_at", Timestamptz, {"default": TimestamptzNow()}),
)


def _params(extra: dict) -> dict:
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="reports", description=DESCRIPTION)
    manager.add_column(
        table_class_name="ReportVersion",
        tablename="report_version",
        column_name="restricted",
        db_column_name="restricted",
        column_class_name="Text",
        column_class=Text,
        params={
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
    manager.add_table(class_name="ReportJob", tablename="report_job", schema=None, columns=None)
    for name, column_class, extra in JOB_COLUMNS:
        manager.add_column(
            table_class_name="ReportJob",
            tablename="report_job",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=_params(extra),
            schema=None,
        )
    return manager
