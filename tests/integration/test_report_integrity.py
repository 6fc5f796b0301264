"""Integrity flags and bad-review themes of a month built by hand, on SQLite and PostgreSQL.

October 2026 on the county's clock. Each flag has a case that raises it and one beside it that
must not; the comments say which rows are which. Thresholds are set small (`RULES`) so the month
stays readable.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
from argon2 import PasswordHasher

from evaluation_service.identity.service import create_user
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.tables import (
    Department,
    Device,
    Evaluation,
    ServiceItem,
    ServiceRecord,
    ServiceTransaction,
    Staff,
    Window,
)
from evaluation_service.kernel.workdays import WorkCalendar
from evaluation_service.root.app import create_app
from reports.frames import ReportFrames
from reports.model import FlagRules, ReportMonth, ReportOptions
from reports.service import Reports
from tests.conftest import BACKENDS, fresh_database, settings_for
from tests.integration.test_reports import bound_to

ZONE = ZoneInfo("Asia/Shanghai")
OCTOBER = ReportMonth(2026, 10)
AS_OF = datetime(2026, 11, 2, 10, 0, tzinfo=ZONE)
RULES = FlagRules(
    device_burst_count=4,
    device_burst_gap_seconds=60,
    phone_burst_count=3,
    phone_burst_gap_seconds=600,
    hall_hours=(8 * 60 + 30, 17 * 60 + 30),
    closed_hours_min_ratings=2,
    jump_points=25,
    jump_min_ratings=5,
    jump_history_months=3,
    run_length=6,
)
COMMENT_WITH_PHONE = "窗口人员态度不好，还玩手机，我的电话13912345678"
PHONES = (f"150{n:08d}" for n in itertools.count(1))  # a fresh applicant phone per rating


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


@pytest.fixture(scope="module", params=BACKENDS)
def integrity_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    var_dir = tmp_path_factory.mktemp(f"integrity-{request.param}")
    with fresh_database(request.param, var_dir, "haochaping_integrity") as url:
        yield url


class Month:
    """Builds the month: one transaction and one record per rating unless told otherwise."""

    def __init__(self) -> None:
        self.ids: dict[str, list[int]] = {}
        self.department = 0
        self.item = 0
        self.devices: dict[str, int] = {}

    async def catalog(self) -> None:
        self.department = await _id(
            Department.insert(
                Department(code="11370124MB0000001A", name="县行政审批服务局", area_code="1" * 12)
            )
        )
        self.item = await _id(
            ServiceItem.insert(
                ServiceItem(code="3" * 31, name="个体工商户设立登记", department=self.department)
            )
        )
        for window in ("A01", "B01", "C01", "E01", "F01"):
            window_id = await _id(
                Window.insert(Window(window_no=window, name=window, department=self.department))
            )
            self.devices[window] = await _id(
                Device.insert(
                    Device(
                        device_id=f"DEV-{window}",
                        kind="window",
                        name=f"{window}窗口评价器",
                        window=window_id,
                        key_hash=uuid.uuid4().hex,
                    )
                )
            )
        for staff_no, phone in (("S001", "13600000001"), ("S002", "13600000002"), ("S003", "")):
            await Staff.insert(
                Staff(staff_no=staff_no, name=staff_no, department=self.department, phone=phone)
            )

    async def rate(
        self,
        case: str,
        when: str,
        level: int = 5,
        channel: str = "mobile",
        window: str = "",
        device: str = "",
        staff: str = "S009",
        phone: str | None = None,
        comment: str = "",
        transaction: int | None = None,
    ) -> int:
        if transaction is None:
            transaction = await _id(
                ServiceTransaction.insert(
                    ServiceTransaction(
                        project_no=uuid.uuid4().hex,
                        item=self.item,
                        department=self.department,
                        area_code="1" * 12,
                        applicant_type=1,
                        applicant_name="申请人",
                        applicant_phone=next(PHONES) if phone is None else phone,
                        applicant_identified=True,
                    )
                )
            )
        record = await _id(
            ServiceRecord.insert(
                ServiceRecord(
                    service_transaction=transaction,
                    service_number=len(
                        await ServiceRecord.select().where(
                            ServiceRecord.service_transaction == transaction
                        )
                    )
                    + 1,
                    name="办结",
                    occurred_at=at(when),
                    window_no=window,
                    staff_no=staff,
                    rating_deadline=at(when),
                )
            )
        )
        rating = await _id(
            Evaluation.insert(
                Evaluation(
                    service_record=record,
                    assess_number=1,
                    channel=channel,
                    level=level,
                    tags="101" if level <= 2 else "",
                    comment=comment,
                    real_name=True,
                    device=self.devices[device] if device else None,
                    idempotency_key=uuid.uuid4().hex,
                    received_at=at(when),
                )
            )
        )
        self.ids.setdefault(case, []).append(rating)
        return transaction

    async def seed(self) -> None:
        await self.catalog()
        day = "2026-10-12"
        # device_burst — raised: DEV-A01, four 5-star ratings 30–40 s apart.
        for t in ("10:00:00", "10:00:30", "10:01:00", "10:01:40"):
            await self.rate("burst", f"{day} {t}", channel="window", window="A01", device="A01")
        # … not raised: DEV-B01, four 5-star ratings two minutes apart.
        for t in ("10:00", "10:02", "10:04", "10:06"):
            await self.rate("no-burst", f"{day} {t}", channel="window", window="B01", device="B01")

        # phone_burst — raised: one phone, three transactions, 5 and 4 minutes apart.
        for t in ("20:00", "20:05", "20:09"):
            await self.rate("phone", f"2026-10-13 {t}", phone="13700000001")
        # … not raised: another phone, half an hour apart.
        for t in ("20:00", "20:30", "21:00"):
            await self.rate("no-phone-gap", f"2026-10-13 {t}", phone="13700000002")
        # … not raised: three records of one transaction, rated together (one citizen's case).
        txn = await self.rate("no-phone-one-case", "2026-10-13 20:00", phone="13700000003")
        for t in ("20:01", "20:02"):
            await self.rate("no-phone-one-case", f"2026-10-13 {t}", transaction=txn)

        # staff_own_phone — raised: S001's own phone rates a service S001 gave.
        await self.rate("own", "2026-10-14 11:00", staff="S001", phone="13600000001")
        # … also written with the country code or with dashes, as the intake accepts phones.
        await self.rate("own", "2026-10-14 11:30", staff="S001", phone="+8613600000001")
        await self.rate("own", "2026-10-14 12:00", staff="S001", phone="136-0000-0001")
        # … not raised: S002's phone rates S001's service; S003 has no phone, nor the applicant.
        await self.rate("no-own", "2026-10-14 11:10", staff="S001", phone="13600000002")
        await self.rate("no-own", "2026-10-14 12:30", staff="S001", phone="+8613600000009")
        await self.rate("no-own", "2026-10-14 11:20", staff="S003", phone="")

        # closed_hours — raised: DEV-C01 rated at 21:00 and at 07:00 (hall open 08:30–17:30).
        await self.rate("closed", "2026-10-14 21:00", 4, "window", window="C01", device="C01")
        await self.rate("closed", "2026-10-15 07:00", 4, "window", window="C01", device="C01")
        # … not raised: DEV-F01 once at 21:00, below the minimum of two; window D01's ratings
        # name no device, so they are no hall ratings, whenever given.
        await self.rate("no-closed", "2026-10-14 21:00", 3, "window", window="F01", device="F01")
        await self.rate("no-closed", "2026-10-14 21:00", 4, "window", window="D01")
        await self.rate("no-closed", "2026-10-15 09:00", 4, "window", window="D01")
        await self.rate("no-closed", "2026-10-15 17:29", 4, "window", window="D01")
        await self.rate("no-closed", "2026-10-15 23:00", 4, "mobile", window="D01")

        # rate_jump — raised: window J01 had 2 of 6 five-star ratings in September and has
        # 6 of 6 in October (+66.7 points). Not raised: J02 from 5 of 6 to 6 of 6 (+16.7); J03
        # has only 4 ratings in October. Mobile ratings a day apart: no burst, not hall ratings.
        history = {"J01": [5, 5, 4, 4, 4, 4], "J02": [5, 5, 5, 5, 5, 4], "J03": [3] * 6}
        now = {"J01": [5] * 6, "J02": [5] * 6, "J03": [5] * 4}
        for window, levels in history.items():
            for n, level in enumerate(levels):
                await self.rate(
                    f"history-{window}", f"2026-09-{n + 1:02d} 10:00", level, window=window
                )
        for window, levels in now.items():
            for n, level in enumerate(levels):
                await self.rate(
                    f"jump-{window}", f"2026-10-{n + 1:02d} 10:00", level, window=window
                )

        # identical_run — raised: DEV-E01 gave 4 stars six times in a row, 10 minutes apart.
        for n in range(6):
            await self.rate(
                "run", f"2026-10-16 {9 + n:02d}:00", 4, "window", window="E01", device="E01"
            )
        # … not raised: DEV-F01's run of 4s is broken by a 3 after five.
        for n, level in enumerate([4, 4, 4, 4, 4, 3, 4, 4]):
            await self.rate(
                "no-run", f"2026-10-16 {9 + n:02d}:30", level, "window", window="F01", device="F01"
            )

        # Themes: three bad reviews with words, one without.
        for n, text in enumerate([COMMENT_WITH_PHONE, "排队等了很久", "态度差，跑了三趟", ""]):
            await self.rate("bad", f"2026-10-20 {10 + n}:00", 1 + n % 2, comment=text)


async def _id(query: Any) -> int:
    rows = await query.returning(query.table.id)
    return int(rows[0]["id"])


@pytest.fixture(scope="module")
async def seeded(integrity_url: str) -> AsyncIterator[tuple[Database, Month]]:
    db = Database(integrity_url, pool_size=8)
    await db.start()
    month = Month()
    with bound_to(db):
        await month.seed()
    try:
        yield db, month
    finally:
        await db.close()


@pytest.fixture(scope="module")
async def frames(seeded: tuple[Database, Month]) -> ReportFrames:
    db, _ = seeded
    with bound_to(db):
        return await Reports(db, ReportOptions(flags=RULES), WorkCalendar()).compute(OCTOBER, AS_OF)


def of_kind(frames: ReportFrames, kind: str) -> list[dict[str, Any]]:
    return [f for f in frames.flags if f["kind"] == kind]


async def test_a_burst_of_five_stars_at_one_device_is_flagged_with_its_ratings(
    frames: ReportFrames, seeded: tuple[Database, Month]
) -> None:
    ids = seeded[1].ids
    (flag,) = of_kind(frames, "device_burst")

    assert flag["subject"] == "设备 DEV-A01（A01窗口评价器）"
    assert (flag["ratings"], flag["rating_ids"]) == (4, ids["burst"])
    assert (flag["first_at"], flag["last_at"]) == ("2026-10-12 10:00:00", "2026-10-12 10:01:40")
    assert "60秒" in flag["evidence"]
    assert not set(flag["rating_ids"]) & set(ids["no-burst"])


async def test_a_burst_of_five_stars_from_one_phone_over_several_cases_is_flagged(
    frames: ReportFrames, seeded: tuple[Database, Month]
) -> None:
    (flag,) = of_kind(frames, "phone_burst")

    assert flag["subject"] == "手机 137****0001"  # masked; 13700000002 and …03 are not flagged
    assert (flag["ratings"], flag["rating_ids"]) == (3, seeded[1].ids["phone"])
    assert "涉及3个办件" in flag["evidence"]


async def test_a_staff_members_own_phone_rating_their_own_service_is_flagged(
    frames: ReportFrames, seeded: tuple[Database, Month]
) -> None:
    (flag,) = of_kind(frames, "staff_own_phone")

    assert flag["subject"] == "工号 S001"
    assert (flag["ratings"], flag["rating_ids"]) == (3, seeded[1].ids["own"])


async def test_hall_ratings_while_the_hall_is_closed_are_flagged_per_device(
    frames: ReportFrames, seeded: tuple[Database, Month]
) -> None:
    (flag,) = of_kind(frames, "closed_hours")

    assert flag["subject"] == "设备 DEV-C01（C01窗口评价器）"
    assert (flag["ratings"], flag["rating_ids"]) == (2, seeded[1].ids["closed"])
    assert "08:30–17:30" in flag["evidence"]


async def test_a_window_whose_five_star_rate_jumps_over_its_history_is_flagged(
    frames: ReportFrames,
) -> None:
    (flag,) = of_kind(frames, "rate_jump")

    assert flag["subject"] == "窗口 J01"
    assert "本月五星 6/6（100.0%）" in flag["evidence"]
    assert "2/6（33.3%）" in flag["evidence"]


async def test_a_long_run_of_identical_ratings_at_one_device_is_flagged(
    frames: ReportFrames, seeded: tuple[Database, Month]
) -> None:
    (flag,) = of_kind(frames, "identical_run")

    assert flag["subject"] == "设备 DEV-E01（E01窗口评价器）"
    assert (flag["ratings"], flag["rating_ids"]) == (6, seeded[1].ids["run"])
    assert "均为4星" in flag["evidence"]


async def test_the_public_counts_have_one_flag_of_each_kind_and_no_evidence(
    frames: ReportFrames,
) -> None:
    counts = {row["kind"]: (row["flags"], row["ratings"]) for row in frames.flag_counts}

    assert counts == {
        "device_burst": (1, 4),
        "phone_burst": (1, 3),
        "staff_own_phone": (1, 3),
        "closed_hours": (1, 2),
        "rate_jump": (1, 6),
        "identical_run": (1, 6),
    }
    assert all(
        set(row) == {"kind", "kind_text", "flags", "ratings", "rule"} for row in frames.flag_counts
    )


async def test_themes_count_comments_per_theme_and_examples_are_masked(
    frames: ReportFrames,
) -> None:
    (public,) = frames.themes.public
    (restricted,) = frames.themes.restricted

    assert (public["department"], public["comments"]) == ("县行政审批服务局", 3)
    assert {t["theme"]: t["comments"] for t in public["themes"]} == {
        "服务态度": 2,
        "窗口纪律": 1,
        "等待时间": 1,
        "多次跑腿": 1,
    }
    examples = {t["theme"]: t["examples"] for t in restricted["themes"]}
    assert examples["等待时间"] == ["排队等了很久"]
    assert examples["窗口纪律"] == ["窗口人员态度不好，还玩手机，我的电话139********"]


# --- archived and over HTTP: deputies see counts, supervisors the evidence ---------------------

PASSWORD = "integrity-test-password"


@pytest.fixture(scope="module")
async def http(
    integrity_url: str,
    seeded: tuple[Database, Month],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    db, _ = seeded
    with bound_to(db):
        app = create_app(settings_for(integrity_url, tmp_path_factory.mktemp("integrity-app")))
    app_db: Database = app.state.services.db
    await app_db.start()
    try:
        with bound_to(app_db):
            hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
            for role in ("supervisor", "deputy"):
                await create_user(f"integrity-{role}", role, role, PASSWORD, None, hasher)
            service = app.state.services.reports
            service.options = ReportOptions(flags=RULES)
            await service.generate(OCTOBER, AS_OF)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client
    finally:
        await app_db.close()


async def session(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    answer = await client.post(
        "/api/v1/auth/login", json={"username": f"integrity-{role}", "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    client.cookies.clear()
    return {"Cookie": f"hcp_session={answer.cookies['hcp_session']}"}


async def test_deputies_read_counts_and_themes_but_no_comment_and_no_evidence(
    http: httpx.AsyncClient,
) -> None:
    deputy = await session(http, "deputy")

    metrics = await http.get("/api/v1/reports/2026-10", headers=deputy)
    page = await http.get("/reports/2026-10", headers=deputy)
    index = await http.get("/reports", headers=deputy)
    evidence = await http.get("/reports/2026-10/integrity", headers=deputy)

    text = json.dumps(metrics.json(), ensure_ascii=False) + page.text + index.text
    assert [row["flags"] for row in metrics.json()["integrity"]] == [1] * 6
    assert metrics.json()["themes"][0]["themes"][0] == {"theme": "服务态度", "comments": 2}
    for secret in ("态度不好", "13912345678", "139****", "排队等了很久", "DEV-A01", "137****0001"):
        assert secret not in text
    assert 'id="integrity"' in page.text and "服务态度（2）" in page.text
    assert "/integrity" not in index.text  # a deputy is shown no link that leads to a 403
    excel = await http.get("/reports/2026-10/tables.xlsx", headers=deputy)
    book = openpyxl.load_workbook(io.BytesIO(excel.content), read_only=True)
    themes = list(book["差评主题"].iter_rows(values_only=True))
    flags = list(book["评价真实性核查"].iter_rows(values_only=True))
    assert themes[1] == ("县行政审批服务局", 3, "服务态度", 2)
    assert [row[1] for row in flags[1:]] == [1] * 6
    assert evidence.status_code == 403
    assert "仅向监督员开放" in evidence.text


async def test_supervisors_read_every_flag_with_its_evidence_and_the_examples(
    http: httpx.AsyncClient, seeded: tuple[Database, Month]
) -> None:
    supervisor = await session(http, "supervisor")

    index = await http.get("/reports", headers=supervisor)
    page = await http.get("/reports/2026-10/integrity", headers=supervisor)

    assert "/reports/2026-10/integrity?version=1" in index.text
    assert page.status_code == 200
    assert re.findall(r'data-kind="(\w+)"', page.text) == [
        "device_burst",
        "phone_burst",
        "staff_own_phone",
        "closed_hours",
        "rate_jump",
        "identical_run",
    ]
    assert ", ".join(str(i) for i in seeded[1].ids["burst"]) in page.text
    assert "窗口人员态度不好，还玩手机，我的电话139********" in page.text
    assert "13912345678" not in page.text
    assert 'action="/logout"' in page.text
    assert (await http.get("/reports/2026-13/integrity", headers=supervisor)).status_code == 422
    assert (await http.get("/reports/2026-08/integrity", headers=supervisor)).status_code == 404


async def test_a_generation_started_on_one_web_process_is_followed_from_another(
    http: httpx.AsyncClient,
    integrity_url: str,
    seeded: tuple[Database, Month],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The progress lives in the database: a poll that lands on another process sees it."""
    with bound_to(seeded[0]):
        other = create_app(settings_for(integrity_url, tmp_path_factory.mktemp("integrity-b")))
    other_db: Database = other.state.services.db
    await other_db.start()
    try:
        supervisor = await session(http, "supervisor")
        form = await http.get("/reports", headers=supervisor)
        token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        csrf = form.cookies.get("hcp_csrf") or http.cookies["hcp_csrf"]
        posted = await http.post(
            "/reports/generate",
            headers={"Cookie": f"{supervisor['Cookie']}; hcp_csrf={csrf}"},
            data={"month": "2026-09", "_csrf_token": token.group(1)},
        )
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as elsewhere:
            seen: list[str] = []
            deadline = time.monotonic() + 180  # a shared machine may be slow
            while time.monotonic() < deadline:  # until the job stops running, as the page does
                # Tables stay bound to the first app's engine (one binding per Python process):
                # rebinding them here would move the running generation's writes mid-transaction.
                # What differs is the app: its own services, with no memory of the job.
                listing = await elsewhere.get("/reports", headers=supervisor)
                seen.append(re.findall(r'data-state="(\w+)"', listing.text)[0])
                if seen[-1] != "running":
                    break
                await asyncio.sleep(0.05)

        assert posted.status_code == 303
        assert seen[-1] == "done", re.findall(r"生成失败：[^<]*", listing.text)
        assert '已生成第1版，<a href="/reports/2026-09?version=1">' in listing.text
    finally:
        await other_db.close()
