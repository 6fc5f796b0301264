"""One input boundary: every bad text, number and instant is a Chinese 422, never a 500 — on
SQLite and PostgreSQL (where a NUL or an overflowing integer would reach the database)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from litestar.response import Template

from evaluation_service.root.app import _unexpected
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
