"""Forwarding to the province over loopback, against the simulator process, on SQLite and
PostgreSQL,
with the in-process worker (the embedded default)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.delivery import TICKET_SOURCE_MISSING
from connectors.province.client import province_key
from connectors.reconcile import load_last, reconcile_and_record, reconcile_day
from evaluation_service.identity.service import create_user
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.tables import Evaluation, Outbox, ServiceRecord
from evaluation_service.root.bootstrap import forwarder as forwarder_for
from evaluation_service.root.worker import InProcessWorker
from tests.forwarding_support import Simulator, forwarding_settings, start_simulator, until
from tests.rectification_support import (
    CHEAP_HASHER,
    PASSWORD,
    Headers,
    csrf_token,
    login,
    session_headers,
)
from tests.support import DEPARTMENT_CODE, auth, transaction_body

Client = httpx.AsyncClient


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    simulator = start_simulator(tmp_path_factory.mktemp("sim"))
    try:
        yield simulator
    finally:
        simulator.process.terminate()
        simulator.process.wait(5)


@pytest.fixture
async def province(sim: Simulator) -> AsyncIterator[Simulator]:
    await sim.faults()
    yield sim
    await sim.faults()


@pytest.fixture(scope="session")
async def operators(api: Client) -> AsyncIterator[dict[str, Headers]]:
    """A session of each role; the forwarding endpoints are for supervisors and admins. (Not
    `make_staff`: its second department would change what other modules' tests see.)"""
    suffix = uuid.uuid4().hex[:8]
    sessions: dict[str, Headers] = {}
    for role in ("liaison", "supervisor", "deputy", "admin"):
        username = f"fwd-{role}-{suffix}"
        department = DEPARTMENT_CODE if role == "liaison" else None
        await create_user(username, username, role, PASSWORD, department, CHEAP_HASHER)
        sessions[role] = session_headers(await login(api, username))
    yield sessions


def app_state(api: Client) -> Any:
    return api._transport.app.state.services  # type: ignore[attr-defined]


class Harness:
    """An in-process worker over the app's own database, started and stopped by the test."""

    def __init__(self, api: Client, sim: Simulator, **overrides: Any) -> None:
        state = app_state(api)
        self.db: Database = state.db
        self.settings = forwarding_settings(state.settings, sim, **overrides)
        self.worker: InProcessWorker | None = None

    def start(self) -> InProcessWorker:
        self.worker = InProcessWorker(forwarder_for(self.db, self.settings), self.settings)
        self.worker.start()
        return self.worker

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None


@pytest.fixture
async def harness(api: Client, province: Simulator) -> AsyncIterator[Harness]:
    h = Harness(api, province)
    yield h
    await h.stop()


async def rated_project(
    api: Client, level: int = 5, records: int = 1, request_id: str | None = None
) -> tuple[str, list[int]]:
    """A transaction with `records` service records, the first one rated (in a request with the
    given X-Request-ID); returns outbox ids."""
    project_no = f"FWD-{uuid.uuid4().hex[:14]}"
    now = datetime.now(UTC).isoformat()
    body = transaction_body(
        project_no,
        records=[
            {
                "service_number": n,
                "name": f"环节{n}",
                "occurred_at": now,
                "window_no": "W01",
                "staff_no": "S001",
            }
            for n in range(1, records + 1)
        ],
    )
    response = await api.post("/api/v1/transactions", json=body, headers=auth())
    assert response.status_code == 200, response.text
    token = response.json()["records"][0]["rating_token"]
    fields: dict[str, Any] = {
        "channel": "mobile",
        "level": level,
        "idempotency_key": uuid.uuid4().hex,
        "rating_token": token,
    }
    if level <= 2:
        fields["tags"] = ["101"]
    headers = {"X-Request-ID": request_id} if request_id else {}
    rated = await api.post("/api/v1/evaluations", json=fields, headers=headers)
    assert rated.status_code == 201, rated.text
    return project_no, await outbox_ids(project_no)


async def outbox_ids(project_no: str) -> list[int]:
    records = [
        r["id"]
        for r in await ServiceRecord.select(ServiceRecord.id).where(
            ServiceRecord.service_transaction.project_no == project_no
        )
    ]
    ratings = [
        r["id"]
        for r in await Evaluation.select(Evaluation.id).where(
            Evaluation.service_record.is_in(records)
        )
    ]
    rows = await Outbox.select(Outbox.id).where(
        ((Outbox.kind == "service_record") & Outbox.ref_id.is_in(records))
        | ((Outbox.kind == "evaluation") & Outbox.ref_id.is_in(ratings or [0]))
    )
    return [r["id"] for r in rows]


async def states(ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = await Outbox.select().where(Outbox.id.is_in(ids))
    return {r["id"]: r for r in rows}


async def all_delivered(ids: list[int]) -> bool:
    return all(r["state"] == "delivered" for r in (await states(ids)).values())


async def some_attempt_failed(ids: list[int]) -> bool:
    return any(r["attempts"] >= 1 and r["last_error"] for r in (await states(ids)).values())


def counted_once(keys: dict[tuple[str, ...], dict[str, int]]) -> bool:
    return bool(keys) and all(k["accepted"] == 1 for k in keys.values())


# --- delivery --------------------------------------------------------------------------------


async def test_a_rating_reaches_the_province_after_its_service_record(
    api: Client, province: Simulator, harness: Harness
) -> None:
    project_no, ids = await rated_project(api, records=2)
    harness.start()

    await until(lambda: all_delivered(ids), what="rows delivered")

    keys = await province.keys(project_no)
    pno = province_key(project_no)
    assert set(keys) == {("record", pno, "1"), ("record", pno, "2"), ("rating", pno, "1", "1")}
    assert counted_once(keys)
    rows = list((await states(ids)).values())
    record_1 = next(r for r in rows if r["kind"] == "service_record")
    rating = next(r for r in rows if r["kind"] == "evaluation")
    assert record_1["delivered_at"] <= rating["delivered_at"]


async def test_the_delivery_line_names_the_request_that_stored_each_rating(
    api: Client, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="haochaping.forwarding")
    request_id = f"lb-{uuid.uuid4().hex[:12]}"
    _, ids = await rated_project(api, request_id=request_id)
    harness.start()

    await until(lambda: all_delivered(ids), what="rows delivered")

    lines = [r for r in caplog.records if r.getMessage() == "delivered to the province"]
    named = [r for r in lines if request_id in getattr(r, "request_ids", [])]
    assert len(named) == 1, [getattr(r, "request_ids", None) for r in lines]
    line = named[0]
    evaluation_id = line.evaluation_ids[line.request_ids.index(request_id)]  # type: ignore[attr-defined]
    stored = await Evaluation.select(Evaluation.request_id).where(Evaluation.id == evaluation_id)
    assert stored == [{"request_id": request_id}]


async def test_province_down_for_a_while_then_back_every_row_counted_exactly_once(
    api: Client, province: Simulator, harness: Harness
) -> None:
    # Down until the worker has seen it fail, however long the machine takes to get there.
    await province.faults(down_seconds=3600)
    projects = [await rated_project(api) for _ in range(8)]
    ids = [i for _, project_ids in projects for i in project_ids]
    harness.start()
    await until(lambda: some_attempt_failed(ids), what="a delivery refused during the outage")
    assert not await all_delivered(ids)
    await province.faults()

    await until(lambda: all_delivered(ids), what="all rows delivered after the outage")

    for project_no, _ in projects:
        assert counted_once(await province.keys(project_no))
    assert max(r["attempts"] for r in (await states(ids)).values()) > 1  # it did retry


async def test_worker_stopped_mid_delivery_loses_nothing_and_counts_nothing_twice(
    api: Client, province: Simulator, harness: Harness
) -> None:
    await province.faults(latency_ms=600)
    projects = [await rated_project(api) for _ in range(6)]
    ids = [i for _, project_ids in projects for i in project_ids]
    harness.start()
    await until(lambda: harness_claimed(ids), seconds=5, what="rows claimed")
    await asyncio.sleep(0.3)  # requests are now in flight at the province

    await harness.stop()  # the crash: tasks cancelled mid-request, leases left behind
    assert not await all_delivered(ids)
    await province.faults()
    harness.start()

    await until(lambda: all_delivered(ids), what="all rows delivered after the restart")
    for project_no, _ in projects:
        assert counted_once(await province.keys(project_no))


async def test_a_graceful_stop_hands_back_the_rows_it_claimed_but_never_sent(
    api: Client, province: Simulator
) -> None:
    await province.faults(latency_ms=800)
    projects = [await rated_project(api) for _ in range(4)]
    ids = [i for _, project_ids in projects for i in project_ids]
    # One consumer taking two rows at a time and a queue of one batch: at most 2 rows in flight
    # and 2 claimed and waiting when the worker stops.
    harness = Harness(api, province, forward_batch_size=2, forward_concurrency=1)
    harness.start()
    assert harness.worker is not None
    worker = harness.worker
    await until(lambda: _queue_full(worker), seconds=10, what="a batch waiting in the queue")

    await harness.stop()

    now = datetime.now(UTC)
    leased = [
        row_id
        for row_id, row in (await states(ids)).items()
        if row["state"] == "pending" and _aware(row["next_attempt_at"]) > now
    ]
    assert len(leased) <= 2  # only the batch that was being sent keeps its lease
    await province.faults()


async def _queue_full(worker: InProcessWorker) -> bool:
    return worker.queue.full()


async def harness_claimed(ids: list[int]) -> bool:
    now = datetime.now(UTC)
    return any(_aware(r["next_attempt_at"]) > now for r in (await states(ids)).values())


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_a_payload_the_province_rejects_is_failed_with_its_message_and_others_flow(
    api: Client, province: Simulator, harness: Harness, operators: dict[str, Headers]
) -> None:
    project_no, good_ids = await rated_project(api, records=2)
    record_2 = (
        await ServiceRecord.select(ServiceRecord.id)
        .where(
            (ServiceRecord.service_transaction.project_no == project_no)
            & (ServiceRecord.service_number == 2)
        )
        .first()
    )
    # A bad rating without any reason: our intake refuses it, so write it behind the API's back.
    bad = await Evaluation.insert(
        Evaluation(
            service_record=record_2["id"],
            assess_number=1,
            channel="pc",
            level=1,
            tags="",
            comment="",
            idempotency_key=uuid.uuid4().hex,
            received_at=datetime.now(UTC),
        )
    ).returning(Evaluation.id)
    bad_row = (
        await Outbox.insert(Outbox(kind="evaluation", ref_id=bad[0]["id"])).returning(Outbox.id)
    )[0]["id"]
    harness.start()

    await until(lambda: all_delivered(good_ids), what="good rows delivered")
    await until(lambda: row_state(bad_row, "failed"), what="bad row failed")

    row = (await states([bad_row]))[bad_row]
    assert "差评必须勾选详情或填写文字评价" in row["last_error"]  # the province's own text
    listed = await api.get(
        "/api/v1/forwarding/failed", params={"limit": 1000}, headers=operators["supervisor"]
    )
    assert bad_row in [r["id"] for r in listed.json()]
    await harness.stop()
    retried = await api.post(f"/api/v1/forwarding/{bad_row}/retry", headers=operators["admin"])
    assert retried.status_code == 202, retried.text
    assert (await states([bad_row]))[bad_row]["state"] == "pending"
    again = await api.post(f"/api/v1/forwarding/{bad_row}/retry", headers=operators["admin"])
    assert again.status_code == 409
    assert "只有发送失败的记录" in again.json()["message"]
    await Outbox.update({Outbox.state: "failed"}).where(Outbox.id == bad_row)


async def row_state(row_id: int, state: str) -> bool:
    return (await states([row_id]))[row_id]["state"] == state


async def test_retrying_an_unknown_row_is_a_404_in_chinese(
    api: Client, operators: dict[str, Headers]
) -> None:
    response = await api.post("/api/v1/forwarding/987654321/retry", headers=operators["admin"])
    assert response.status_code == 404
    assert "不存在" in response.json()["message"]


async def test_rating_whose_record_the_province_lacks_resends_the_record_first(
    api: Client, province: Simulator, harness: Harness
) -> None:
    project_no, ids = await rated_project(api)
    record_rows = [r for r in (await states(ids)).values() if r["kind"] == "service_record"]
    # As if the record had been delivered and the province then lost it.
    await Outbox.update({Outbox.state: "delivered"}).where(Outbox.id == record_rows[0]["id"])
    harness.start()

    await until(lambda: all_delivered(ids), what="rating delivered")

    keys = await province.keys(project_no)
    pno = province_key(project_no)
    assert keys[("record", pno, "1")]["accepted"] == 1
    assert keys[("rating", pno, "1", "1")] == {"receipts": 2, "accepted": 1}


async def test_the_provinces_already_received_answer_counts_as_delivered(
    api: Client, province: Simulator, harness: Harness
) -> None:
    project_no, ids = await rated_project(api)
    forwarder = forwarder_for(harness.db, harness.settings)
    await forwarder.deliver(ids)
    await Outbox.update({Outbox.state: "pending"}).where(Outbox.id.is_in(ids))

    report = await forwarder.deliver(ids)
    await forwarder.client.close()

    assert sorted(report.delivered) == sorted(ids)
    keys = await province.keys(project_no)
    assert all(k == {"receipts": 2, "accepted": 1} for k in keys.values())


async def test_ticket_results_wait_while_their_data_source_is_missing(
    api: Client, province: Simulator, harness: Harness
) -> None:
    row = (
        await Outbox.insert(Outbox(kind="ticket_result", ref_id=987654321)).returning(Outbox.id)
    )[0]["id"]
    forwarder = forwarder_for(harness.db, harness.settings)

    report = await forwarder.deliver([row])
    await forwarder.client.close()

    assert row in report.waiting
    stored = (await states([row]))[row]
    assert stored["state"] == "pending"
    assert stored["last_error"] == TICKET_SOURCE_MISSING
    await Outbox.update({Outbox.state: "failed"}).where(Outbox.id == row)  # out of others' way


async def test_stats_and_health_report_forwarding(
    api: Client, operators: dict[str, Headers]
) -> None:
    stats = (await api.get("/api/v1/forwarding/stats", headers=operators["supervisor"])).json()
    health = (await api.get("/health")).json()

    assert set(stats) == {
        "pending",
        "delivered",
        "failed",
        "followup_refused",
        "not_forwardable",
        "oldest_pending_age_seconds",
        "pending_reason",
    }
    assert set(health["forwarding"]) == set(stats)


FORWARDING_ENDPOINTS = [
    ("GET", "/api/v1/forwarding/stats"),
    ("GET", "/api/v1/forwarding/failed"),
    ("POST", "/api/v1/forwarding/987654321/retry"),
    ("GET", "/api/v1/forwarding/reconciliation"),
]


@pytest.mark.parametrize(("method", "path"), FORWARDING_ENDPOINTS)
async def test_forwarding_endpoints_need_a_login(api: Client, method: str, path: str) -> None:
    # A browser without a session still carries the CSRF cookie any page sets (and its header).
    token = await csrf_token(api)
    response = await api.request(
        method, path, headers={"Cookie": f"hcp_csrf={token}", "X-CSRF-Token": token}
    )

    assert response.status_code == 401
    assert "登录" in response.json()["message"]


@pytest.mark.parametrize(("method", "path"), FORWARDING_ENDPOINTS)
@pytest.mark.parametrize("role", ["liaison", "deputy"])
async def test_forwarding_endpoints_refuse_liaisons_and_deputies(
    api: Client, operators: dict[str, Headers], role: str, method: str, path: str
) -> None:
    response = await api.request(method, path, headers=operators[role])

    assert response.status_code == 403
    assert response.json()["message"] == "省平台推送情况仅向监督员和系统管理员开放。"


@pytest.mark.parametrize("role", ["supervisor", "admin"])
async def test_supervisors_and_admins_read_forwarding_stats(
    api: Client, operators: dict[str, Headers], role: str
) -> None:
    response = await api.get("/api/v1/forwarding/stats", headers=operators[role])

    assert response.status_code == 200, response.text


async def test_the_last_reconciliation_is_kept_for_operators(
    api: Client,
    province: Simulator,
    harness: Harness,
    operators: dict[str, Headers],
    tmp_path: Path,
) -> None:
    forwarder = forwarder_for(harness.db, harness.settings)
    zone = forwarder.client.zone
    day = datetime.now(zone).date() - timedelta(days=400)  # nothing delivered, nothing held

    difference = await reconcile_and_record(day, forwarder.client, zone, tmp_path)
    await forwarder.client.close()
    kept = load_last(tmp_path)

    assert difference.matches
    assert kept is not None
    assert (kept["day"], kept["matches"], kept["delivered_ratings"]) == (day.isoformat(), True, 0)


async def test_reconciliation_matches_what_was_delivered_today(
    api: Client, province: Simulator, harness: Harness
) -> None:
    _, ids = await rated_project(api)
    harness.start()
    await until(lambda: all_delivered(ids), what="rows delivered")
    await until(lambda: nothing_pending(), what="outbox drained")
    forwarder = forwarder_for(harness.db, harness.settings)
    zone = forwarder.client.zone

    difference = await reconcile_day(datetime.now(zone).date(), forwarder.client, zone)
    await forwarder.client.close()

    assert difference.ratings_missing_at_province == []
    assert difference.records_missing_at_province == []
    assert difference.delivered_ratings >= 1


async def nothing_pending() -> bool:
    soon = datetime.now(UTC) + timedelta(seconds=2)
    return not await Outbox.exists().where(
        (Outbox.state == "pending")
        & (Outbox.next_attempt_at < soon)
        & (Outbox.kind != "ticket_result")
    )


_ = Path
