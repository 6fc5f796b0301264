"""What the province's service record needs that intake did not keep, and room for new outbox states.

- service_item: item_kind, case_kind, promised_days/unit, legal_days/unit (the catalogue's facts);
- service_transaction: project_name, online, item_kind/case_kind/promised_days (NULL: the item's),
  agent_name/cert_type/cert_no (代办人);
- indicator: label, the county's wording beside the national text;
- outbox.state: VARCHAR(10) → VARCHAR(20) for states such as `followup_refused`.

Only ADD COLUMN, which SQLite can do. The widening is PostgreSQL-only: SQLite does not enforce
VARCHAR lengths, and cannot alter a column. There is no backwards step for it: a wider column
holds every value the narrower one did.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Integer, Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-11-30T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "handling facts of items and transactions, indicator label, wider outbox state"


class _Any(Table):
    pass


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


# (table class, table, column, column class, params)
COLUMNS = (
    ("ServiceItem", "service_item", "item_kind", Varchar, _params(length=2, default="")),
    ("ServiceItem", "service_item", "case_kind", Varchar, _params(length=10, default="promised")),
    ("ServiceItem", "service_item", "promised_days", Integer, _params(default=0)),
    (
        "ServiceItem",
        "service_item",
        "promised_unit",
        Varchar,
        _params(length=12, default="working_day"),
    ),
    ("ServiceItem", "service_item", "legal_days", Integer, _params(default=0)),
    ("ServiceItem", "service_item", "legal_unit", Varchar, _params(length=12, default="working_day")),
    (
        "ServiceTransaction",
        "service_transaction",
        "project_name",
        Varchar,
        _params(length=200, default=""),
    ),
    ("ServiceTransaction", "service_transaction", "online", Boolean, _params(default=False)),
    (
        "ServiceTransaction",
        "service_transaction",
        "item_kind",
        Varchar,
        _params(length=2, default=None, null=True),
    ),
    (
        "ServiceTransaction",
        "service_transaction",
        "case_kind",
        Varchar,
        _params(length=10, default=None, null=True),
    ),
    (
        "ServiceTransaction",
        "service_transaction",
        "promised_days",
        Integer,
        _params(default=None, null=True),
    ),
    (
        "ServiceTransaction",
        "service_transaction",
        "agent_name",
        Varchar,
        _params(length=100, default=""),
    ),
    (
        "ServiceTransaction",
        "service_transaction",
        "agent_cert_type",
        Varchar,
        _params(length=8, default=""),
    ),
    (
        "ServiceTransaction",
        "service_transaction",
        "agent_cert_no",
        Varchar,
        _params(length=32, default=""),
    ),
    ("Indicator", "indicator", "label", Varchar, _params(length=100, default="")),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="evaluation_service", description=DESCRIPTION)

    async def widen_outbox_state() -> None:
        if _Any._meta.db.engine_type == "postgres":
            await _Any._meta.db.run_ddl("ALTER TABLE outbox ALTER COLUMN state TYPE VARCHAR(20)")

    manager.add_raw(widen_outbox_state)
    for class_name, tablename, column, column_class, params in COLUMNS:
        manager.add_column(
            table_class_name=class_name,
            tablename=tablename,
            column_name=column,
            db_column_name=column,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    return manager
