"""Piccolo tables of the catalog, transactions, service records, evaluations and the outbox."""

from __future__ import annotations

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.readable import Readable
from piccolo.table import Table

from evaluation_service.kernel.item_vocabulary import CaseKind, ItemKind, TimeUnit
from evaluation_service.kernel.vocabulary import Channel, DeviceKind, OutboxKind, OutboxState

# Composite unique indexes live in the migrations as plain CREATE UNIQUE INDEX, because SQLite
# cannot add a table constraint after CREATE TABLE:
#   service_record (service_transaction, service_number),
#   evaluation (service_record, assess_number),
#   indicator (version, level, code).


class Department(Table):
    id: Serial  # Piccolo adds the primary key; declared for type checkers
    code = Varchar(length=18, unique=True)  # unified social credit code
    name = Varchar(length=100)
    area_code = Varchar(length=12)

    @classmethod
    def get_readable(cls) -> Readable:
        """How a reference to a department reads in Piccolo Admin's pickers: its name."""
        return Readable(template="%s", columns=[cls.name])


class ServiceItem(Table, tablename="service_item"):
    id: Serial
    code = Varchar(length=33, unique=True)
    name = Varchar(length=200)
    department = ForeignKey(Department, null=False, on_delete=OnDelete.restrict)
    # What the catalogue publishes about handling the item; a transaction may override the first
    # three (ServiceTransaction.item_kind, case_kind, promised_days).
    item_kind = Varchar(length=2, default=ItemKind.unknown, choices=ItemKind)
    case_kind = Varchar(length=10, default=CaseKind.promised, choices=CaseKind)
    promised_days = Integer(default=0)  # 承诺时限, in promised_unit
    promised_unit = Varchar(length=12, default=TimeUnit.working_day, choices=TimeUnit)
    legal_days = Integer(default=0)  # 法定时限, in legal_unit
    legal_unit = Varchar(length=12, default=TimeUnit.working_day, choices=TimeUnit)


class Window(Table):
    id: Serial
    window_no = Varchar(length=32, unique=True)
    name = Varchar(length=100)
    hall = Varchar(length=100, default="")
    department = ForeignKey(Department, null=True, on_delete=OnDelete.restrict)
    # What the idle evaluator screen shows: the window's service promise (服务承诺) and the number
    # a citizen calls to complain.
    service_promise = Text(default="")
    complaint_phone = Varchar(length=20, default="12345")

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s %s", columns=[cls.window_no, cls.name])


class Staff(Table):
    id: Serial
    staff_no = Varchar(length=32, unique=True)
    name = Varchar(length=50)
    department = ForeignKey(Department, null=False, on_delete=OnDelete.restrict)
    window = ForeignKey(Window, null=True, on_delete=OnDelete.restrict)
    # Shown on the counter evaluator while this staff member serves: star level (0: none shown)
    # and a photo, stored outside the database under its SHA-256 (empty: no photo).
    star_level = SmallInt(default=0)
    photo_sha256 = Varchar(length=64, default="")
    # The staff member's own mobile number: only to flag ratings of their own service given from
    # it (reports' integrity flags); never shown in a report.
    phone = Varchar(length=20, default="")


class Device(Table):
    id: Serial
    device_id = Varchar(length=64, unique=True)
    kind = Varchar(length=10, choices=DeviceKind)
    name = Varchar(length=100, default="")
    window = ForeignKey(Window, null=True, on_delete=OnDelete.restrict)
    # SHA-256 of a 32-byte random key: fast to check on every rating; the key itself is not stored.
    key_hash = Varchar(length=64, unique=True)
    active = Boolean(default=True)
    voice_prompts = Boolean(default=False)  # speak "请您对我的服务做出评价" on this device


class DeviceHeartbeat(Table, tablename="device_heartbeat"):
    """The last heartbeat of each device (one row per device, overwritten): what the fleet view
    shows. Kept apart from Device, which every rating reads."""

    id: Serial
    device = ForeignKey(Device, null=False, unique=True, on_delete=OnDelete.cascade)
    seen_at = Timestamptz(default=TimestamptzNow())  # the server's clock
    device_time = Timestamptz(null=True, default=None)  # the device's clock when it sent
    clock_skew_ms = Integer(default=0)  # device_time - seen_at
    app_version = Varchar(length=32, default="")
    queue_length = Integer(default=0)  # ratings waiting in the page's offline queue


class IntegrationClient(Table, tablename="integration_client"):
    id: Serial
    name = Varchar(length=100, unique=True)
    token_hash = Varchar(length=64, unique=True)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class ServiceTransaction(Table, tablename="service_transaction"):
    id: Serial
    project_no = Varchar(length=64, unique=True)
    item = ForeignKey(ServiceItem, null=False, on_delete=OnDelete.restrict)
    department = ForeignKey(Department, null=False, on_delete=OnDelete.restrict)
    area_code = Varchar(length=12)
    applicant_type = SmallInt()
    applicant_name = Varchar(length=100, default="")
    applicant_cert_type = Varchar(length=8, default="")
    applicant_cert_no = Varchar(length=32, default="")
    applicant_phone = Varchar(length=20, default="")
    # Name plus certificate or phone known: a bad rating of this transaction is real-name.
    applicant_identified = Boolean(default=False)
    accepted_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    project_name = Varchar(length=200, default="")
    online = Boolean(default=False)  # the application came in online (else at a counter)
    # NULL: as the service item says (ServiceItem.item_kind, case_kind, promised_days).
    item_kind = Varchar(length=2, null=True, default=None, choices=ItemKind)
    case_kind = Varchar(length=10, null=True, default=None, choices=CaseKind)
    promised_days = Integer(null=True, default=None)
    # The agent (代办人) who handled the case for the applicant; empty when the applicant came.
    agent_name = Varchar(length=100, default="")
    agent_cert_type = Varchar(length=8, default="")
    agent_cert_no = Varchar(length=32, default="")
    client = ForeignKey(IntegrationClient, null=True, on_delete=OnDelete.restrict)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ServiceRecord(Table, tablename="service_record"):
    id: Serial
    service_transaction = ForeignKey(ServiceTransaction, null=False, on_delete=OnDelete.restrict)
    service_number = Integer()
    name = Varchar(length=100)
    occurred_at = Timestamptz()
    window_no = Varchar(length=32, default="")
    staff_no = Varchar(length=32, default="")
    # Computed once from the working-day calendar when the record is stored, so the hot rating path
    # compares one timestamp instead of consulting the calendar.
    rating_deadline = Timestamptz()
    deadline_estimated = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


class Indicator(Table):
    id: Serial
    version = Varchar(length=32)
    level = SmallInt()
    code = Varchar(length=32)  # the national code, what evalDetail carries
    text = Varchar(length=100)  # the national wording
    label = Varchar(length=100, default="")  # the county's own wording; empty: the national one
    active = Boolean(default=True)


class Evaluation(Table):
    id: Serial
    service_record = ForeignKey(ServiceRecord, null=False, on_delete=OnDelete.restrict)
    assess_number = SmallInt()
    channel = Varchar(length=8, choices=Channel)
    level = SmallInt()
    tags = Text(default="")  # comma-separated indicator codes, the form the province takes
    comment = Text(default="")
    real_name = Boolean(default=False)
    # Only ever true for a configured default rating (pf=7); no API path writes one.
    is_default = Boolean(default=False)
    device = ForeignKey(Device, null=True, on_delete=OnDelete.restrict)
    idempotency_key = Varchar(length=64, unique=True)
    indicator_version = Varchar(length=32, default="")
    client_time = Timestamptz(null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow())
    # The X-Request-ID of the request that stored it ("" for a rating no request made): with it a
    # rating is followed from the caller's logs to the worker's delivery line.
    request_id = Varchar(length=64, default="")


class Outbox(Table):
    id: Serial
    kind = Varchar(length=24, choices=OutboxKind)
    ref_id = Integer()
    state = Varchar(length=20, choices=OutboxState, default=OutboxState.pending)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    delivered_at = Timestamptz(null=True, default=None)


class DeviceSession(Table, tablename="device_session"):
    """The service record a window system last finished at a device: what its /device page shows.

    In the database, not in process memory, because web processes scale out (DESIGN.md §6).
    """

    id: Serial
    device = ForeignKey(Device, null=False, unique=True, on_delete=OnDelete.cascade)
    project_no = Varchar(length=64)
    service_number = Integer()
    announced_at = Timestamptz(default=TimestamptzNow())


class ScheduleRun(Table, tablename="schedule_run"):
    """A scheduled job sent for one period (unique job + period in the migration): the first
    scheduler to insert the row sends, every other one skips (root/schedule.py)."""

    id: Serial
    job = Varchar(length=40)
    period = Varchar(length=40)
    claimed_at = Timestamptz(default=TimestamptzNow())


class CatalogChange(Table, tablename="catalog_change"):
    """The append-only audit of catalog changes made in the browser (Piccolo Admin and the key and
    photo pages): who, when, which table and row, and the row before and after, as JSON. Written in
    the change's own transaction. Secrets never appear: hash columns are left out of both sides."""

    id: Serial
    at = Timestamptz(default=TimestamptzNow())
    username = Varchar(length=64)
    role = Varchar(length=12)
    table_name = Varchar(length=40)
    row_id = Integer(null=True, default=None)
    action = Varchar(length=20)  # insert, update, delete, issue_key, rotate_key, revoke_key, photo
    before = Text(default="")  # JSON object; empty for an insert
    after = Text(default="")  # JSON object; empty for a delete


TABLES: list[type[Table]] = [
    Department,
    ServiceItem,
    Window,
    Staff,
    Device,
    DeviceHeartbeat,
    IntegrationClient,
    ServiceTransaction,
    ServiceRecord,
    Indicator,
    Evaluation,
    Outbox,
    DeviceSession,
    ScheduleRun,
    CatalogChange,
]
