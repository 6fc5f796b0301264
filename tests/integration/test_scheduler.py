"""The scheduler's messages through a real broker: what `python -m evaluation_service scheduler`
sends when it starts (a deadline sweep, last month's report, yesterday's reconciliation) is run by a
`python -m evaluation_service worker` process on RabbitMQ against a fresh SQLite database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from evaluation_service.root.app import create_app
from evaluation_service.root.bootstrap import registered_tables
from evaluation_service.root.schedule import reconcile_day_due, report_month_due, schedule_table
from evaluation_service.root.worker import (
    WorkerResources,
    declare_actors,
    dramatiq_broker,
    scheduler_sends,
)
from rectification.model import Alert
from rectification.tables import Ticket
from reports.tables import ReportVersion
from tests.conftest import migrate, seed_catalog, settings_for, skip_or_fail
from tests.forwarding_support import ROOT, Simulator, forwarding_settings, start_simulator, until
from tests.integration.test_forwarding_broker import BROKERS, answering
from tests.rectification_support import backdate, make_staff, new_ticket, service_of

Client = httpx.AsyncClient
RABBITMQ_URL, RABBITMQ_PORT = BROKERS["rabbitmq"]


@pytest.fixture
def rabbitmq() -> str:
    if not answering(RABBITMQ_PORT):
        skip_or_fail(f"rabbitmq on 127.0.0.1:{RABBITMQ_PORT} is not answering")
    return RABBITMQ_URL


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Simulator]:
    simulator = start_simulator(tmp_path / "sim")
    try:
        yield simulator
    finally:
        simulator.process.terminate()
        simulator.process.wait(5)


@pytest.fixture
async def fresh(tmp_path: Path) -> AsyncIterator[Client]:
    """An app on a database of its own. Piccolo binds tables globally, so the session app's binding
    is put back afterwards."""
    saved = {table: table._meta.db for table in registered_tables()}
    url = f"sqlite:///{tmp_path / 'scheduler.sqlite'}"
    migrate(url, tmp_path)
    app = create_app(settings_for(url, tmp_path))
    await app.state.services.db.start()
    try:
        await seed_catalog()
        transport = httpx.ASGITransport(app=app)
        async with Client(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await app.state.services.db.close()
        for table, engine in saved.items():
            table._meta.db = engine


def start_worker(database_url: str, sim: Simulator, var_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **sim.env(),
        "DATABASE_URL": database_url,
        "BROKER_URL": RABBITMQ_URL,
        "HAOCHAPING_VAR_DIR": str(var_dir),
        "TOKEN_SECRET": "x",
        "DB_POOL_SIZE": "4",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "evaluation_service", "worker"], cwd=ROOT, env=env
    )


async def test_the_schedulers_messages_sweep_tickets_archive_the_report_and_reconcile(
    fresh: Client, rabbitmq: str, province: Simulator, tmp_path: Path
) -> None:
    settings = fresh._transport.app.state.services.settings  # type: ignore[attr-defined]
    staff = await make_staff(fresh)
    ticket_id = await new_ticket(fresh)
    opened = datetime.now(UTC) - timedelta(days=40)
    await backdate(ticket_id, opened, service_of(fresh).clock.accept_due(opened))
    now = datetime.now(UTC)
    zone = ZoneInfo(settings.timezone)
    month = report_month_due(now, zone)

    broker = dramatiq_broker(rabbitmq)
    settings = forwarding_settings(settings, province)
    actors = declare_actors(broker, settings, WorkerResources(settings))
    # Every job of the schedule table, sent once as the scheduler process sends them at start.
    for job in schedule_table(settings, scheduler_sends(actors), clock=lambda: now):
        await job.run()
    worker = start_worker(settings.database_url, province, tmp_path)
    try:

        async def swept() -> bool:
            row = await Ticket.select(Ticket.alert).where(Ticket.id == ticket_id).first()
            return bool(row["alert"] == Alert.red)

        async def archived() -> bool:
            return bool(await ReportVersion.exists().where(ReportVersion.month == month))

        async def reconciled() -> bool:
            answer = await fresh.get("/api/v1/forwarding/reconciliation", headers=staff.supervisor)
            return answer.status_code == 200

        await until(swept, seconds=15, what="the overdue ticket marked red by the worker")
        await until(archived, seconds=15, what=f"report {month} archived by the worker")
        await until(reconciled, seconds=15, what="yesterday reconciled by the worker")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(15)
        # Nothing of this test may wait in the broker for another test's worker and database.
        broker.flush_all()
        broker.close()

    last = (await fresh.get("/api/v1/forwarding/reconciliation", headers=staff.supervisor)).json()
    assert last["day"] == reconcile_day_due(now, zone).isoformat()
    assert last["matches"] is True
