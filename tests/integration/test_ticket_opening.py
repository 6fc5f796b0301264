"""Opening a ticket with its rating: the Piccolo path and the one-statement SQL (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from rectification.service import open_ticket, ticket_insert_ctes, ticket_insert_params
from rectification.tables import Ticket, TicketEvent
from tests.rectification_support import new_ticket, service_of
from tests.support import auth, transaction_body

Client = httpx.AsyncClient


async def test_a_real_name_bad_rating_opens_one_ticket_with_its_opened_event(api: Client) -> None:
    ticket_id = await new_ticket(api)

    row = (
        await Ticket.select(Ticket.state, Ticket.level, Ticket.window_no, Ticket.due_at)
        .where(Ticket.id == ticket_id)
        .first()
    )
    events = await TicketEvent.select(TicketEvent.action, TicketEvent.to_state).where(
        TicketEvent.ticket == ticket_id
    )

    assert (row["state"], row["level"], row["window_no"]) == ("opened", 1, "W01")
    assert row["due_at"] is not None
    assert events == [{"action": "open", "to_state": "opened"}]


async def test_a_second_ticket_for_the_same_record_is_refused_by_the_database(
    api: Client,
) -> None:
    ticket_id = await new_ticket(api)
    row = (
        await Ticket.select(*Ticket.all_columns(exclude=[Ticket.id]))
        .where(Ticket.id == ticket_id)
        .first()
    )
    service = service_of(api)
    now = datetime.now(UTC)

    with pytest.raises(Exception, match=r"(?i)unique"):
        async with service.db.write():
            await Ticket.insert(Ticket(**row))
    async with service.db.write():
        again = await open_ticket(row["evaluation"], now, service.clock.accept_due(now))

    assert again == ticket_id
    assert await Ticket.count().where(Ticket.service_record == row["service_record"]) == 1
    assert await TicketEvent.count().where(TicketEvent.ticket == ticket_id) == 1


async def test_a_good_rating_opens_no_ticket(api: Client) -> None:
    good = await _good_rating(api)
    service = service_of(api)
    now = datetime.now(UTC)

    async with service.db.write():
        opened = await open_ticket(good, now, service.clock.accept_due(now))

    assert opened is None


async def _good_rating(api: Client) -> int:
    body = transaction_body(f"TK-{uuid.uuid4().hex[:16]}")
    token = (await api.post("/api/v1/transactions", json=body, headers=auth())).json()["records"][
        0
    ]["rating_token"]
    rated = await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "mobile",
            "level": 5,
            "idempotency_key": uuid.uuid4().hex,
            "rating_token": token,
        },
    )
    return int(rated.json()["id"])


async def test_the_ticket_ctes_open_a_ticket_in_the_rating_statement_on_postgres(
    api: Client, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("TICKET_INSERT_SQL is the PostgreSQL one-statement path")
    body = transaction_body(f"TK-{uuid.uuid4().hex[:16]}")
    token = (await api.post("/api/v1/transactions", json=body, headers=auth())).json()["records"][
        0
    ]["rating_token"]
    record_id = int(token.split(".")[0])
    service = service_of(api)
    now = datetime.now(UTC)
    sql = (
        """
        WITH ins AS (
            INSERT INTO evaluation (service_record, assess_number, channel, level, tags, comment,
                real_name, is_default, idempotency_key, indicator_version, received_at)
            VALUES ($1, 1, 'mobile', 1, '103', '多次跑腿', true, false, $2, 'SIM-2020.1', $3)
            RETURNING id, service_record, level, comment, real_name, received_at
        ),"""
        + ticket_insert_ctes(4)
        + """
        SELECT ins.id, (SELECT id FROM rating_ticket) AS ticket_id FROM ins"""
    )

    async with service.db.pool.acquire() as connection:
        row = await connection.fetchrow(
            sql,
            record_id,
            uuid.uuid4().hex,
            now,
            *ticket_insert_params(service.clock.accept_due(now)),
        )

    ticket = (
        await Ticket.select(Ticket.evaluation, Ticket.department, Ticket.state)
        .where(Ticket.id == row["ticket_id"])
        .first()
    )
    events = await TicketEvent.count().where(TicketEvent.ticket == row["ticket_id"])
    assert (ticket["evaluation"], ticket["state"]) == (row["id"], "opened")
    assert events == 1
