"""Test databases (SQLite file and the PostgreSQL on loopback), the app under test, and its catalog.

Tests that need PostgreSQL skip with a plain reason when it is not answering; with
HAOCHAPING_REQUIRE_ALL=1 (set by .ci/run) such a skip is a failure instead.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from evaluation_service.evaluations.tokens import hash_key
from evaluation_service.kernel.settings import Settings
from evaluation_service.kernel.tables import (
    Department,
    Device,
    Indicator,
    IntegrationClient,
    ServiceItem,
    Window,
)
from evaluation_service.root.app import create_app
from tests.support import (
    CLIENT_TOKEN,
    DEPARTMENT_CODE,
    ITEM_CODE,
    KIOSK_KEY,
    OTHER_CLIENT_TOKEN,
    OTHER_WINDOW_KEY,
    WINDOW_KEY,
)

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_ALL = os.environ.get("HAOCHAPING_REQUIRE_ALL") == "1"
INDICATOR_VERSION = "SIM-2020.1"  # connectors/province_sim/indicators.py NORM_VERSION
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# Every API test runs on both backends; `-m "not postgres"` leaves out the PostgreSQL half.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (HAOCHAPING_REQUIRE_ALL=1: this run must not skip it)")
    pytest.skip(reason)


def migrate(url: str, var_dir: Path) -> None:
    env = {**os.environ, "DATABASE_URL": url, "HAOCHAPING_VAR_DIR": str(var_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "evaluation_service", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def _postgres_admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def postgres_available() -> str | None:
    try:
        asyncio.run(_postgres_admin("SELECT 1"))
        return None
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not answering ({exc.__class__.__name__})"


@contextmanager
def fresh_database(backend: str, var_dir: Path, prefix: str) -> Iterator[str]:
    """A newly created and migrated database of `backend`, dropped afterwards (PostgreSQL)."""
    if backend == "sqlite":
        url = f"sqlite:///{var_dir / f'{prefix}.sqlite'}"
        migrate(url, var_dir)
        yield url
        return
    problem = postgres_available()
    if problem:
        skip_or_fail(problem)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_postgres_admin(f"CREATE DATABASE {name}"))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url, var_dir)
        yield url
    finally:
        asyncio.run(_postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated database of each backend; every API test runs on both."""
    var_dir = tmp_path_factory.mktemp(f"var-{request.param}")
    with fresh_database(request.param, var_dir, "haochaping_test") as url:
        yield url


def settings_for(database_url: str, var_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        db_pool_size=20,
        token_secret="test-secret-not-for-production",
        var_dir=var_dir,
    )


async def seed_catalog() -> None:
    await Department.insert(
        Department(code=DEPARTMENT_CODE, name="平阴县行政审批服务局", area_code="370124000000")
    )
    department = (await Department.select(Department.id).first())["id"]
    await ServiceItem.insert(
        ServiceItem(code=ITEM_CODE, name="个体工商户设立登记", department=department)
    )
    await Window.insert(
        Window(window_no="W01", name="综合受理1号窗口", hall="一楼大厅", department=department),
        Window(window_no="W02", name="综合受理2号窗口", hall="一楼大厅", department=department),
    )
    windows = {r["window_no"]: r["id"] for r in await Window.select(Window.id, Window.window_no)}
    await Device.insert(
        Device(
            device_id="EV-W01", kind="window", window=windows["W01"], key_hash=hash_key(WINDOW_KEY)
        ),
        Device(
            device_id="EV-W02",
            kind="window",
            window=windows["W02"],
            key_hash=hash_key(OTHER_WINDOW_KEY),
        ),
        Device(device_id="KIOSK-01", kind="kiosk", key_hash=hash_key(KIOSK_KEY)),
    )
    await IntegrationClient.insert(
        IntegrationClient(name="test-system", token_hash=hash_key(CLIENT_TOKEN)),
        IntegrationClient(name="other-system", token_hash=hash_key(OTHER_CLIENT_TOKEN)),
    )
    # A few of the national indicators the province simulator serves (its norm dictionary): the
    # good codes are offered for levels 4 and 5, the bad ones for levels 1 and 2.
    good = [("510", "服务态度好"), ("517", "一次办成")]
    bad = [
        ("101", "服务态度差"),
        ("102", "未一次性告知导致多次跑腿"),
        ("103", "收取办事指南以外材料"),
        ("104", "超承诺时限办结"),
    ]
    tags = {5: good, 4: good, 3: [("303", "等候时间稍长")], 2: bad, 1: bad}
    await Indicator.insert(
        *[
            Indicator(version=INDICATOR_VERSION, level=level, code=code, text=text)
            for level, items in tags.items()
            for code, text in items
        ]
    )


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
async def api(database_url: str, var_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app on its database, with a small catalog; tests keep apart by unique project numbers.

    httpx's ASGI transport runs the app on the test's own event loop, so tests may also query the
    tables directly; the lifespan is not run by it, hence the explicit start and close.
    """
    app = create_app(settings_for(database_url, var_dir))
    db = app.state.services.db
    await db.start()
    try:
        await seed_catalog()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await db.close()


@pytest.fixture
def project_no() -> str:
    return f"TEST-{uuid.uuid4().hex[:16]}"
