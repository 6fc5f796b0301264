"""Evaluation.request_id: the id of the request that stored a rating, kept with the rating instead
of in a log line per rating, so the delivery worker's line can name it again."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "evaluation request id"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="evaluation_service", description=DESCRIPTION
    )
    manager.add_column(
        table_class_name="Evaluation",
        tablename="evaluation",
        column_name="request_id",
        db_column_name="request_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
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
