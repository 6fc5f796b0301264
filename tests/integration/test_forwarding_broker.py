"""Forwarding through a real broker: `python -m evaluation_service worker` processes with
dramatiq on
RabbitMQ (and Redis), one killed with SIGKILL mid-delivery, against the simulator over loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import skip_or_fail
from tests.forwarding_support import ROOT, Simulator, start_simulator, until
from tests.integration.test_forwarding import (
    all_delivered,
    app_state,
    counted_once,
    harness_claimed,
    rated_project,
)

Client = httpx.AsyncClient
BROKERS = {
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672/%2F", 5672),
    "redis": ("redis://127.0.0.1:6379/0", 6379),
}


def answering(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def broker_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    simulator = start_simulator(tmp_path_factory.mktemp("broker-sim"))
    try:
        yield simulator
    finally:
        simulator.process.terminate()
        simulator.process.wait(5)


@pytest.fixture(params=list(BROKERS))
async def broker_url(request: pytest.FixtureRequest, broker_sim: Simulator) -> AsyncIterator[str]:
    url, port = BROKERS[request.param]
    if not answering(port):
        skip_or_fail(f"{request.param} on 127.0.0.1:{port} is not answering")
    await broker_sim.faults()
    yield url
    await broker_sim.faults()


def start_worker(
    api: Client, sim: Simulator, broker_url: str, var_dir: Path
) -> subprocess.Popen[bytes]:
    settings = app_state(api).settings
    env = {
        **os.environ,
        **sim.env(),
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": broker_url,
        "HAOCHAPING_VAR_DIR": str(var_dir),
        "TOKEN_SECRET": "x",
        "FORWARD_BATCH_SIZE": "5",
        "FORWARD_CONCURRENCY": "2",
        "FORWARD_RETRY_BASE_SECONDS": "0.1",
        "FORWARD_RETRY_MAX_SECONDS": "0.4",
        "FORWARD_LEASE_SECONDS": "1.5",
        "RELAY_INTERVAL_SECONDS": "0.05",
        "DB_POOL_SIZE": "4",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "evaluation_service", "worker"], cwd=ROOT, env=env
    )


async def test_worker_killed_mid_delivery_through_the_broker_loses_nothing_and_counts_once(
    api: Client, broker_sim: Simulator, broker_url: str, tmp_path: Path
) -> None:
    await broker_sim.faults(latency_ms=700)
    projects = [await rated_project(api) for _ in range(6)]
    ids = [i for _, project_ids in projects for i in project_ids]
    first = start_worker(api, broker_sim, broker_url, tmp_path)
    try:
        await until(lambda: harness_claimed(ids), seconds=15, what="rows claimed by the worker")
        await asyncio.sleep(0.4)  # requests in flight at the province
        first.send_signal(signal.SIGKILL)
        first.wait(5)
        assert not await all_delivered(ids)
        await broker_sim.faults()
        second = start_worker(api, broker_sim, broker_url, tmp_path)
        try:
            await until(lambda: all_delivered(ids), seconds=30, what="delivered after the kill")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(15)
    finally:
        if first.poll() is None:
            first.kill()
    for project_no, _ in projects:
        assert counted_once(await broker_sim.keys(project_no))
