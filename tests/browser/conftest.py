"""A real server on loopback and Debian's chromium driven by Playwright, for the browser tests.

The server runs as `python -m evaluation_service serve` on a free port over a temporary SQLite
database holding the demo catalog. Chromium is Debian's /usr/bin/chromium (`make browser-deps`
installs it with a CJK font); Playwright never downloads a browser of its own here.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from tests.conftest import ROOT, skip_or_fail
from tests.forwarding_support import free_port, start_simulator

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# From evaluation_service/evaluations/demo_data/: the demo business system, window A01's device.
DEMO_BEARER = "demo-business-token-please-change"
DEMO_WINDOW_KEY = "demo-window-01-key-please-change"
DEMO_KIOSK_KEY = "demo-kiosk-01-key-please-change"
# The devices' admin PIN in the browser tests (the server holds only its argon2 hash).
DEVICE_ADMIN_PIN = "246810"
DEMO_ITEM_CODE = "1137012400431862270140001001001"  # 个体工商户设立登记
DEMO_DEPARTMENT_CODE = "113701240043186227"  # 平阴县行政审批服务局
TOKEN_SECRET = "browser-test-secret-not-for-production"
PHONE = {"width": 360, "height": 740}
LAPTOP = {"width": 1366, "height": 768}
KIOSK = {"width": 1920, "height": 1080}
TABLET = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Served:
    """The running service, and the few things a browser test asks of it besides the page."""

    base_url: str
    database: Path
    province_url: str  # the bundled province simulator the service forwards to

    def register(self, project_no: str) -> dict[str, Any]:
        """The demo business system registers a transaction finished just now at window A01."""
        now = datetime.now(UTC).isoformat()
        body = {
            "project_no": project_no,
            "item_code": DEMO_ITEM_CODE,
            "department_code": DEMO_DEPARTMENT_CODE,
            "area_code": "370124000000",
            "applicant": {
                "type": 1,
                "name": "王丽",
                "cert_type": "111",
                "cert_no": "11010519491231002X",
                "phone": "13800001234",
            },
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
        answer = httpx.post(
            f"{self.base_url}/api/v1/transactions",
            json=body,
            headers={"Authorization": f"Bearer {DEMO_BEARER}"},
        )
        assert answer.status_code == 200, answer.text
        record: dict[str, Any] = answer.json()["records"][0]
        return record

    def announce_at_window_a01(self, project_no: str) -> None:
        """The window system says the service is done: the evaluator at A01 should offer it."""
        answer = httpx.post(
            f"{self.base_url}/api/v1/devices/current",
            json={"project_no": project_no, "service_number": 1, "device_id": "PY-EVAL-A01"},
            headers={"Authorization": f"Bearer {DEMO_BEARER}"},
        )
        assert answer.status_code == 200, answer.text

    def ratings(self, project_no: str) -> list[tuple[Any, ...]]:
        """(assess_number, level, tags, channel, has client_time) of every stored rating."""
        with sqlite3.connect(self.database) as connection:
            return connection.execute(
                "SELECT e.assess_number, e.level, e.tags, e.channel, e.client_time IS NOT NULL"
                " FROM evaluation e JOIN service_record r ON r.id = e.service_record"
                " JOIN service_transaction t ON t.id = r.service_transaction"
                " WHERE t.project_no = ? ORDER BY e.assess_number",
                (project_no,),
            ).fetchall()

    def execute(self, statement: str, *params: Any) -> None:
        """Change a row as an administrator would (catalog columns, a device's last heartbeat)."""
        with sqlite3.connect(self.database) as connection:
            connection.execute(statement, params)

    def record_id(self, project_no: str) -> int:
        with sqlite3.connect(self.database) as connection:
            row = connection.execute(
                "SELECT r.id FROM service_record r"
                " JOIN service_transaction t ON t.id = r.service_transaction"
                " WHERE t.project_no = ?",
                (project_no,),
            ).fetchone()
        return int(row[0])


def _run(command: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evaluation_service", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    var_dir = tmp_path_factory.mktemp("browser-var")
    database = var_dir / "browser.sqlite"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # As `make run` does: the service forwards every rating to the bundled province simulator.
    sim = start_simulator(var_dir)
    env = {
        **os.environ,
        **sim.env(),
        "DATABASE_URL": f"sqlite:///{database}",
        "HAOCHAPING_VAR_DIR": str(var_dir),
        "TOKEN_SECRET": TOKEN_SECRET,
        "PUBLIC_BASE_URL": base_url,
        "BROKER_URL": "embedded",
        # Devices: the admin PIN, a short heartbeat, and a hall open around the clock so a silent
        # device is alerted whenever the tests run.
        "DEVICE_ADMIN_PIN_HASH": PasswordHasher().hash(DEVICE_ADMIN_PIN),
        "DEVICE_HEARTBEAT_SECONDS": "5",
        "HALL_OPEN_HOURS": "00:00-24:00",
        "HALL_OPEN_WORKDAYS_ONLY": "false",
    }
    _run("migrate", env)
    _run("demo", env)
    log_path = var_dir / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "evaluation_service", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, f"server exited: {log_path.read_text()}"
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server did not answer: {log_path.read_text()}"
            time.sleep(0.1)
        yield Served(base_url, database, sim.url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        sim.process.terminate()
        sim.process.wait(10)


# Package scope: while Playwright's sync API is open, the main thread counts as running an event
# loop, so it must close before the async tests of the other packages start.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is missing: run `make browser-deps` (Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright for Python is not installed: run `make install`")
    if not CJK_FONT.exists():
        # The tests still prove behaviour; only the screenshots would show empty boxes.
        print(f"warning: {CJK_FONT} is missing, Chinese text in screenshots will not render")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def project_no() -> str:
    return f"PYB{uuid.uuid4().hex[:12].upper()}"


def new_page(browser: Any, viewport: dict[str, int], *, phone: bool = False) -> Any:
    """A page in a fresh context (its own localStorage) with the county's clock and language."""
    options: dict[str, Any] = {
        "viewport": viewport,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        "device_scale_factor": 1,
    }
    if phone:
        options.update(
            is_mobile=True,
            has_touch=True,
            user_agent=(
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
            ),
        )
    context = browser.new_context(**options)
    return context.new_page()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fits_width(page: Any) -> bool:
    """Nothing sticks out sideways: the page scrolls only vertically."""
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width <= page.viewport_size["width"]
