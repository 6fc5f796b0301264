"""`python -m evaluation_service backup` and `restore` on each backend: a database holding
transactions, ratings, a ticket and outbox rows is backed up, restored into a new one, and the
service starts on the restored database with the same counts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from evaluation_service.kernel.tables import Evaluation, Outbox, ServiceTransaction
from evaluation_service.root.app import create_app
from evaluation_service.root.bootstrap import registered_tables
from rectification.tables import Ticket
from tests.conftest import (
    BACKENDS,
    POSTGRES_ADMIN_URL,
    _postgres_admin,
    fresh_database,
    postgres_available,
    seed_catalog,
    settings_for,
    skip_or_fail,
)
from tests.forwarding_support import ROOT
from tests.integration.test_forwarding import rated_project

Client = httpx.AsyncClient


@pytest.fixture(params=BACKENDS)
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, "backup_source") as url:
        yield url


@pytest.fixture
def empty_url(source_url: str, tmp_path: Path) -> Iterator[str]:
    """A new database with nothing in it, of the source's backend: where a backup is restored."""
    if source_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'haochaping.sqlite'}"
        return
    problem = postgres_available()
    if problem:
        skip_or_fail(problem)
    name = f"backup_restored_{uuid.uuid4().hex[:10]}"
    asyncio.run(_postgres_admin(f"CREATE DATABASE {name}"))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def restore_bindings() -> Iterator[None]:
    """Piccolo binds tables globally: the session app's binding is put back afterwards."""
    saved = {table: table._meta.db for table in registered_tables()}
    yield
    for table, engine in saved.items():
        table._meta.db = engine


@asynccontextmanager
async def app_on(url: str, var_dir: Path) -> AsyncIterator[Client]:
    app = create_app(settings_for(url, var_dir))
    await app.state.services.db.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with Client(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await app.state.services.db.close()


async def counts() -> dict[str, int]:
    return {
        "transactions": await ServiceTransaction.count(),
        "evaluations": await Evaluation.count(),
        "tickets": await Ticket.count(),
        "outbox": await Outbox.count(),
    }


def command(url: str, var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "HAOCHAPING_VAR_DIR": str(var_dir)}
    return subprocess.run(
        [sys.executable, "-m", "evaluation_service", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


async def test_a_backup_restored_into_a_new_database_starts_the_service_with_the_same_counts(
    source_url: str, empty_url: str, tmp_path: Path, restore_bindings: None
) -> None:
    async with app_on(source_url, tmp_path) as api:
        await seed_catalog()
        for level in (5, 1, 4):
            await rated_project(api, level=level, records=2)
        before = await counts()
    assert before == {"transactions": 3, "evaluations": 3, "tickets": 1, "outbox": 9}
    dump = tmp_path / "backups" / "haochaping.dump"

    backed_up = command(source_url, tmp_path, "backup", str(dump))
    assert backed_up.returncode == 0, backed_up.stderr
    restored = command(empty_url, tmp_path, "restore", str(dump))
    assert restored.returncode == 0, restored.stderr

    async with app_on(empty_url, tmp_path) as api:
        assert (await api.get("/health")).status_code == 200
        assert await counts() == before
    again = command(empty_url, tmp_path, "restore", str(dump))
    assert again.returncode == 1
    assert "restore into a new" in again.stderr
