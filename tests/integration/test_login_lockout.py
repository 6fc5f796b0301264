"""The login lockout under concurrency: per account name and per client address, growing, silent
about which names exist, and audited for admins. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from evaluation_service.identity.service import Identity, LoginPolicy
from evaluation_service.kernel.clock import utcnow
from evaluation_service.kernel.errors import Unauthenticated
from tests.rectification_support import (
    CHEAP_HASHER,
    PASSWORD,
    Staff,
    make_staff,
)

Client = httpx.AsyncClient
LOCKED = {"account_locked", "address_locked"}


def _from_address(api: Client, address: str) -> Client:
    """A client of the same app whose requests come from `address` (the per-address key)."""
    app: Any = api._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"


async def _login(client: Client, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )


async def _new_user(role: str = "supervisor") -> str:
    from evaluation_service.identity.service import create_user

    username = f"burst-{uuid.uuid4().hex[:8]}"
    await create_user(username, "并发测试", role, PASSWORD, None, CHEAP_HASHER)
    return username


@pytest.fixture(scope="module")
async def staff(api: Client) -> AsyncIterator[Staff]:
    yield await make_staff(api)


async def test_a_concurrent_burst_of_wrong_passwords_from_many_addresses_locks_the_account(
    api: Client,
) -> None:
    username = await _new_user()
    clients = [_from_address(api, _address()) for _ in range(100)]

    answers = await asyncio.gather(*[_login(c, username, "wrong-password") for c in clients])
    right_one = await _login(_from_address(api, _address()), username, PASSWORD)

    errors = [a.json()["error"] for a in answers]
    assert {a.status_code for a in answers} == {401}
    # Only the first five guesses were checked at all: at most four told "wrong", the rest locked.
    assert errors.count("bad_credentials") <= 4
    assert errors.count("account_locked") >= 96
    assert (right_one.status_code, right_one.json()["error"]) == (401, "account_locked")


async def test_a_concurrent_burst_with_the_right_password_last_does_not_log_in(
    api: Client,
) -> None:
    username = await _new_user()
    client = _from_address(api, _address())

    answers = await asyncio.gather(
        *[_login(client, username, "wrong-password") for _ in range(100)],
        _login(client, username, PASSWORD),
    )

    assert [a.status_code for a in answers].count(200) == 0
    assert answers[-1].json()["error"] in LOCKED


async def test_one_address_guessing_many_names_is_locked_while_others_still_log_in(
    api: Client,
) -> None:
    username = await _new_user()
    guesser, colleague = _from_address(api, _address()), _from_address(api, _address())

    answers = await asyncio.gather(
        *[_login(guesser, f"nobody-{i}-{uuid.uuid4().hex[:6]}", "guess-guess") for i in range(40)]
    )
    from_guesser = await _login(guesser, username, PASSWORD)
    from_colleague = await _login(colleague, username, PASSWORD)

    assert [a.json()["error"] for a in answers].count("address_locked") >= 10
    assert (from_guesser.status_code, from_guesser.json()["error"]) == (401, "address_locked")
    assert "该登录地址已锁定" in from_guesser.json()["message"]
    assert from_colleague.status_code == 200


async def test_an_unknown_name_is_answered_and_locked_exactly_like_a_real_one(
    api: Client,
) -> None:
    real, unknown = await _new_user(), f"ghost-{uuid.uuid4().hex[:8]}"
    client = _from_address(api, _address())

    def shape(response: httpx.Response) -> tuple[int, str, str]:
        body = response.json()
        return response.status_code, body["error"], body["message"].split("锁定至")[0]

    real_answers = [shape(await _login(client, real, "wrong-password")) for _ in range(6)]
    unknown_answers = [shape(await _login(client, unknown, "wrong-password")) for _ in range(6)]

    assert real_answers == unknown_answers
    assert [error for _, error, _ in unknown_answers] == ["bad_credentials"] * 4 + [
        "account_locked"
    ] * 2


async def test_each_lock_of_the_same_name_lasts_twice_as_long_as_the_last(api: Client) -> None:
    identity: Identity = api._transport.app.state.services.identity  # type: ignore[attr-defined]
    username, address = await _new_user(), _address()
    policy = identity.login_policy
    now = utcnow()

    async def lock_until(at: Any) -> Any:
        refusal = None
        for _ in range(policy.max_failures):
            try:
                await identity.login(username, "wrong-password", at, address)
            except Unauthenticated as error:
                refusal = error
        assert refusal is not None and refusal.code == "account_locked"
        return refusal

    await lock_until(now)
    first_ends = now + policy.lockout
    second = await lock_until(first_ends + timedelta(seconds=1))

    assert policy.lock_length(0) == policy.lockout
    assert policy.lock_length(1) == 2 * policy.lockout
    second_ends = first_ends + timedelta(seconds=1) + 2 * policy.lockout
    assert f"locked until {second_ends.isoformat()[:16]}" in second.en
    with pytest.raises(Unauthenticated, match="locked until"):
        await identity.login(username, PASSWORD, first_ends + timedelta(minutes=20), address)
    logged_in = await identity.login(
        username, PASSWORD, first_ends + timedelta(seconds=2) + 2 * policy.lockout, address
    )
    assert logged_in.user.username == username


def test_the_lock_grows_to_a_day_and_no_further() -> None:
    policy = LoginPolicy(lockout=timedelta(minutes=15))

    lengths = [policy.lock_length(n) for n in range(10)]

    assert lengths[:4] == [timedelta(minutes=m) for m in (15, 30, 60, 120)]
    assert lengths[-1] == timedelta(hours=24)


async def test_refused_logins_are_audited_and_visible_to_admins_only(
    api: Client, staff: Staff
) -> None:
    unknown = f"ghost-{uuid.uuid4().hex[:8]}"
    address = _address()
    await _login(_from_address(api, address), unknown, "wrong-password")

    as_admin = await api.get("/api/v1/auth/failures?limit=1000", headers=staff.admin)
    as_supervisor = await api.get("/api/v1/auth/failures", headers=staff.supervisor)

    assert as_admin.status_code == 200
    mine = [row for row in as_admin.json() if row["username"] == unknown]
    assert [(r["address"], r["reason"]) for r in mine] == [(address, "bad_credentials")]
    assert as_supervisor.status_code == 403


async def test_a_successful_login_starts_the_name_count_again(api: Client) -> None:
    username = await _new_user()
    client = _from_address(api, _address())

    for _ in range(4):
        await _login(client, username, "wrong-password")
    assert (await _login(client, username, PASSWORD)).status_code == 200
    after = [(await _login(client, username, "wrong-password")).json()["error"] for _ in range(4)]

    assert after == ["bad_credentials"] * 4
