"""Monthly report metrics against a month built by hand, on SQLite and PostgreSQL.

The month is October 2026 on the county's clock (Asia/Shanghai). Every expected number below is
counted by hand from the data in `seed_month`; the comments there say which rows make which number.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from argon2 import PasswordHasher
from piccolo.table import Table

from evaluation_service.identity.service import create_user
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.tables import (
    Department,
    Evaluation,
    Indicator,
    Outbox,
    ServiceItem,
    ServiceRecord,
    ServiceTransaction,
)
from evaluation_service.kernel.workdays import WorkCalendar
from evaluation_service.root.app import create_app
from evaluation_service.root.bootstrap import registered_tables
from rectification.tables import Ticket
from reports.actors import generate_scheduled
from reports.frames import ReportFrames, ranking
from reports.model import ReportMonth, ReportOptions, wilson
from reports.render import plotly_asset_name, report_asset_name, self_contained
from reports.service import Reports, content_hash
from tests.conftest import BACKENDS, fresh_database, settings_for

ZONE = ZoneInfo("Asia/Shanghai")
OCTOBER = ReportMonth(2026, 10)
AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=ZONE)
APPLICANT = {"name": "王小明", "phone": "13912345678", "cert_no": "370124199001011234"}


def at(text: str) -> datetime:
    """A local (county clock) time, e.g. "2026-10-12 10:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


# --- the database of this module ------------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def report_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database of each backend for this module alone, so no other test's rows count."""
    var_dir = tmp_path_factory.mktemp(f"reports-{request.param}")
    with fresh_database(request.param, var_dir, "haochaping_reports") as url:
        yield url


@pytest.fixture(scope="module")
async def report_db(report_url: str) -> AsyncIterator[Database]:
    db = Database(report_url, pool_size=8)
    await db.start()
    with bound_to(db):
        await seed_month()
    try:
        yield db
    finally:
        await db.close()


class bound_to:
    """Bind every table to this module's engine, and give the other tests theirs back after."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.saved: list[tuple[type[Table], Any]] = []

    def __enter__(self) -> None:
        tables = registered_tables()
        self.saved = [(table, table._meta.db) for table in tables]
        self.db.bind(tables)

    def __exit__(self, *_: object) -> None:
        for table, engine in self.saved:
            table._meta.db = engine


@pytest.fixture
def db(report_db: Database) -> Iterator[Database]:
    with bound_to(report_db):
        yield report_db


def reports(db: Database, **options: Any) -> Reports:
    return Reports(db, ReportOptions(**options), WorkCalendar())


# --- the hand-built month ----------------------------------------------------------------------


@dataclass(frozen=True)
class R:
    """One rating: channel, level, real-name, tags, received (local), default, assess number."""

    channel: str
    level: int
    real: bool = False
    tags: str = ""
    received: str = ""
    default: bool = False
    assess: int = 1


async def _id(query: Any) -> int:
    rows = await query.returning(query.table.id)
    return int(rows[0]["id"])


async def seed_month() -> None:
    departments = {}
    for key, code, name in [
        ("D1", "11370124MB0000001A", "县行政审批服务局"),
        ("D2", "11370124MB0000002B", "县公安局"),
        ("D3", "11370124MB0000003C", "县人社局"),  # ratings, but no bad review
        ("D4", "11370124MB0000004D", "县医保局"),  # nothing at all this month
    ]:
        departments[key] = await _id(
            Department.insert(Department(code=code, name=name, area_code="370124000000"))
        )
    items = {}
    for key, department in [
        ("I1", "D1"),
        ("I2", "D1"),
        ("I3", "D2"),
        ("I4", "D3"),
        ("I5", "D3"),
        ("I6", "D4"),
    ]:
        items[key] = await _id(
            ServiceItem.insert(
                ServiceItem(
                    code=f"37012400000000000000000000000{key}",
                    name=f"事项{key}",
                    department=departments[department],
                )
            )
        )
    await Indicator.insert(
        Indicator(version="SIM-2020.1", level=2, code="101", text="服务态度差"),
        Indicator(version="SIM-2020.1", level=2, code="102", text="未一次性告知导致多次跑腿"),
        Indicator(version="SIM-2020.1", level=1, code="103", text="收取办事指南以外材料"),
        Indicator(version="SIM-2020.1", level=1, code="104", text="超承诺时限办结"),
    )

    evaluations: dict[str, int] = {}

    async def transaction(
        key: str,
        department: str,
        item: str,
        window: str,
        staff: str,
        records: list[tuple[str, list[R]]],
    ) -> None:
        """`records`: per service record, when it occurred (local) and its ratings."""
        txn = await _id(
            ServiceTransaction.insert(
                ServiceTransaction(
                    project_no=key,
                    item=items[item],
                    department=departments[department],
                    area_code="370124000000",
                    applicant_type=1,
                    applicant_name=APPLICANT["name"],
                    applicant_phone=APPLICANT["phone"],
                    applicant_cert_type="111",
                    applicant_cert_no=APPLICANT["cert_no"],
                    applicant_identified=True,
                )
            )
        )
        for number, (occurred, ratings) in enumerate(records, start=1):
            record = await _id(
                ServiceRecord.insert(
                    ServiceRecord(
                        service_transaction=txn,
                        service_number=number,
                        name="受理",
                        occurred_at=at(occurred),
                        window_no=window,
                        staff_no=staff,
                        rating_deadline=at(occurred),
                    )
                )
            )
            for rating in ratings:
                evaluations[f"{key}.{number}.{rating.assess}"] = await _id(
                    Evaluation.insert(
                        Evaluation(
                            service_record=record,
                            assess_number=rating.assess,
                            channel=rating.channel,
                            level=rating.level,
                            tags=rating.tags,
                            comment="",
                            real_name=rating.real,
                            is_default=rating.default,
                            idempotency_key=uuid.uuid4().hex,
                            received_at=at(rating.received or occurred),
                        )
                    )
                )

    day = "2026-10-12 10:00"
    # D1, item I1: ten rated single-record transactions and two unrated ones.
    # Staff S001 at window W01: T101 T102 T103 T107 T108 T111; S002 at W01: the others.
    for key, staff, rating in [
        ("T101", "S001", R("mobile", 5)),
        ("T102", "S001", R("window", 5)),
        ("T103", "S001", R("window", 5)),
        ("T104", "S002", R("kiosk", 5)),
        ("T105", "S002", R("pc", 5)),
        ("T106", "S002", R("mobile", 4)),
        ("T107", "S001", R("window", 4)),
        ("T108", "S001", R("window", 3)),
        ("T109", "S002", R("mobile", 2, real=True, tags="101")),
        ("T110", "S002", R("window", 1, real=True, tags="103,104")),
    ]:
        await transaction(key, "D1", "I1", "W01", staff, [(day, [rating])])
    await transaction("T111", "D1", "I1", "W01", "S001", [(day, [])])
    await transaction("T112", "D1", "I1", "W01", "S002", [(day, [])])
    # A record of September rated in October: the rating counts in October, the record does not.
    await transaction(
        "T100",
        "D1",
        "I1",
        "W01",
        "S001",
        [("2026-09-29 10:00", [R("mobile", 3, received="2026-10-08 09:00")])],
    )
    # D1, item I2: two records per transaction.
    await transaction(
        "T121", "D1", "I2", "W01", "S001", [(day, [R("window", 5)]), (day, [R("window", 5)])]
    )
    await transaction("T122", "D1", "I2", "W01", "S002", [(day, [R("qr", 4)]), (day, [])])
    await transaction(
        "T123", "D1", "I2", "W01", "S002", [(day, [R("mobile", 4)]), (day, [R("kiosk", 3)])]
    )
    # An anonymous bad review: counted, tagged, but no ticket.
    await transaction(
        "T124", "D1", "I2", "W01", "S002", [(day, [R("mobile", 2, tags="102")]), (day, [])]
    )
    # A real-name bad review with a follow-up rating (追加评价): both are ratings of October.
    await transaction(
        "T125",
        "D1",
        "I2",
        "W01",
        "S002",
        [
            (
                day,
                [
                    R("pc", 1, real=True, tags="103"),
                    R("mobile", 4, assess=2, received="2026-10-14 10:00"),
                ],
            ),
            (day, []),
        ],
    )
    # Default ratings (pf=7): never counted; the records count as not rated.
    await transaction(
        "T126",
        "D1",
        "I2",
        "W01",
        "S002",
        [(day, [R("window", 5, default=True)]), (day, [R("window", 5, default=True)])],
    )

    # D2, item I3, window W02, staff S003.
    for key, rating in [
        ("T201", R("window", 5)),
        ("T202", R("window", 5)),
        ("T203", R("mobile", 5)),
        ("T204", R("mobile", 4)),
        ("T205", R("kiosk", 4)),
        ("T206", R("pc", 3)),
        ("T207", R("mobile", 2, real=True, tags="101")),
        ("T208", R("window", 2, real=True, tags="102")),
        ("T209", R("window", 1, real=True, tags="104")),
        ("T210", R("mobile", 1, real=True, tags="103,101")),
    ]:
        await transaction(key, "D2", "I3", "W02", "S003", [(day, [rating])])
    # Occurred on 31 October, rated on 1 November: a November rating of an October record.
    await transaction(
        "T211",
        "D2",
        "I3",
        "W02",
        "S003",
        [("2026-10-31 23:00", [R("mobile", 5, received="2026-11-01 00:30")])],
    )
    # Wholly September (one half hour before October began), with its own ticket.
    await transaction(
        "T212",
        "D2",
        "I3",
        "W02",
        "S003",
        [
            (
                "2026-09-30 22:00",
                [R("mobile", 1, real=True, tags="104", received="2026-09-30 23:30")],
            )
        ],
    )
    # The first instant of October belongs to October.
    await transaction("T213", "D2", "I3", "W02", "S003", [("2026-10-01 00:00", [R("pc", 5)])])

    # D3, item I4, window W03, staff S004: no bad review. T307 has no window or staff recorded.
    for key, rating in [
        ("T301", R("window", 5)),
        ("T302", R("window", 5)),
        ("T303", R("kiosk", 5)),
        ("T304", R("mobile", 5)),
        ("T305", R("mobile", 4)),
        ("T306", R("pc", 3)),
    ]:
        await transaction(key, "D3", "I4", "W03", "S004", [(day, [rating])])
    await transaction("T307", "D3", "I4", "", "", [(day, [])])
    await transaction("T308", "D3", "I4", "W03", "S004", [(day, [])])
    # The trend: first month of the window (November 2025) and the month just before it.
    await transaction("T900", "D3", "I4", "W03", "S004", [("2025-11-15 10:00", [R("window", 5)])])
    await transaction("T901", "D3", "I4", "W03", "S004", [("2025-10-31 10:00", [R("window", 5)])])

    async def ticket(
        evaluation_key: str,
        department: str,
        item: str,
        window: str,
        staff: str,
        state: str,
        opened: str,
        **fields: Any,
    ) -> None:
        evaluation = evaluations[evaluation_key]
        row = (
            await Evaluation.select(
                Evaluation.service_record,
                Evaluation.service_record.service_transaction.as_alias("txn"),
            )
            .where(Evaluation.id == evaluation)
            .first()
        )
        assert row is not None
        values = {
            key: (at(value) if key.endswith("_at") and isinstance(value, str) else value)
            for key, value in fields.items()
        }
        await Ticket.insert(
            Ticket(
                evaluation=evaluation,
                service_record=row["service_record"],
                service_transaction=row["txn"],
                department=departments[department],
                item=items[item],
                level=1,
                window_no=window,
                staff_no=staff,
                state=state,
                opened_at=at(opened),
                **values,
            )
        )

    # K1: closed in 4 working days (13–16 Oct), on time; the citizen was called back.
    await ticket(
        "T109.1.1",
        "D1",
        "I1",
        "W01",
        "S002",
        "closed",
        "2026-10-12 10:00",
        closed_at="2026-10-16 15:00",
        feedback_contact_method="phone",
        feedback_satisfaction="satisfied",
        result="rectified",
    )
    # K2: closed in 18 working days (14 Oct – 6 Nov) > 14 allowed: late; redone once (重办).
    await ticket(
        "T110.1.1",
        "D1",
        "I1",
        "W01",
        "S002",
        "closed",
        "2026-10-13 09:00",
        closed_at="2026-11-06 16:00",
        feedback_contact_method="sms",
        feedback_satisfaction="satisfied",
        redo_count=1,
        result="rectified",
    )
    # K3: the appeal was upheld (恶意差评): closed_invalid, excluded from every ticket rate.
    await ticket(
        "T125.1.1",
        "D1",
        "I2",
        "W01",
        "S002",
        "closed_invalid",
        "2026-10-20 09:00",
        closed_invalid_at="2026-10-22 09:00",
        appeal_kind="malicious",
        result="invalid",
    )
    # K4: extended (cap 15 → 24 allowed), closed in 16 working days: on time.
    await ticket(
        "T207.1.1",
        "D2",
        "I3",
        "W02",
        "S003",
        "closed",
        "2026-10-19 10:00",
        closed_at="2026-11-10 11:00",
        feedback_contact_method="phone",
        feedback_satisfaction="satisfied",
        extension_used=True,
        result="rectified",
    )
    # K5: still rectifying, due 5 Nov: overdue at AS_OF.
    await ticket(
        "T208.1.1",
        "D2",
        "I3",
        "W02",
        "S003",
        "rectifying",
        "2026-10-21 10:00",
        due_at="2026-11-05 23:59",
    )
    # K6: in supervision after a call-back, redone twice, due after AS_OF: not overdue.
    await ticket(
        "T209.1.1",
        "D2",
        "I3",
        "W02",
        "S003",
        "supervision",
        "2026-10-22 10:00",
        due_at="2026-11-25 23:59",
        feedback_contact_method="sms",
        feedback_satisfaction="satisfied",
        redo_count=2,
    )
    # K7: never accepted, due 30 Oct: overdue.
    await ticket(
        "T210.1.1",
        "D2",
        "I3",
        "W02",
        "S003",
        "opened",
        "2026-10-23 10:00",
        due_at="2026-10-30 23:59",
        alert="red",
    )
    # K0: opened 30 September 23:30 local: September's.
    await ticket(
        "T212.1.1",
        "D2",
        "I3",
        "W02",
        "S003",
        "closed",
        "2026-09-30 23:30",
        closed_at="2026-10-09 10:00",
        feedback_contact_method="phone",
        feedback_satisfaction="satisfied",
    )

    # June 2025 (outside October's trend): the rates of issue 10, counted by hand in
    # test_june_feedback_and_rectification_rates_follow_the_written_definitions.
    june = "2025-06-10 10:00"
    for key, ratings in [
        ("T501", [R("mobile", 1, real=True, tags="101")]),  # J1: closed, citizen satisfied
        ("T502", [R("mobile", 1, real=True, tags="101")]),  # J2: appeal upheld (无效差评)
        ("T503", [R("mobile", 2, real=True, tags="101")]),  # J3: unreachable, 复核 close
        (
            "T504",  # J4: closed, then reopened by a bad follow-up; verifying again
            [
                R("mobile", 1, real=True, tags="101"),
                R("mobile", 1, real=True, tags="101", assess=2),
            ],
        ),
        ("T505", [R("mobile", 2, real=True, tags="102")]),  # J5: still rectifying
        ("T506", [R("window", 5)]),
        ("T507", [R("window", 4)]),
    ]:
        await transaction(key, "D1", "I1", "W01", "S002", [(june, ratings)])
    opened = "2025-06-10 11:00"
    await ticket(
        "T501.1.1",
        "D1",
        "I1",
        "W01",
        "S002",
        "closed",
        opened,
        closed_at="2025-06-13 10:00",
        feedback_contact_method="phone",
        feedback_satisfaction="satisfied",
        result="rectified",
    )
    await ticket(
        "T502.1.1",
        "D1",
        "I1",
        "W01",
        "S002",
        "closed_invalid",
        opened,
        closed_invalid_at="2025-06-12 10:00",
        appeal_kind="mistaken",
        result="invalid",
    )
    await ticket(
        "T503.1.1",
        "D1",
        "I1",
        "W01",
        "S002",
        "closed",
        opened,
        closed_at="2025-06-20 10:00",
        feedback_contact_method="phone",
        feedback_satisfaction="unreachable",
        result="rectified",
    )
    await ticket(
        "T504.1.1",
        "D1",
        "I1",
        "W01",
        "S002",
        "verifying",
        opened,
        due_at="2025-06-30 23:59",
        reopen_count=1,
    )
    await ticket(
        "T505.1.1", "D1", "I1", "W01", "S002", "rectifying", opened, due_at="2025-06-30 23:59"
    )

    # Forwarding: created in October, delivered after 2 s, 30 s, 120 s (evaluations) and 5 s
    # (a service record); one pending since 31 Oct 12:00; one failed; one from September.
    def outbox(kind: str, state: str, created: str, lag: float | None = None) -> Outbox:
        created_at = at(created)
        delivered = None
        if lag is not None:
            delivered = datetime.fromtimestamp(created_at.timestamp() + lag, UTC)
        return Outbox(
            kind=kind,
            ref_id=1,
            state=state,
            created_at=created_at,
            next_attempt_at=created_at,
            delivered_at=delivered,
        )

    await Outbox.insert(
        outbox("evaluation", "delivered", "2026-10-12 10:00", 2),
        outbox("evaluation", "delivered", "2026-10-12 11:00", 30),
        outbox("evaluation", "delivered", "2026-10-12 12:00", 120),
        outbox("service_record", "delivered", "2026-10-12 09:00", 5),
        outbox("evaluation", "pending", "2026-10-31 12:00"),
        outbox("evaluation", "failed", "2026-10-15 12:00"),
        outbox("evaluation", "delivered", "2026-09-30 12:00", 1),
    )


# --- helpers ------------------------------------------------------------------------------------


async def october(db: Database, **options: Any) -> ReportFrames:
    return await reports(db, **options).compute(OCTOBER, AS_OF)


@pytest.fixture(scope="module")
async def frames(report_db: Database) -> ReportFrames:
    """October as computed with the default settings; most tests only read it."""
    with bound_to(report_db):
        return await october(report_db)


@pytest.fixture(scope="module")
async def generated(report_db: Database) -> tuple[str, dict[str, Any]]:
    """One archived version of October: its page and its metrics as the API would answer."""
    with bound_to(report_db):
        service = reports(report_db)
        info = await service.generate(OCTOBER, AS_OF)
        html, _, _ = await service.page(OCTOBER, info.version)
        return html, await service.metrics(OCTOBER, info.version)


def row(frame: Any, column: str, value: Any) -> dict[str, Any]:
    matches = frame[frame[column] == value]
    assert len(matches) == 1, f"{column}={value!r}: {len(matches)} rows"
    found: dict[str, Any] = matches.iloc[0].to_dict()
    return found


def county(frames: ReportFrames) -> dict[str, Any]:
    found: dict[str, Any] = frames.county.iloc[0].to_dict()
    return found


def none(value: Any) -> bool:
    return value is None or value != value  # NaN


# --- ratings ------------------------------------------------------------------------------------


async def test_county_counts_first_ratings_and_keeps_follow_ups_apart(
    frames: ReportFrames,
) -> None:
    c = county(frames)

    # D1 18 + D2 11 + D3 6; not T125's follow-up, the two default ratings, September's,
    # November's, 2025's.
    assert c["ratings"] == 35
    assert c["follow_ups"] == 1
    assert [c[f"level_{n}"] for n in (5, 4, 3, 2, 1)] == [15, 7, 5, 4, 4]
    assert c["good"] == 27
    assert c["bad"] == 8
    assert c["real_name_bad"] == 7


async def test_an_upheld_appeal_leaves_the_bad_rate(frames: ReportFrames) -> None:
    c = county(frames)

    # T125's bad review (K3, closed_invalid) is neither a rating nor a bad review of the rates.
    assert (c["invalid_bad"], c["valid_ratings"], c["valid_bad"]) == (1, 34, 7)
    assert c["good_rate"] == pytest.approx(27 / 34)
    assert c["bad_rate"] == pytest.approx(7 / 34)


async def test_basic_satisfied_is_not_good_when_the_setting_says_so(db: Database) -> None:
    c = county(await october(db, basic_satisfied_counts_as_good=False))

    assert c["good"] == 22
    assert c["good_rate"] == pytest.approx(22 / 34)
    assert c["bad_rate"] == pytest.approx(7 / 34)


async def test_departments_are_ranked_worst_first_with_enough_volume_only(
    frames: ReportFrames,
) -> None:
    departments = frames.breakdowns["department"]
    ranked, apart = ranking(departments)

    # D2 4 of 11 valid; D1 3 of 17 (18 ratings less the upheld appeal); D3 (6) and D4 (0) < 10.
    assert ranked["name"].tolist() == ["县公安局", "县行政审批服务局"]
    assert ranked["rank"].tolist() == [1, 2]
    assert apart["name"].tolist() == ["县人社局", "县医保局"]
    d2, d1 = ranked.iloc[0], ranked.iloc[1]
    assert d2["bad_rate"] == pytest.approx(4 / 11)
    assert d1["bad_rate"] == pytest.approx(3 / 17)
    assert (d2["bad_rate_low"], d2["bad_rate_high"]) == pytest.approx(wilson(4, 11))
    assert d2["bad_rate_low"] < d2["bad_rate"] < d2["bad_rate_high"]
    # September: D2 had T212's one bad review (100 %); D1 had no rating in September.
    assert d2["previous_bad_rate"] == 1.0
    assert d2["bad_rate_change"] == pytest.approx(4 / 11 - 1)
    assert none(d1["bad_rate_change"])
    assert (d2["rectification_rate"], d2["on_time_rate"], d2["overdue"]) == (0.25, 1.0, 2)


async def test_the_summary_names_the_worst_departments_and_the_overdue_tickets(
    frames: ReportFrames,
) -> None:
    text = frames.summary

    assert text.index("县公安局（36.4%") < text.index("县行政审批服务局（17.6%")
    assert "较上月-63.6个百分点" in text
    assert "逾期未整改 2 件" in text
    assert "无效差评 1 条不计入差评率" in text
    assert "2 个部门有效评价不足 10 条" in text


async def test_active_rating_rate_counts_rated_records_of_the_month_without_default_ratings(
    frames: ReportFrames,
) -> None:
    c = county(frames)

    assert (c["records"], c["rated_records"]) == (44, 35)
    assert c["active_rate"] == pytest.approx(35 / 44)
    assert (c["transactions"], c["rated_transactions"]) == (38, 33)
    d1 = row(frames.breakdowns["department"], "code", "11370124MB0000001A")
    assert (d1["records"], d1["rated_records"]) == (
        24,
        17,
    )  # T126's default-rated records: not rated
    d2 = row(frames.breakdowns["department"], "code", "11370124MB0000002B")
    # T211 (rated on 1 November) counts as rated; T212 (September) is not October's.
    assert (d2["records"], d2["rated_records"], d2["active_rate"]) == (12, 12, 1.0)


async def test_item_coverage_is_rated_items_over_the_catalog(
    frames: ReportFrames,
) -> None:

    assert (county(frames)["rated_items"], county(frames)["items"]) == (4, 6)
    assert county(frames)["item_coverage"] == pytest.approx(4 / 6)
    departments = frames.breakdowns["department"]
    assert row(departments, "name", "县人社局")["item_coverage"] == pytest.approx(0.5)
    assert row(departments, "name", "县医保局")["item_coverage"] == 0.0
    items = frames.breakdowns["item"]
    assert row(items, "name", "事项I1")["ratings"] == 11  # ten of October's records + T100
    assert row(items, "name", "事项I2")["ratings"] == 7  # and T125's follow-up apart
    assert row(items, "name", "事项I2")["follow_ups"] == 1
    assert row(items, "name", "事项I5")["ratings"] == 0


async def test_breakdown_by_channel(
    frames: ReportFrames,
) -> None:
    channels = frames.breakdowns["channel"]

    expected = {  # channel: ratings, level 5…1, real-name bad, tickets
        "pc": (5, [2, 0, 2, 0, 1], 1, 1),
        "mobile": (12, [3, 4, 1, 3, 1], 3, 3),  # not T125's follow-up
        "qr": (1, [0, 1, 0, 0, 0], 0, 0),
        "window": (13, [8, 1, 1, 1, 2], 3, 3),
        "kiosk": (4, [2, 1, 1, 0, 0], 0, 0),
    }
    for channel, (ratings, levels, real_name_bad, tickets) in expected.items():
        r = row(channels, "channel", channel)
        assert r["ratings"] == ratings, channel
        assert [r[f"level_{n}"] for n in (5, 4, 3, 2, 1)] == levels, channel
        assert r["real_name_bad"] == real_name_bad, channel
        assert r["tickets"] == tickets, channel
    assert row(channels, "channel", "window")["good_rate"] == pytest.approx(10 / 13)


async def test_breakdown_by_window_and_staff_number(
    frames: ReportFrames,
) -> None:
    windows, staff = frames.breakdowns["window"], frames.breakdowns["staff"]

    w01 = row(windows, "window_no", "W01")
    assert (w01["ratings"], w01["records"], w01["rated_records"], w01["tickets"]) == (18, 24, 17, 3)
    s001 = row(staff, "staff_no", "S001")
    assert (s001["ratings"], s001["bad"], s001["records"], s001["rated_records"]) == (8, 0, 8, 7)
    s002 = row(staff, "staff_no", "S002")
    assert (s002["ratings"], s002["bad"], s002["records"], s002["rated_records"]) == (10, 4, 16, 10)
    assert s002["follow_ups"] == 1
    assert (s002["tickets"], s002["invalid"], s002["closed"]) == (3, 1, 2)
    unregistered = row(windows, "window_no", "")
    assert (unregistered["name"], unregistered["records"], unregistered["ratings"]) == (
        "（未登记）",
        1,
        0,
    )


async def test_top_bad_review_tags_split_combined_codes(
    frames: ReportFrames,
) -> None:
    tags = frames.tags

    assert tags[["code", "ratings"]].to_dict("records") == [
        {"code": "101", "ratings": 3},
        {"code": "103", "ratings": 3},
        {"code": "102", "ratings": 2},
        {"code": "104", "ratings": 2},  # not September's 104
    ]
    assert tags["text"].tolist()[0] == "服务态度差"
    assert tags["share"].tolist()[0] == pytest.approx(3 / 8)


# --- tickets ------------------------------------------------------------------------------------


async def test_county_ticket_metrics_exclude_the_upheld_appeal(frames: ReportFrames) -> None:
    c = county(frames)

    assert (c["tickets"], c["invalid"], c["valid"]) == (7, 1, 6)
    assert c["closed"] == 3
    assert c["rectification_rate"] == pytest.approx(3 / 6)
    assert c["feedback_done"] == 4
    assert c["feedback_rate"] == pytest.approx(4 / 6)
    assert c["closed_on_time"] == 2
    assert c["on_time_rate"] == pytest.approx(2 / 3)
    assert c["median_days"] == 16  # of 4, 16, 18
    assert c["p90_days"] == 18
    assert c["overdue"] == 2
    assert c["reopened"] == 2


async def test_department_with_an_upheld_appeal_is_fully_rectified(
    frames: ReportFrames,
) -> None:
    d1 = row(frames.breakdowns["department"], "code", "11370124MB0000001A")

    assert (d1["ratings"], d1["bad"], d1["real_name_bad"]) == (18, 4, 3)
    assert (d1["tickets"], d1["invalid"], d1["valid"], d1["closed"]) == (3, 1, 2, 2)
    assert d1["rectification_rate"] == 1.0
    assert d1["feedback_rate"] == 1.0
    assert d1["on_time_rate"] == 0.5
    assert (d1["median_days"], d1["p90_days"]) == (11, 18)
    assert (d1["overdue"], d1["reopened"]) == (0, 1)


async def test_department_with_open_and_overdue_tickets(
    frames: ReportFrames,
) -> None:
    d2 = row(frames.breakdowns["department"], "code", "11370124MB0000002B")

    assert (d2["tickets"], d2["valid"], d2["closed"], d2["feedback_done"]) == (4, 4, 1, 2)
    assert d2["rectification_rate"] == 0.25
    assert d2["feedback_rate"] == 0.5
    assert d2["on_time_rate"] == 1.0
    assert (d2["median_days"], d2["p90_days"]) == (16, 16)
    assert (d2["overdue"], d2["reopened"]) == (2, 1)


async def test_department_with_no_bad_reviews_has_zero_bad_rate_and_no_ticket_rates(
    frames: ReportFrames,
) -> None:
    d3 = row(frames.breakdowns["department"], "code", "11370124MB0000003C")

    assert (d3["ratings"], d3["good"], d3["bad"]) == (6, 6, 0)
    assert (d3["good_rate"], d3["bad_rate"]) == (1.0, 0.0)
    assert d3["tickets"] == 0
    assert all(
        none(d3[k])
        for k in ("feedback_rate", "rectification_rate", "on_time_rate", "median_days", "p90_days")
    )


# --- forwarding and trend -----------------------------------------------------------------------


async def test_forwarding_health_of_the_month(
    frames: ReportFrames,
) -> None:
    summary = frames.forwarding_summary

    assert (summary["messages"], summary["delivered"], summary["pending"], summary["failed"]) == (
        6,
        4,
        1,
        1,
    )
    assert summary["lag_mean_s"] == pytest.approx((2 + 30 + 120 + 5) / 4, abs=0.01)
    assert summary["lag_max_s"] == pytest.approx(120, abs=0.01)
    assert summary["delivered_within_60s"] == 0.75
    assert summary["oldest_pending_hours"] == pytest.approx(20 * 24 - 2)
    evaluations = row(frames.forwarding, "kind", "evaluation")
    assert (evaluations["delivered"], evaluations["pending"], evaluations["failed"]) == (3, 1, 1)


async def test_trend_covers_twelve_months_ending_with_the_report_month(
    frames: ReportFrames,
) -> None:
    trend = frames.trend

    assert trend["month"].tolist()[0] == "2025-11"
    assert trend["month"].tolist()[-1] == "2026-10"
    first = row(trend, "month", "2025-11")
    assert (first["ratings"], first["good_rate"]) == (1, 1.0)  # T900; not T901 of October 2025
    september = row(trend, "month", "2026-09")
    assert (september["ratings"], september["bad_rate"]) == (1, 1.0)
    assert (september["records"], september["rated_records"]) == (2, 2)  # T100 and T212
    assert (september["tickets"], september["rectification_rate"]) == (1, 1.0)
    last = row(trend, "month", "2026-10")
    assert (last["ratings"], last["good_rate"], last["rectification_rate"]) == (35, 27 / 34, 0.5)
    assert none(row(trend, "month", "2026-03")["good_rate"])


async def test_a_month_with_no_ratings_has_zero_counts_and_no_rates(db: Database) -> None:
    frames = await reports(db).compute(ReportMonth(2026, 6), AS_OF)
    c = county(frames)

    assert (c["ratings"], c["records"], c["tickets"], c["items"]) == (0, 0, 0, 6)
    assert all(
        none(c[k])
        for k in (
            "good_rate",
            "bad_rate",
            "active_rate",
            "feedback_rate",
            "rectification_rate",
            "on_time_rate",
            "median_days",
        )
    )
    assert c["item_coverage"] == 0.0
    assert frames.tags.empty
    assert frames.forwarding_summary["messages"] == 0


# --- archive and personal data ------------------------------------------------------------------


async def test_regenerating_a_month_adds_a_version_and_keeps_the_first_unchanged(
    db: Database,
) -> None:
    service = reports(db)
    month = ReportMonth(2026, 10)
    first = await service.generate(month, AS_OF)
    first_html, _, first_hash = await service.page(month, first.version)

    second = await service.generate(month, AS_OF)

    assert second.version == first.version + 1
    html, version, digest = await service.page(month, first.version)
    assert (html, version, digest) == (first_html, first.version, first_hash)
    metrics = await service.metrics(month, first.version)
    stored = {k: v for k, v in metrics.items() if k != "content_hash"}
    from reports.service import dump_metrics

    assert content_hash(dump_metrics(stored), html) == first_hash
    assert hashlib.sha256(html.encode()).hexdigest() != first_hash  # the hash covers both parts
    latest_html, latest_version, _ = await service.page(month)
    assert latest_version == second.version
    assert f"?version={first.version}" in latest_html
    listed = [(v.month, v.version) for v in await service.list_versions()]
    assert ("2026-10", first.version) in listed and ("2026-10", second.version) in listed


async def test_the_scheduled_run_archives_a_month_once(db: Database) -> None:
    service = reports(db)

    first = await generate_scheduled(service, "2026-05", AS_OF)
    again = await generate_scheduled(service, "2026-05", AS_OF)

    assert first == 1
    assert again is None
    assert [v.version for v in await service.list_versions() if v.month == "2026-05"] == [1]


async def test_metrics_json_and_page_carry_no_personal_data(
    generated: tuple[str, dict[str, Any]],
) -> None:
    html, data = generated
    metrics = json.dumps(data, ensure_ascii=False)

    for value in APPLICANT.values():
        assert value not in html
        assert value not in metrics
    assert "S002" in metrics  # staff numbers are allowed by default


async def test_staff_numbers_are_left_out_when_the_setting_forbids_them(db: Database) -> None:
    service = reports(db, show_staff_numbers=False)
    info = await service.generate(OCTOBER, AS_OF)
    html, _, _ = await service.page(OCTOBER, info.version)
    metrics = await service.metrics(OCTOBER, info.version)

    assert "staff" not in metrics["breakdowns"]
    assert "S001" not in html and "S002" not in html
    assert "W01" in html


async def test_the_archive_names_plotly_once_and_the_download_is_self_contained(
    generated: tuple[str, dict[str, Any]],
) -> None:
    html, _ = generated
    download = self_contained(html)

    # The archived page stores no copy of plotly.js: two versioned scripts, nothing else fetched.
    assert re.findall(r'<script src="([^"]+)"', html) == [
        f"/reports/assets/{plotly_asset_name()}",
        f"/reports/assets/{report_asset_name()}",
    ]
    assert len(html) < 300_000
    assert re.search(r"<(link|img)\b[^>]*\b(src|href)=", html) is None
    # The download opens offline: nothing is fetched, plotly.js is inline.
    assert re.search(r"<(script|link|img)\b[^>]*\b(src|href)=", download) is None
    assert len(download) > len(html) + 1_000_000  # plotly.js, whole
    for key in (
        "chart-level-mix",
        "chart-trend",
        "chart-department-bad",
        "chart-tags",
        "chart-overdue",
        "chart-forwarding",
    ):
        assert f'id="{key}"' in download
        assert f'data-chart="{key}"' in download
    assert "@media print" in download
    assert "各渠道评价等级构成" in download
    assert html.index('id="summary"') < html.index('id="ranking"') < html.index('id="headline"')


# --- over HTTP: supervisors and deputies only ---------------------------------------------------

PASSWORD = "report-test-password"
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="module")
async def http(
    report_url: str, report_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The whole app on this module's database, with one user per role and October archived."""
    with bound_to(report_db):  # create_app binds every table; give them back afterwards
        app = create_app(settings_for(report_url, tmp_path_factory.mktemp("reports-app")))
    app_db: Database = app.state.services.db
    await app_db.start()
    try:
        with bound_to(app_db):
            for role in ("supervisor", "deputy", "liaison", "admin"):
                department = "11370124MB0000001A" if role == "liaison" else None
                await create_user(f"report-{role}", role, role, PASSWORD, department, CHEAP_HASHER)
            await app.state.services.reports.generate(OCTOBER, AS_OF)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, app_db
    finally:
        await app_db.close()


@pytest.fixture
def client(http: tuple[httpx.AsyncClient, Database]) -> Iterator[httpx.AsyncClient]:
    api, app_db = http
    api.cookies.clear()
    with bound_to(app_db):
        yield api


async def logged_in(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login", json={"username": f"report-{role}", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    # The shared client must not carry one test's session into another: sessions travel explicitly.
    client.cookies.clear()
    return {"Cookie": f"hcp_session={response.cookies['hcp_session']}"}


@pytest.mark.parametrize("role", ["supervisor", "deputy"])
async def test_supervisors_and_deputies_read_the_list_the_metrics_and_the_page(
    client: httpx.AsyncClient, role: str
) -> None:
    headers = await logged_in(client, role)

    listed = await client.get("/api/v1/reports", headers=headers)
    metrics = await client.get("/api/v1/reports/2026-10", headers=headers)
    page = await client.get("/reports/2026-10", headers=headers)

    assert listed.status_code == 200
    assert any(v["month"] == "2026-10" for v in listed.json())
    assert metrics.status_code == 200
    assert metrics.json()["county"]["ratings"] == 35
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-sha256"] == metrics.json()["content_hash"]
    assert 'id="chart-level-mix"' in page.text


@pytest.mark.parametrize("role", ["liaison", "admin"])
async def test_other_roles_are_refused(client: httpx.AsyncClient, role: str) -> None:
    headers = await logged_in(client, role)

    for path in ("/api/v1/reports", "/api/v1/reports/2026-10", "/reports/2026-10/archived"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 403, path
        assert response.json()["error"] == "reports_forbidden"
    page = await client.get("/reports/2026-10", headers=headers)  # a staff page: refused in HTML
    assert page.status_code == 403
    assert "月度报告仅向监督员" in page.text


async def test_reports_need_a_session(client: httpx.AsyncClient) -> None:
    response = await client.get("/reports/2026-10/archived")
    page = await client.get("/reports/2026-10")

    assert response.status_code == 401
    assert page.status_code == 303  # a page of the site: to the login, and back after
    assert page.headers["location"].startswith("/login?next=%2Freports%2F2026-10")


async def test_an_unknown_month_or_version_is_404_and_a_malformed_month_422(
    client: httpx.AsyncClient,
) -> None:
    headers = await logged_in(client, "supervisor")

    assert (await client.get("/api/v1/reports/2025-01", headers=headers)).status_code == 404
    assert (
        await client.get("/api/v1/reports/2026-10?version=99", headers=headers)
    ).status_code == 404
    assert (await client.get("/reports/2026-1x", headers=headers)).status_code == 422


async def test_the_page_is_light_compressed_and_plotly_is_cached_for_good(
    client: httpx.AsyncClient,
) -> None:
    headers = {**(await logged_in(client, "deputy")), "Accept-Encoding": "gzip"}

    page = await client.get("/reports/2026-10", headers=headers)
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assets = [await client.get(src, headers={"Accept-Encoding": "gzip"}) for src in scripts]

    assert page.headers["content-encoding"] == "gzip"
    assert [a.status_code for a in assets] == [200, 200]
    for response in assets:
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert assets[0].headers["content-encoding"] == "gzip"  # plotly.js; the drawing script is tiny
    # What crosses the wire: the first view fetches the page and both scripts, the next the page.
    page_bytes = int(page.headers["content-length"])
    first_view = page_bytes + sum(int(a.headers["content-length"]) for a in assets)
    assert first_view <= 500_000
    assert page_bytes <= 150_000
    assert (await client.get("/reports/assets/plotly-0.0.0.min.js")).status_code == 404
    assert "/reports/assets/" in "".join(scripts)


async def test_the_download_is_the_archived_page_with_its_scripts_inline(
    client: httpx.AsyncClient,
) -> None:
    headers = await logged_in(client, "supervisor")

    page = await client.get("/reports/2026-10/archived", headers=headers)
    download = await client.get("/reports/2026-10/download", headers=headers)

    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-sha256"] == page.headers["x-content-sha256"]
    assert download.text == self_contained(page.text)
    assert "<script src=" not in download.text


@pytest.mark.parametrize("role", ["supervisor", "deputy"])
async def test_the_month_is_shown_in_the_staff_frame_and_the_archive_still_verifies(
    client: httpx.AsyncClient, role: str
) -> None:
    headers = await logged_in(client, role)

    framed = await client.get("/reports/2026-10", headers=headers)
    archived = await client.get("/reports/2026-10/archived", headers=headers)
    metrics = (await client.get("/api/v1/reports/2026-10", headers=headers)).json()
    stored = {k: v for k, v in metrics.items() if k != "content_hash"}
    from reports.service import dump_metrics

    # The frame: the site's header, who is logged in, logout; the report's own content inside.
    assert 'action="/logout"' in framed.text and 'class="staff-nav"' in framed.text
    assert '<div class="report-body">' in framed.text and 'id="chart-level-mix"' in framed.text
    assert framed.headers["x-content-sha256"] == archived.headers["x-content-sha256"]
    # The archived document is served byte for byte and its checksum is the stored one.
    assert content_hash(dump_metrics(stored), archived.text) == metrics["content_hash"]
    assert archived.text.startswith("<!DOCTYPE html>") and "staff-nav" not in archived.text
    assert ("/integrity" in framed.text) == (role == "supervisor")


async def test_a_deputy_lands_on_the_reports_in_the_staff_frame_with_no_forbidden_link(
    client: httpx.AsyncClient,
) -> None:
    headers = await logged_in(client, "deputy")

    page = await client.get("/reports", headers=headers)
    links = set(re.findall(r'href="(/[^"#]*)', page.text))
    answers = {link: (await client.get(link, headers=headers)).status_code for link in links}

    assert page.status_code == 200
    assert 'action="/logout"' in page.text  # the staff frame: who is logged in, and logout
    assert "2026-10" in page.text
    assert 'action="/reports/generate"' not in page.text
    assert {link: code for link, code in answers.items() if code >= 400} == {}


async def test_a_supervisor_generates_a_month_in_the_background_and_sees_it_done(
    client: httpx.AsyncClient,
) -> None:
    headers = await logged_in(client, "supervisor")
    page = await client.get("/reports", headers=headers)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    csrf = page.cookies.get("hcp_csrf") or client.cookies["hcp_csrf"]
    cookie = f"{headers['Cookie']}; hcp_csrf={csrf}"
    before = len((await client.get("/api/v1/reports", headers=headers)).json())

    posted = await client.post(
        "/reports/generate",
        headers={"Cookie": cookie},
        data={"month": "2026-09", "_csrf_token": token.group(1)},
    )
    for _ in range(100):
        listing = await client.get("/reports", headers=headers)
        if 'data-state="running"' not in listing.text:
            break
        await asyncio.sleep(0.05)

    assert posted.status_code == 303
    assert 'data-state="done"' in listing.text
    assert len((await client.get("/api/v1/reports", headers=headers)).json()) == before + 1
    deputy = await logged_in(client, "deputy")
    refused = await client.post(
        "/reports/generate",
        headers={"Cookie": f"{deputy['Cookie']}; hcp_csrf={token.group(1)}"},
        data={"month": "2026-09", "_csrf_token": token.group(1)},
    )
    assert refused.status_code == 403


async def test_every_table_downloads_as_excel_sheets_and_csv_with_chinese_headers(
    client: httpx.AsyncClient,
) -> None:
    headers = await logged_in(client, "supervisor")

    excel = await client.get("/reports/2026-10/tables.xlsx", headers=headers)
    csv = await client.get("/reports/2026-10/tables/department.csv", headers=headers)
    book = openpyxl.load_workbook(io.BytesIO(excel.content), read_only=True)

    assert excel.status_code == 200
    assert book.sheetnames == [
        "部门排名",
        "事项排名",
        "渠道",
        "窗口",
        "工号",
        "差评原因",
        "转送省平台",
        "近12个月趋势",
        "差评主题",
        "评价真实性核查",
    ]
    rows = list(book["部门排名"].iter_rows(values_only=True))
    header = list(rows[0])
    assert header[:3] == ["排名", "编码", "名称"]
    assert [r[2] for r in rows[1:3]] == ["县公安局", "县行政审批服务局"]
    assert rows[1][header.index("差评率（%）")] == pytest.approx(36.36)
    assert csv.content.startswith("\ufeff".encode())
    assert csv.content.decode("utf-8-sig").splitlines()[0].startswith("排名,编码,名称")
    assert (
        await client.get("/reports/2026-10/tables/nope.csv", headers=headers)
    ).status_code == 404


async def test_june_feedback_and_rectification_rates_follow_the_written_definitions(
    report_db: Database,
) -> None:
    """Issue 10: five tickets — one closed, one upheld appeal, one unreachable citizen closed by
    review, one reopened by a bad follow-up, one still open (kernel/rates.py, docs/domain.md)."""
    with bound_to(report_db):
        june = county(await reports(report_db).compute(ReportMonth(2025, 6), AS_OF))

    counts = {
        name: int(june[name])
        for name in (
            "ratings",
            "follow_ups",
            "invalid_bad",
            "tickets",
            "invalid",
            "valid",
            "feedback_done",
            "no_view",
            "closed",
            "reopened",
        )
    }
    assert counts == {
        "ratings": 7,  # first ratings only: the follow-up is not another rating
        "follow_ups": 1,
        "invalid_bad": 1,
        "tickets": 5,  # one per service record: the follow-up opened none
        "invalid": 1,
        "valid": 4,
        "feedback_done": 2,  # J1 satisfied, J3 unreachable after the attempts
        "no_view": 1,
        "closed": 2,  # J1, and J3 closed by the supervisor's review; J4 reopened is not
        "reopened": 1,
    }
    assert june["bad_rate"] == pytest.approx(4 / 6)  # the upheld appeal left the rate
    assert june["feedback_rate"] == pytest.approx(2 / 4)
    assert june["rectification_rate"] == pytest.approx(2 / 4)


async def test_metrics_time_each_generated_version(client: httpx.AsyncClient) -> None:
    # The module's app generated October once on start (through its observed Reports).
    text = (await client.get("/metrics")).text
    found = re.search(
        r'^haochaping_report_generation_seconds_count\{outcome="done"\} (\S+)$', text, re.MULTILINE
    )
    assert found is not None and float(found.group(1)) >= 1
