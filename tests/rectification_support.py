"""Ticket test helpers: a second department, staff of every role, tickets made by rating."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from argon2 import PasswordHasher

from evaluation_service.evaluations.model import uscc_check_char
from evaluation_service.identity.service import create_user
from evaluation_service.kernel.tables import Department, ServiceItem
from rectification.model import Due
from rectification.service import Rectification, open_ticket
from rectification.tables import Ticket
from tests.support import DEPARTMENT_CODE, auth, transaction_body

PASSWORD = "correct-horse-battery"
# Cheap argon2 parameters for test accounts; login verifies with the parameters stored in the hash.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
OTHER_DEPARTMENT_CODE = "11370124MB0000002" + uscc_check_char("11370124MB0000002")
OTHER_ITEM_CODE = OTHER_DEPARTMENT_CODE + "0140003001001"  # 食品经营许可, like ITEM_CODE

Headers = dict[str, str]


@dataclass(frozen=True)
class Staff:
    liaison_a: Headers
    liaison_b: Headers
    supervisor: Headers
    deputy: Headers
    admin: Headers
    names: dict[str, str]


def service_of(api: httpx.AsyncClient) -> Rectification:
    """The app's own service object, for what has no HTTP route (the sweep, opening by hand)."""
    transport: Any = api._transport
    service: Rectification = transport.app.state.services.rectification
    return service


async def ensure_other_department() -> None:
    if await Department.exists().where(Department.code == OTHER_DEPARTMENT_CODE):
        return
    await Department.insert(
        Department(
            code=OTHER_DEPARTMENT_CODE, name="平阴县市场监督管理局", area_code="370124000000"
        )
    )
    department = (
        await Department.select(Department.id)
        .where(Department.code == OTHER_DEPARTMENT_CODE)
        .first()
    )
    await ServiceItem.insert(
        ServiceItem(code=OTHER_ITEM_CODE, name="食品经营许可", department=department["id"])
    )


async def login(api: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    response = await api.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    if response.status_code == 200:
        # As a browser would: the CSRF cookie any page sets, sent back as the X-CSRF-Token header
        # on every write made with the session cookie.
        response.cookies.set("hcp_csrf", await csrf_token(api))
    # The shared client must not carry one test's session into another: sessions travel explicitly.
    api.cookies.clear()
    return response


async def csrf_token(api: httpx.AsyncClient) -> str:
    """A CSRF token the app signed (its cookie, set on any page a browser opens)."""
    api.cookies.clear()
    page = await api.get("/login")
    token = page.cookies["hcp_csrf"]
    api.cookies.clear()
    return token


def session_headers(response: httpx.Response) -> Headers:
    assert response.status_code == 200, response.text
    csrf = response.cookies["hcp_csrf"]
    return {
        "Cookie": f"hcp_session={response.cookies['hcp_session']}; hcp_csrf={csrf}",
        "X-CSRF-Token": csrf,
    }


async def make_staff(api: httpx.AsyncClient) -> Staff:
    await ensure_other_department()
    suffix = uuid.uuid4().hex[:8]
    accounts = {
        "liaison_a": ("liaison", DEPARTMENT_CODE),
        "liaison_b": ("liaison", OTHER_DEPARTMENT_CODE),
        "supervisor": ("supervisor", None),
        "deputy": ("deputy", None),
        "admin": ("admin", None),
    }
    names: dict[str, str] = {}
    headers: dict[str, Headers] = {}
    for key, (role, department) in accounts.items():
        names[key] = f"{key}-{suffix}"
        await create_user(names[key], key, role, PASSWORD, department, CHEAP_HASHER)
        headers[key] = session_headers(await login(api, names[key]))
    return Staff(names=names, **headers)


async def rate_badly(
    api: httpx.AsyncClient, department: str = "A", level: int = 1, **applicant: Any
) -> dict[str, Any]:
    """Register a transaction of department A or B and rate it badly, real-name, from a phone."""
    project_no = f"TK-{uuid.uuid4().hex[:16]}"
    overrides: dict[str, Any] = {}
    if department == "B":
        overrides = {"department_code": OTHER_DEPARTMENT_CODE, "item_code": OTHER_ITEM_CODE}
    body = transaction_body(project_no, **overrides)
    body["applicant"].update(applicant)
    registered = await api.post("/api/v1/transactions", json=body, headers=auth())
    assert registered.status_code == 200, registered.text
    token = registered.json()["records"][0]["rating_token"]
    rated = await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "mobile",
            "level": level,
            "tags": ["103"] if level == 1 else ["101"],
            "comment": "材料要求没有一次说清",
            "idempotency_key": uuid.uuid4().hex,
            "rating_token": token,
        },
    )
    assert rated.status_code == 201, rated.text
    answer: dict[str, Any] = rated.json()
    return answer


async def new_ticket(api: httpx.AsyncClient, department: str = "A") -> int:
    """A ticket opened by a real-name bad rating.

    Until the intake path opens tickets itself, the rating's answer has no ticket_id and the ticket
    is opened here, in a write transaction, by the function the intake path is to call.
    """
    rating = await rate_badly(api, department)
    if rating.get("ticket_id"):
        return int(rating["ticket_id"])
    service = service_of(api)
    now = datetime.now(UTC)
    async with service.db.write():
        ticket_id = await open_ticket(rating["id"], now, service.clock.accept_due(now))
    assert ticket_id is not None
    return ticket_id


async def backdate(ticket_id: int, opened_at: datetime, due: Due) -> None:
    """Move a fresh ticket's opening and deadline into the past, for deadline and sweep tests."""
    await Ticket.update(
        {
            Ticket.opened_at: opened_at,
            Ticket.due_at: due.at,
            Ticket.warn_at: due.warn_at,
            Ticket.due_estimated: due.estimated,
        }
    ).where(Ticket.id == ticket_id)


# What a liaison records of the first call to the citizen (required before confirming or appealing).
FIRST_CONTACT = {
    "contact_method": "phone",
    "contact_outcome": "reached",
    "note": "电话联系群众核实",
}


async def act(
    api: httpx.AsyncClient, headers: Headers, ticket_id: int, action: str, **fields: Any
) -> httpx.Response:
    return await api.post(
        f"/api/v1/tickets/{ticket_id}/actions/{action}", json=fields, headers=headers
    )
