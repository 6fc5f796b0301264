"""Forwarding test support: the province simulator as a real process on loopback, and waiting
helpers."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from connectors.province_sim.cipher import generate_key_pair
from evaluation_service.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
APP_WORD = "test-app-word"
APP_MARK = "test-app-mark"
DATA_SOURCE = "318"  # three digits, as the province assigns them
TENANCY = "370000000000"  # C-Tenancy-Id as Shandong's integration code sends it


def _ephemeral_low() -> int:
    """The first port of the range the kernel takes outgoing connections' source ports from."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A port for a server a test starts, free now and *below* the kernel's ephemeral range.

    A port the kernel hands out for bind(0) comes from the range it also takes the source ports of
    outgoing connections from: between the probe and the server's own bind, a connection to
    PostgreSQL or RabbitMQ could take it (seen: `address already in use` in CI). A port below the
    range is never taken that way; bind() checks that no server listens on it now."""
    low = _ephemeral_low()
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def wait_port(port: int, process: subprocess.Popen[bytes], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port}")


@dataclass
class Simulator:
    url: str
    private_key: str
    public_key: str
    process: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        """The county side's settings for this simulator: its endpoints and its public key only."""
        return {
            "PROVINCE_RECORDS_URL": f"{self.url}/hcp/addEvaluateService",
            "PROVINCE_RATINGS_URL": f"{self.url}/hcp/addEvaluate",
            "PROVINCE_NORM_URL": f"{self.url}/hcp/norm",
            "PROVINCE_TICKET_RESULTS_URL": f"{self.url}/hcp/rectifyFeedback",
            "PROVINCE_HOLDINGS_URL": f"{self.url}/hcp/dailyHoldings",
            "PROVINCE_PUBLIC_KEY": self.public_key,
            "PROVINCE_APP_WORD": APP_WORD,
            "PROVINCE_APP_MARK": APP_MARK,
            "PROVINCE_TENANCY_ID": TENANCY,
            "PROVINCE_DATA_SOURCE": DATA_SOURCE,
        }

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            if body is None:
                response = await client.get(path)
            else:
                response = await client.post(path, json=body)
            response.raise_for_status()
            return response.json()

    async def faults(self, **faults: Any) -> None:
        """error_rate, latency_ms, down_seconds, refuse_followups, answer_style; unset = normal."""
        await self.control("/sim/faults", dict(faults))

    async def keys(self, project_no: str) -> dict[tuple[str, ...], dict[str, int]]:
        """Per key of this project: how often the province received it and how often it counted
        it."""
        answer = await self.control(f"/sim/project?project_no={project_no}")
        return {
            (k["kind"], *map(str, k["key"])): {"receipts": k["receipts"], "accepted": k["accepted"]}
            for k in answer["keys"]
        }


def start_simulator(var_dir: Path) -> Simulator:
    """The province simulator in its own process, holding the province's key pair: the county
    side gets only the public key (and, for now, the private one too in env())."""
    keys = generate_key_pair()
    port = free_port()
    sim = Simulator(f"http://127.0.0.1:{port}", keys.private_hex, keys.public_hex, None)  # type: ignore[arg-type]
    env = {
        **os.environ,
        "SIM_PRIVATE_KEY": keys.private_hex,
        "SIM_APP_MARK": APP_MARK,
        "SIM_APP_WORD": APP_WORD,
        "SIM_TENANCY_ID": TENANCY,
    }
    command = [sys.executable, "-m", "connectors.province_sim", "--port", str(port)]
    command += ["--db", str(var_dir / "province_sim.sqlite3")]
    sim.process = subprocess.Popen(command, cwd=ROOT, env=env)
    wait_port(port, sim.process)
    return sim


def forwarding_settings(base: Settings, sim: Simulator, **overrides: Any) -> Settings:
    """Short back-off, lease and relay interval, so resilience tests take seconds, not minutes."""
    values: dict[str, Any] = {
        **{name.lower(): value for name, value in sim.env().items()},
        "forwarding_enabled": True,
        "province_timeout_seconds": 5.0,
        "forward_batch_size": 50,
        "forward_concurrency": 2,
        "forward_retry_base_seconds": 0.1,
        "forward_retry_max_seconds": 0.4,
        "forward_lease_seconds": 1.0,
        "relay_interval_seconds": 0.05,
    }
    values.update(overrides)
    return replace(base, **values)


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")
