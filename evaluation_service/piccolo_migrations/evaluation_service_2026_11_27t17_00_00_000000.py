"""device_session: the service record a window system last finished at an evaluator device.

Kept in the database, not in process memory, because the window system's announcement and the
device page's polling may reach different web processes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-11-27T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "device_session"


class Device(Table, tablename="device", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


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
    manager.add_table(class_name="DeviceSession", tablename="device_session", schema=None, columns=None)
    manager.add_column(
        table_class_name="DeviceSession",
        tablename="device_session",
        column_name="device",
        db_column_name="device",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params=_params(
            references=Device,
            on_delete=OnDelete.cascade,
            on_update=OnUpdate.cascade,
            target_column=None,
            unique=True,
        ),
        schema=None,
    )
    manager.add_column(
        table_class_name="DeviceSession",
        tablename="device_session",
        column_name="project_no",
        db_column_name="project_no",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=64, default=""),
        schema=None,
    )
    manager.add_column(
        table_class_name="DeviceSession",
        tablename="device_session",
        column_name="service_number",
        db_column_name="service_number",
        column_class_name="Integer",
        column_class=Integer,
        params=_params(default=0),
        schema=None,
    )
    manager.add_column(
        table_class_name="DeviceSession",
        tablename="device_session",
        column_name="announced_at",
        db_column_name="announced_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params=_params(default=TimestamptzNow()),
        schema=None,
    )
    return manager
