"""Notifications as a channel (issue 10, item 1), over HTTP on SQLite and PostgreSQL: who is told
of which event, in the event's own transaction; the unread badge; and the outbound outbox that
loses nothing while the gateway (a real loopback HTTP server) is down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from evaluation_service.identity.tables import StaffUser
from rectification.notify import Outbound, OutboundLoop, RetryPolicy
from rectification.senders import WebhookSender
from rectification.tables import Notification, OutboundMessage
from tests.forwarding_support import ROOT, Simulator, until
from tests.integration.test_forwarding_broker import broker_sim, broker_url
from tests.rectification_support import FIRST_CONTACT, Staff, act, make_staff, new_ticket

__all__ = ["broker_sim", "broker_url"]  # fixtures shared with the forwarding broker tests

Client = httpx.AsyncClient


@pytest.fixture(scope="session")
async def staff(api: Client) -> AsyncIterator[Staff]:
    yield await make_staff(api)


def services_of(api: Client) -> Any:
    transport: Any = api._transport
    return transport.app.state.services


async def user_id(name: str) -> int:
    row = await StaffUser.select(StaffUser.id).where(StaffUser.username == name).first()
    assert row is not None
    return int(row["id"])


async def kinds_for(name: str, ticket_id: int) -> list[str]:
    rows = await Notification.select(Notification.kind).where(
        (Notification.recipient == await user_id(name)) & (Notification.ticket == ticket_id)
    )
    return sorted(r["kind"] for r in rows)


async def test_a_new_ticket_notifies_the_departments_liaisons_and_queues_the_citizens_sms(
    api: Client, staff: Staff
) -> None:
    ticket_id = await new_ticket(api)
    assert await kinds_for(staff.names["liaison_a"], ticket_id) == ["new_ticket"]
    assert await kinds_for(staff.names["liaison_b"], ticket_id) == []
    assert await kinds_for(staff.names["supervisor"], ticket_id) == []
    outbound = await OutboundMessage.select(
        OutboundMessage.audience, OutboundMessage.kind, OutboundMessage.state
    ).where(OutboundMessage.ticket == ticket_id)
    audiences = Counter((r["audience"], r["kind"], r["state"]) for r in outbound)
    assert audiences[("citizen", "case_link", "pending")] == 1
    assert audiences[("staff", "new_ticket", "pending")] >= 1


async def test_each_decision_notifies_whoever_must_act_next(api: Client, staff: Staff) -> None:
    ticket_id = await new_ticket(api)
    liaison, supervisor = staff.names["liaison_a"], staff.names["supervisor"]
    assert (await act(api, staff.liaison_a, ticket_id, "accept")).status_code == 200
    assert (
        await act(api, staff.liaison_a, ticket_id, "record_contact", **FIRST_CONTACT)
    ).status_code == 200
    appeal = {"appeal_kind": "mistaken", "reason": "评价人误选了事项"}
    assert (await act(api, staff.liaison_a, ticket_id, "appeal", **appeal)).status_code == 200
    assert await kinds_for(supervisor, ticket_id) == ["review"]
    decided = await act(
        api, staff.supervisor, ticket_id, "decide_appeal", decision="rejected", note="理由不足"
    )
    assert decided.status_code == 200
    assert await kinds_for(liaison, ticket_id) == ["decision", "new_ticket"]
    measures = {"measures": "窗口一次性告知培训"}
    assert (await act(api, staff.liaison_a, ticket_id, "submit_result", **measures)).status_code
    feedback = {"contact_method": "phone", "satisfaction": "satisfied", "note": "电话回访"}
    assert (await act(api, staff.liaison_a, ticket_id, "record_feedback", **feedback)).is_success
    sent_back = await act(api, staff.supervisor, ticket_id, "send_back", note="整改措施不具体")
    assert sent_back.status_code == 200
    assert await kinds_for(liaison, ticket_id) == ["decision", "new_ticket", "sent_back"]
    message = (
        await Notification.select(Notification.message)
        .where((Notification.ticket == ticket_id) & (Notification.kind == "sent_back"))
        .first()
    )
    assert message is not None
    assert "整改措施不具体" in message["message"]
    # Two supervisor reviews were asked for (the appeal and the closing), each once.
    assert await kinds_for(supervisor, ticket_id) == ["review", "review"]


async def test_the_staff_header_shows_the_unread_count(api: Client, staff: Staff) -> None:
    await new_ticket(api)
    unread = await Notification.count().where(
        (Notification.recipient == await user_id(staff.names["liaison_a"]))
        & Notification.read_at.is_null()
    )
    page = await api.get("/desk", headers=staff.liaison_a)
    assert page.status_code == 200
    assert f'title="{unread} 条未读"' in page.text


# --- the gateway -------------------------------------------------------------------------------


@dataclass
class Gateway:
    """A loopback SMS / 政务微信 gateway: answers 503 while down, records what it took."""

    up: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, str]]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                if not state.up:
                    state.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                state.received.append(json.loads(body))
                state.keys.append(self.headers["Idempotency-Key"])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/send"
    finally:
        server.shutdown()
        server.server_close()


async def test_no_notification_is_lost_while_the_gateway_is_down_and_each_is_sent_once(
    api: Client, staff: Staff, gateway: tuple[Gateway, str]
) -> None:
    state, url = gateway
    services = services_of(api)
    # A clock the test moves forward instead of sleeping through the back-off.
    clock = {"now": datetime.now(UTC)}
    outbound = Outbound(
        services.db,
        WebhookSender(url),
        RetryPolicy(base_seconds=30, max_seconds=120, lease_seconds=60),
        services.cases.sms,
    )
    loop = OutboundLoop(outbound, lambda: clock["now"], interval_seconds=1)
    try:
        tickets = [await new_ticket(api) for _ in range(3)]
        mine = [
            r["id"]
            for r in await OutboundMessage.select(OutboundMessage.id).where(
                OutboundMessage.ticket.is_in(tickets)
            )
        ]
        assert len(mine) >= 6  # per ticket: at least one liaison and the citizen
        clock["now"] = datetime.now(UTC)

        # Down: every attempt refused, every row still pending, retried later with back-off.
        for _ in range(3):
            await loop.tick()
            clock["now"] += timedelta(minutes=5)
        rows = await OutboundMessage.select(
            OutboundMessage.state, OutboundMessage.attempts, OutboundMessage.last_error
        ).where(OutboundMessage.id.is_in(mine))
        assert {r["state"] for r in rows} == {"pending"}
        assert min(r["attempts"] for r in rows) == 3
        assert "503" in rows[0]["last_error"]
        assert state.refused >= 3 * len(mine)

        # Back up: each message arrives, once, however often the loop runs.
        state.up = True
        for _ in range(3):
            await loop.tick()
            clock["now"] += timedelta(minutes=5)
        rows = await OutboundMessage.select(OutboundMessage.id, OutboundMessage.state).where(
            OutboundMessage.id.is_in(mine)
        )
        assert {r["state"] for r in rows} == {"delivered"}
        delivered = Counter(body["id"] for body in state.received)
        assert all(delivered[row_id] == 1 for row_id in mine)
        assert Counter(state.keys)[f"outbound-{mine[0]}"] == 1
        sms = [b for b in state.received if b["id"] in mine and b["audience"] == "citizen"]
        assert len(sms) == 3
        assert all(b["to"] == "13800001234" and "/case/" in b["text"] for b in sms)
        staff_messages = [b for b in state.received if b["id"] in mine and b["audience"] == "staff"]
        assert staff_messages and all(b["kind"] == "new_ticket" for b in staff_messages)
    finally:
        await outbound.sender.close()


# --- through a real broker ---------------------------------------------------------------------


async def test_a_broker_worker_delivers_outbound_messages_once_after_the_gateway_returns(
    api: Client,
    staff: Staff,
    gateway: tuple[Gateway, str],
    broker_sim: Simulator,
    broker_url: str,
    tmp_path: Path,
) -> None:
    """`python -m evaluation_service worker` on RabbitMQ / Redis: its relay claims due outbound
    rows and its `rectification.deliver_outbound` actor sends them through the webhook."""
    state, url = gateway
    tickets = [await new_ticket(api) for _ in range(2)]
    mine = [
        r["id"]
        for r in await OutboundMessage.select(OutboundMessage.id).where(
            OutboundMessage.ticket.is_in(tickets)
        )
    ]
    settings = services_of(api).settings
    env = {
        **os.environ,
        **broker_sim.env(),
        "DATABASE_URL": settings.database_url,
        "BROKER_URL": broker_url,
        "HAOCHAPING_VAR_DIR": str(tmp_path),
        "TOKEN_SECRET": "x",
        "DB_POOL_SIZE": "4",
        "NOTIFY_SENDER": "webhook",
        "NOTIFY_WEBHOOK_URL": url,
        "NOTIFY_RETRY_BASE_SECONDS": "0.1",
        "NOTIFY_RETRY_MAX_SECONDS": "0.3",
        "NOTIFY_INTERVAL_SECONDS": "0.05",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "evaluation_service", "worker"], cwd=ROOT, env=env
    )

    async def refused_some() -> bool:
        return state.refused >= len(mine)

    async def all_delivered() -> bool:
        rows = await OutboundMessage.select(OutboundMessage.state).where(
            OutboundMessage.id.is_in(mine)
        )
        return {r["state"] for r in rows} == {"delivered"}

    try:
        await until(refused_some, seconds=30, what="the worker tried the gateway while down")
        assert not await all_delivered()
        state.up = True
        await until(all_delivered, seconds=30, what="every message delivered")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
    delivered = Counter(body["id"] for body in state.received)
    assert all(delivered[row_id] == 1 for row_id in mine)
