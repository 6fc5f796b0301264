"""One input boundary: every bad text, number and instant is a Chinese 422, never a 500 — on
SQLite and PostgreSQL (where a NUL or an overflowing integer would reach the database)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import asyncpg
import httpx
import pytest
from litestar.response import Template

from evaluation_service.evaluations.model import says_something
from evaluation_service.root.app import _data_error, _unexpected
from tests.rectification_support import Staff, csrf_token, make_staff, new_ticket
from tests.support import auth, transaction_body

Client = httpx.AsyncClient


def _transaction(**record: Any) -> dict[str, Any]:
    body = transaction_body(f"BOUND-{uuid.uuid4().hex[:12]}")
    body["records"][0].update(record)
    return body


TRANSACTIONS = {
    "nul in a record name": _transaction(name="受理\x00"),
    "control character in a name": _transaction(name="受\x07理"),
    "trailing newline in a window number": _transaction(window_no="A01\n"),
    "service_number beyond int32": _transaction(service_number=2**31),
    "service_number of 2^63": _transaction(service_number=2**63),
    "datetime at year 1 with +14:00": _transaction(occurred_at="0001-01-01T00:00:00+14:00"),
    "datetime at year 9999 with -12:00": _transaction(occurred_at="9999-12-31T23:59:59-12:00"),
    "datetime in 1900": _transaction(occurred_at="1900-01-01T00:00:00+08:00"),
}


@pytest.mark.parametrize("body", TRANSACTIONS.values(), ids=TRANSACTIONS.keys())
async def test_a_transaction_with_bad_input_is_a_chinese_422(
    api: Client, body: dict[str, Any]
) -> None:
    response = await api.post("/api/v1/transactions", json=body, headers=auth())

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["message"])


EVALUATIONS = {
    "nul in the comment": {"comment": "好\x00"},
    "nul in the idempotency key": {"idempotency_key": "k\x00"},
    "nul in the project number": {"project_no": "P\x00"},
    "level beyond int32": {"level": 2**40},
    "service_number beyond int32": {"service_number": 2**31},
    "client_time in 9999": {"client_time": "9999-12-31T23:59:59-12:00"},
    "client_time in 1900": {"client_time": "1900-01-01T00:00:00+08:00"},
    "client_time at year 1": {"client_time": "0001-01-01T00:00:00+14:00"},
}


@pytest.mark.parametrize("fields", EVALUATIONS.values(), ids=EVALUATIONS.keys())
async def test_a_rating_with_bad_input_is_a_chinese_422(
    api: Client, fields: dict[str, Any]
) -> None:
    body = {"channel": "mobile", "level": 5, "idempotency_key": uuid.uuid4().hex}
    body.update(fields)

    response = await api.post("/api/v1/evaluations", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"


async def test_a_comment_keeps_its_line_breaks(api: Client) -> None:
    body = {"channel": "mobile", "level": 5, "idempotency_key": uuid.uuid4().hex}
    body["comment"] = "第一行\n第二行\t好"

    response = await api.post("/api/v1/evaluations", json=body)

    # Past the boundary: refused only for the missing rating link.
    assert (response.status_code, response.json()["error"]) == (401, "missing_credentials")


async def test_a_nul_in_the_login_is_a_422_not_a_500(api: Client) -> None:
    response = await api.post(
        "/api/v1/auth/login", json={"username": "ad\x00min", "password": "whatever-pass"}
    )

    assert response.status_code == 422
    assert "控制字符" in response.json()["message"]


# --- query and path parameters -------------------------------------------------------------------

BIG = 2**63
HTML = {"accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
async def staff(api: Client) -> AsyncIterator[Staff]:
    yield await make_staff(api)


QUERIES = {
    "ticket offset of 2^63": ("supervisor", f"/api/v1/tickets?offset={BIG}"),
    "ticket limit of 2^63": ("supervisor", f"/api/v1/tickets?limit={BIG}"),
    "ticket month 9999-12": ("supervisor", "/api/v1/tickets?month=9999-12"),
    "ticket month 0000-01": ("supervisor", "/api/v1/tickets?month=0000-01"),
    "nul in a department filter": ("supervisor", "/api/v1/tickets?department=a%00b"),
    "nul in a state filter": ("supervisor", "/api/v1/tickets?state=open%00"),
    "forwarding offset of 2^63": ("supervisor", f"/api/v1/forwarding/failed?offset={BIG}"),
    "report month 9999-12": ("supervisor", "/api/v1/reports/9999-12"),
    "report month 0000-01": ("supervisor", "/api/v1/reports/0000-01"),
    "report version of 2^63": ("supervisor", f"/api/v1/reports/2026-10?version={BIG}"),
    "report version beyond int32": ("supervisor", "/api/v1/reports/2026-10?version=2147483648"),
    "ticket id of 2^63": ("supervisor", f"/api/v1/tickets/{BIG}"),
    "nul in a device id": ("client", "/api/v1/devices/current?device_id=a%00b"),
}


@pytest.mark.parametrize(("who", "path"), QUERIES.values(), ids=QUERIES.keys())
async def test_a_bad_query_or_path_parameter_is_a_chinese_422(
    api: Client, staff: Staff, who: str, path: str
) -> None:
    headers = auth() if who == "client" else getattr(staff, who)
    method = "DELETE" if "devices" in path else "GET"

    response = await api.request(method, path, headers=headers)

    assert response.status_code == 422, response.text
    assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["message"])


PAGES = {
    "console page 2^60": (f"/console/tickets?page={2**60}", "超出允许范围"),
    "console month 9999-12": ("/console/tickets?month=9999-12", "月份格式应为"),
    "nul in a console filter": ("/console/tickets?department=a%00b", "控制字符"),
    "report page version 2^63": (f"/reports/2026-10?version={BIG}", "超出允许范围"),
    "report page month 0000-01": ("/reports/0000-01", "格式不正确"),
}


@pytest.mark.parametrize(("path", "says"), PAGES.values(), ids=PAGES.keys())
async def test_a_bad_query_on_a_staff_page_is_a_chinese_422_page(
    api: Client, staff: Staff, path: str, says: str
) -> None:
    response = await api.get(path, headers={**staff.supervisor, **HTML})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert says in response.text


FORM_FIELDS = {
    "nul in a note": {"note": "已联系\x00"},
    "bell in a note": {"note": "已\x07联系"},
}


@pytest.mark.parametrize("fields", FORM_FIELDS.values(), ids=FORM_FIELDS.keys())
async def test_a_control_character_in_a_ticket_form_is_refused_on_the_page(
    api: Client, staff: Staff, fields: dict[str, str]
) -> None:
    ticket = await new_ticket(api)

    response = await api.post(
        f"/desk/tickets/{ticket}/actions/accept",
        data=fields,
        headers={**staff.liaison_a, **HTML},
    )

    assert response.status_code == 422, response.text
    assert "控制字符" in response.text
    detail = await api.get(f"/api/v1/tickets/{ticket}", headers=staff.supervisor)
    assert detail.json()["state"] == "opened"


@pytest.mark.parametrize("field", ["username", "password"])
async def test_a_nul_in_the_login_form_is_refused_on_the_login_page(
    api: Client, field: str
) -> None:
    token = await csrf_token(api)
    form = {"username": "admin", "password": "whatever-pass", "_csrf_token": token}
    form[field] = "ad\x00min"

    response = await api.post("/login", data=form, headers={"Cookie": f"hcp_csrf={token}", **HTML})

    assert response.status_code == 422, response.text
    assert "控制字符" in response.text


async def test_a_nul_in_the_rating_form_comment_shows_the_form_again(api: Client) -> None:
    body = transaction_body(f"BOUND-{uuid.uuid4().hex[:12]}")
    registered = await api.post("/api/v1/transactions", json=body, headers=auth())
    token = registered.json()["records"][0]["rating_token"]

    response = await api.post(
        f"/r/{token}",
        data={"level": "2", "comment": "等太久\x00", "idempotency_key": uuid.uuid4().hex},
        headers=HTML,
    )

    assert response.status_code == 422, response.text
    assert "控制字符" in response.text


# --- JSON bodies that cannot be decoded ----------------------------------------------------------

UNDECODABLE = {
    "invalid UTF-8 in a string": b'{"channel":"mobile","level":5,"comment":"\xff\xfe"}',
    "invalid UTF-8 at the start": b'{"project_no":"\xc3\x28"}',
    "100,000 nested brackets": b"[" * 100_000,
    "100,000 nested objects": b'{"a":' * 100_000,
}


@pytest.mark.parametrize("raw", UNDECODABLE.values(), ids=UNDECODABLE.keys())
@pytest.mark.parametrize("path", ["/api/v1/evaluations", "/api/v1/transactions"])
async def test_an_undecodable_json_body_is_a_chinese_4xx(
    api: Client, path: str, raw: bytes
) -> None:
    response = await api.post(
        path, content=raw, headers={**auth(), "content-type": "application/json"}
    )

    assert response.status_code in (400, 422), response.text
    assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["message"])


# --- comments that say nothing -------------------------------------------------------------------

EMPTY_COMMENTS = {
    "spaces": "   ",
    "ideographic spaces": "\u3000\u3000",
    "zero-width spaces": "\u200b\u200b",
    "zero-width joiners and a BOM": "\u200d\u200c\ufeff",
    "mixed": " \u200b\u3000\u2060 ",
}


@pytest.mark.parametrize("comment", EMPTY_COMMENTS.values(), ids=EMPTY_COMMENTS.keys())
async def test_an_invisible_comment_is_no_reason_for_a_bad_rating(
    api: Client, comment: str
) -> None:
    body = transaction_body(f"BOUND-{uuid.uuid4().hex[:12]}")
    registered = await api.post("/api/v1/transactions", json=body, headers=auth())
    token = registered.json()["records"][0]["rating_token"]

    response = await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "mobile",
            "level": 1,
            "comment": comment,
            "idempotency_key": uuid.uuid4().hex,
            "rating_token": token,
        },
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "bad_review_needs_reason"


def test_a_comment_with_one_visible_character_says_something() -> None:
    assert says_something("\u200b差\u200b")
    assert not says_something("\u200b \u3000\ufeff")


# --- a server error -------------------------------------------------------------------------------


def _request(path: str, accept: str) -> Any:
    return SimpleNamespace(headers={"accept": accept}, url=SimpleNamespace(path=path))


def test_a_server_error_claims_nothing_about_ratings() -> None:
    answer = _unexpected(_request("/api/v1/auth/login", "application/json"), RuntimeError("x"))

    assert answer.status_code == 500
    assert "评价未丢失" not in str(answer.content)


def test_a_server_error_on_a_staff_page_is_an_html_page() -> None:
    answer = _unexpected(_request("/desk", "text/html,application/xhtml+xml"), RuntimeError("x"))

    assert isinstance(answer, Template)
    assert answer.status_code == 500


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
        asyncpg.NumericValueOutOfRangeError("integer out of range"),
        asyncpg.DataError("invalid input for query argument $1 (value out of int64 range)"),
    ],
    ids=["nul", "integer out of range", "argument out of int64 range"],
)
def test_a_database_data_error_is_a_chinese_422_not_a_500(error: Exception) -> None:
    answer = _data_error(_request("/api/v1/transactions", "application/json"), error)

    assert answer.status_code == 422
    assert answer.content["error"] == "invalid_data"


async def test_a_json_body_sent_as_text_plain_is_refused_as_415(api: httpx.AsyncClient) -> None:
    """What a cross-site form can send (`enctype="text/plain"`) is not taken as JSON."""
    response = await api.post(
        "/api/v1/evaluations",
        content=b'{"channel": "mobile", "level": 5}',
        headers={"Content-Type": "text/plain"},
    )

    assert response.status_code == 415
    assert "JSON" in response.json()["message"]
