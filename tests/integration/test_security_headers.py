"""Security headers on every answer, and a session cookie that lives as long as the session."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from evaluation_service.identity.api import session_cookie
from evaluation_service.root.headers import security_headers
from tests.rectification_support import CHEAP_HASHER, PASSWORD

Client = httpx.AsyncClient


@pytest.mark.parametrize(
    "path",
    ["/login", "/health", "/api/v1/indicators", "/no-such-page", "/r/not-a-token", "/device"],
)
async def test_every_answer_carries_the_security_headers(api: Client, path: str) -> None:
    response = await api.get(path)

    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline' 'unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers  # plain HTTP in the tests


def test_over_https_the_answers_also_say_strict_transport_security() -> None:
    message = {"type": "http.response.start", "status": 200, "headers": []}

    asyncio.run(security_headers(https=True)(message, {"path": "/login"}))  # type: ignore[arg-type]

    names = {name.decode().lower(): value.decode() for name, value in message["headers"]}
    assert names["strict-transport-security"].startswith("max-age=")
    assert "frame-ancestors 'none'" in names["content-security-policy"]


def test_only_an_archived_report_page_may_run_its_inlined_plotly() -> None:
    def csp(path: str) -> str:
        message = {"type": "http.response.start", "status": 200, "headers": []}
        asyncio.run(security_headers(https=False)(message, {"path": path}))  # type: ignore[arg-type]
        return dict((n.decode().lower(), v.decode()) for n, v in message["headers"])[
            "content-security-policy"
        ]

    assert "'unsafe-inline'" in csp("/reports/2026-11").split("script-src")[1]
    assert "'unsafe-inline'" not in csp("/reports").split("script-src")[1]
    assert "'unsafe-inline'" not in csp("/desk").split("script-src")[1]


async def test_the_session_cookie_lives_as_long_as_the_session(api: Client) -> None:
    from evaluation_service.identity.service import create_user

    await create_user("cookie-life", "Cookie", "supervisor", PASSWORD, None, CHEAP_HASHER)
    response = await api.post(
        "/api/v1/auth/login", json={"username": "cookie-life", "password": PASSWORD}
    )
    api.cookies.clear()

    set_cookie = response.headers["set-cookie"].lower()
    assert "max-age=43200" in set_cookie  # SESSION_HOURS=12
    assert "expires=" not in set_cookie or "2083" not in set_cookie
    assert "secure" not in set_cookie.replace("samesite", "")  # off unless configured


def test_the_session_cookie_is_secure_when_configured() -> None:
    header = session_cookie("t", timedelta(hours=12), secure=True).to_header()

    assert "Secure" in header and "Max-Age=43200" in header and "HttpOnly" in header
