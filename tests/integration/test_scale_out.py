"""The production shape under load and failure: two `serve` processes, two `worker` processes and
two `scheduler` processes on one PostgreSQL database and RabbitMQ (a vhost of the test's own, so no
other test's worker takes its messages), the province simulator on loopback. A steady stream of
ratings goes to both web processes; one worker and one web process are SIGKILLed mid-stream.

What must hold afterwards: every acknowledged rating is stored once, every stored record and rating
is counted by the province once, every real-name 差评 has one ticket, each schedule was sent once.
Requests to the killed web process fail to connect: they were never acknowledged, so they may or
may not be stored — the invariants are about what the service acknowledged and what it stored.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from connectors.province.client import province_key
from evaluation_service.root.schedule import reconcile_day_due, report_month_due
from tests.conftest import fresh_database, skip_or_fail
from tests.forwarding_support import ROOT, Simulator, free_port, start_simulator, until, wait_port
from tests.integration.test_forwarding_broker import BROKERS, answering

pytestmark = pytest.mark.postgres

_, RABBITMQ_PORT = BROKERS["rabbitmq"]
# The demo catalog (`python -m evaluation_service demo`): its business system's token, an item of
# the county's administrative approval bureau and a window of it.
DEMO_TOKEN = "demo-business-token-please-change"
DEMO_DEPARTMENT = "113701240043186227"
DEMO_ITEM = DEMO_DEPARTMENT + "0140001001001"
LOAD_SECONDS = 30.0
RATINGS_PER_SECOND = 8.0
ZONE = ZoneInfo("Asia/Shanghai")


@dataclass
class Stream:
    """What the clients saw: the ratings acknowledged with 201 and the requests that failed."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # idempotency key -> id
    bad_acknowledged: set[str] = field(default_factory=set)
    unacknowledged: int = 0


@pytest.fixture
def vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this test's own, deleted afterwards with whatever it still holds."""
    if not answering(RABBITMQ_PORT):
        skip_or_fail(f"rabbitmq on 127.0.0.1:{RABBITMQ_PORT} is not answering")
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        skip_or_fail("rabbitmqctl is not installed: no vhost of the test's own can be made")
        raise AssertionError  # unreachable: skip_or_fail raises
    name = f"scale-out-{uuid.uuid4().hex[:8]}"
    subprocess.run([ctl, "-q", "add_vhost", name], check=True, capture_output=True)
    try:
        subprocess.run(
            [ctl, "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        yield name
    finally:
        subprocess.run([ctl, "-q", "delete_vhost", name], check=False, capture_output=True)


def service_env(database_url: str, vhost: str, sim: Simulator, var_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        **sim.env(),
        "DATABASE_URL": database_url,
        "BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "HAOCHAPING_VAR_DIR": str(var_dir),
        # One secret everywhere: a rating link issued by one process is good on every other.
        "TOKEN_SECRET": "scale-out-test-secret",
        "DB_POOL_SIZE": "4",
        "FORWARD_BATCH_SIZE": "20",
        "FORWARD_CONCURRENCY": "2",
        "FORWARD_RETRY_BASE_SECONDS": "0.1",
        "FORWARD_RETRY_MAX_SECONDS": "0.5",
        "FORWARD_LEASE_SECONDS": "3",
        "RELAY_INTERVAL_SECONDS": "0.1",
        # Slots of a day: both schedulers' start-up runs fall in the same period of every job.
        "TICKET_SWEEP_MINUTES": "1440",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }


class Processes:
    """The topology's processes, each logging to its own file; all stopped at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "evaluation_service", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def transaction(project_no: str) -> dict[str, Any]:
    """A transaction whose applicant is identified, so its ratings are real-name ones."""
    now = datetime.now(UTC).isoformat()
    applicant = {
        "type": 1,
        "name": "张三",
        "cert_type": "111",
        "cert_no": "11010519491231002X",
        "phone": "13800001234",
    }
    return {
        "project_no": project_no,
        "item_code": DEMO_ITEM,
        "department_code": DEMO_DEPARTMENT,
        "area_code": "370124000000",
        "applicant": applicant,
        "accepted_at": now,
        "finished_at": now,
        "records": [
            {
                "service_number": 1,
                "name": "受理",
                "occurred_at": now,
                "window_no": "A01",
                "staff_no": "PY1001",
            }
        ],
    }


async def rate_one(client: httpx.AsyncClient, webs: list[str], n: int, stream: Stream) -> None:
    """A business system registers a transaction and the citizen rates it, both on web process
    n % 2 (as a sticky load balancer would send them). Every third rating is a real-name 差评."""
    bad = n % 3 == 0
    project_no = f"SCALE-{uuid.uuid4().hex[:14]}"
    key = uuid.uuid4().hex
    try:
        registered = await client.post(
            f"{webs[n % 2]}/api/v1/transactions",
            json=transaction(project_no),
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        )
        if registered.status_code != 200:
            stream.unacknowledged += 1
            return
        fields: dict[str, Any] = {
            "channel": "mobile",
            "level": 1 if bad else 5,
            "idempotency_key": key,
            "rating_token": registered.json()["records"][0]["rating_token"],
        }
        if bad:
            fields |= {"tags": ["101"], "comment": "等了很久"}
        rated = await client.post(f"{webs[n % 2]}/api/v1/evaluations", json=fields)
    except httpx.TransportError:
        stream.unacknowledged += 1
        return
    if rated.status_code == 201:
        stream.acknowledged[key] = rated.json()["id"]
        if bad:
            stream.bad_acknowledged.add(key)
    else:
        stream.unacknowledged += 1


async def offer_ratings(
    webs: list[str], stream: Stream, kill_at: float, kill: Any, seconds: float
) -> None:
    """Ratings started at a fixed rate (not one after another), so a stalled process does not slow
    the stream down; `kill` runs once, `kill_at` seconds in."""
    interval = 1 / RATINGS_PER_SECOND
    tasks: list[asyncio.Task[None]] = []
    killed = False
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        n = 0
        while (elapsed := time.monotonic() - start) < seconds:
            if not killed and elapsed >= kill_at:
                kill()
                killed = True
            tasks.append(asyncio.create_task(rate_one(client, webs, n, stream)))
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.monotonic()))
        await asyncio.gather(*tasks)


def demo_catalog(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evaluation_service", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database("postgres", tmp_path, "scale_out") as url:
        yield url


@pytest.fixture
def province(tmp_path: Path) -> Iterator[Simulator]:
    simulator = start_simulator(tmp_path / "sim")
    try:
        yield simulator
    finally:
        simulator.process.terminate()
        simulator.process.wait(5)


async def test_two_of_each_process_with_a_worker_and_a_web_process_killed_lose_and_double_nothing(
    database_url: str, vhost: str, province: Simulator, tmp_path: Path
) -> None:
    env = service_env(database_url, vhost, province, tmp_path)
    demo_catalog(env)
    processes = Processes(env, tmp_path)
    ports = [free_port(), free_port()]
    webs = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for n, port in enumerate(ports):
            processes.start(f"web-{n}", "serve", "--port", str(port))
        for n in range(2):
            processes.start(f"worker-{n}", "worker")
            processes.start(f"scheduler-{n}", "scheduler")
        for n, port in enumerate(ports):
            wait_port(port, processes.started[f"web-{n}"], seconds=60)

        def kill_one_of_each() -> None:
            for name in ("worker-0", "web-1"):
                processes.started[name].send_signal(signal.SIGKILL)

        stream = Stream()
        await offer_ratings(webs, stream, LOAD_SECONDS / 3, kill_one_of_each, LOAD_SECONDS)
        assert processes.started["worker-0"].wait(10) == -signal.SIGKILL
        assert processes.started["web-1"].wait(10) == -signal.SIGKILL
        # All of the first third, then about half of the rest (the killed process's half fails).
        assert len(stream.acknowledged) > LOAD_SECONDS * RATINGS_PER_SECOND / 2

        async def all_delivered() -> bool:
            rows = await fetch(
                database_url, "SELECT count(*) FROM outbox WHERE state <> 'delivered'"
            )
            return bool(rows[0][0] == 0)

        await until(all_delivered, seconds=90, what="every outbox row delivered")
        await check_stored_once(database_url, stream)
        await check_counted_once_by_the_province(database_url, province)
        await check_one_ticket_per_real_name_bad_rating(database_url, stream)
        await check_each_schedule_sent_once(database_url, processes)
    finally:
        processes.stop_all()


async def check_stored_once(database_url: str, stream: Stream) -> None:
    rows = await fetch(
        database_url,
        "SELECT idempotency_key, array_agg(id) AS ids FROM evaluation "
        "WHERE idempotency_key = ANY($1::text[]) GROUP BY idempotency_key",
        list(stream.acknowledged),
    )
    stored = {r["idempotency_key"]: list(r["ids"]) for r in rows}
    assert stored == {key: [id_] for key, id_ in stream.acknowledged.items()}


async def check_counted_once_by_the_province(database_url: str, sim: Simulator) -> None:
    """Every record and rating the service stored — acknowledged or not — the province counted
    exactly once, and it holds nothing else of these projects."""
    rows = await fetch(
        database_url,
        "SELECT t.project_no, r.service_number, e.assess_number FROM service_transaction t "
        "JOIN service_record r ON r.service_transaction = t.id "
        "LEFT JOIN evaluation e ON e.service_record = r.id",
    )
    expected: dict[str, set[tuple[str, ...]]] = {}
    for r in rows:
        pno = province_key(r["project_no"])
        keys = expected.setdefault(r["project_no"], set())
        keys.add(("record", pno, str(r["service_number"])))
        if r["assess_number"] is not None:
            keys.add(("rating", pno, str(r["service_number"]), str(r["assess_number"])))
    assert expected
    for project_no, keys in expected.items():
        held = await sim.keys(project_no)
        assert set(held) == keys, project_no
        assert all(k["accepted"] == 1 for k in held.values()), (project_no, held)


async def check_one_ticket_per_real_name_bad_rating(database_url: str, stream: Stream) -> None:
    rows = await fetch(
        database_url,
        "SELECT e.idempotency_key, count(t.id) AS tickets FROM evaluation e "
        "LEFT JOIN ticket t ON t.evaluation = e.id WHERE e.real_name AND e.level <= 2 "
        "GROUP BY e.idempotency_key",
    )
    tickets = {r["idempotency_key"]: r["tickets"] for r in rows}
    assert stream.bad_acknowledged <= set(tickets)
    assert set(tickets.values()) == {1}
    others = await fetch(
        database_url,
        "SELECT count(*) FROM ticket t JOIN evaluation e ON t.evaluation = e.id "
        "WHERE NOT (e.real_name AND e.level <= 2)",
    )
    assert others[0][0] == 0


async def check_each_schedule_sent_once(database_url: str, processes: Processes) -> None:
    """Both schedulers ran every job at start; one of them claimed each job's period and sent it,
    the other found it claimed. The month's report was archived once."""
    now = datetime.now(UTC)
    month = report_month_due(now, ZONE)
    day = reconcile_day_due(now, ZONE).isoformat()
    rows = await fetch(database_url, "SELECT job, period FROM schedule_run")
    runs: dict[str, list[str]] = {}
    for r in rows:
        runs.setdefault(r["job"], []).append(r["period"])
    assert runs["monthly-report"] == [month]
    assert runs["reconcile-yesterday"] == [day]
    assert len(runs["deadline-sweep"]) == 1
    assert len(runs["indicator-sync"]) == 1
    lines = (processes.log("scheduler-0") + processes.log("scheduler-1")).splitlines()
    for job in runs:
        refused = [line for line in lines if f"scheduled job {job} for" in line]
        assert len(refused) == 1 and "already sent by another scheduler" in refused[0], job
    versions = await fetch(
        database_url, "SELECT count(*) FROM report_version WHERE month = $1", month
    )
    assert versions[0][0] == 1
