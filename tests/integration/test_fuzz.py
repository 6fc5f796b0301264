"""Schemathesis over the app's own OpenAPI, in process: every documented operation gets generated
valid and invalid input, as a business system (Bearer token) and as a staff member (session cookie
and CSRF header). No answer may be a 5xx, and each must match its documented status and schema.

The app runs on a database of its own (lockouts per address and fuzzed records must not reach the
other tests), on each backend. Hypothesis runs in a worker thread; requests go back to the test's
event loop, where the app's database pool lives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from piccolo.conf.apps import Finder
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evaluation_service.root.app import create_app
from tests.conftest import BACKENDS, fresh_database, seed_catalog, settings_for
from tests.rectification_support import make_staff, new_ticket
from tests.support import CLIENT_TOKEN

Client = httpx.AsyncClient
BASE_URL = "http://testserver"
EXAMPLES = 20  # per operation and generation mode: about 700 requests, 20-30 s per backend
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Logging out would end the session the rest of the run uses.
SKIPPED = {("POST", "/api/v1/auth/logout")}
# Who calls: a supervisor reaches every staff route but the login audit, which is the admin's.
ADMIN_PATHS = {"/api/v1/auth/failures"}


@pytest.fixture(params=BACKENDS)
def fuzz_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with fresh_database(request.param, tmp_path, "haochaping_fuzz") as url:
        yield url, tmp_path


@pytest.fixture
async def fuzzed(fuzz_database: tuple[str, Path]) -> AsyncIterator[Client]:
    """An app on a database of its own; Piccolo binds tables globally, so the session app's binding
    is put back afterwards."""
    tables = Finder().get_table_classes()
    saved = {table: table._meta.db for table in tables}
    url, var_dir = fuzz_database
    app = create_app(settings_for(url, var_dir))
    await app.state.services.db.start()
    try:
        await seed_catalog()
        transport = httpx.ASGITransport(app=app)
        async with Client(transport=transport, base_url=BASE_URL) as client:
            yield client
    finally:
        await app.state.services.db.close()
        for table, engine in saved.items():
            table._meta.db = engine


@dataclass
class Figures:
    operations: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


async def _send(client: Client, kwargs: dict[str, Any]) -> httpx.Response:
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body["content" if isinstance(data, bytes | str) else "data"] = data
    return await client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        **body,
    )


def _fuzz(
    spec: dict[str, Any],
    client: Client,
    loop: asyncio.AbstractEventLoop,
    headers: dict[str, dict[str, str]],
) -> Figures:
    figures = Figures()
    schema = schemathesis.openapi.from_dict(spec)
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        figures.operations += 1
        for mode in GenerationMode:
            # Nothing to make invalid in an operation without parameters or body.
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                who = "admin" if operation.path in ADMIN_PATHS else "supervisor"
                _fuzz_operation(operation, mode, client, loop, headers[who], figures)
    return figures


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    client: Client,
    loop: asyncio.AbstractEventLoop,
    headers: dict[str, str],
    figures: Figures,
) -> None:
    name = f"{operation.method.upper()} {operation.path} [{mode.value}]"

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=BASE_URL)
        # Our credentials win over generated ones: the point is to get past the guards.
        kwargs["headers"] = {**kwargs.get("headers", {}), **headers}
        response = asyncio.run_coroutine_threadsafe(_send(client, kwargs), loop).result()
        figures.requests += 1
        figures.statuses[response.status_code] = figures.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as failure:
            figures.failures.append(f"{name} {response.status_code}: {str(failure)[:600]}")

    check()


async def test_the_openapi_fuzz_finds_no_server_error_and_only_documented_answers(
    fuzzed: Client,
) -> None:
    staff = await make_staff(fuzzed)
    await new_ticket(fuzzed)
    bearer = {"Authorization": f"Bearer {CLIENT_TOKEN}"}
    headers = {"supervisor": {**bearer, **staff.supervisor}, "admin": {**bearer, **staff.admin}}
    spec = (await fuzzed.get("/schema/openapi.json")).json()

    loop = asyncio.get_running_loop()
    figures = await asyncio.to_thread(_fuzz, spec, fuzzed, loop, headers)

    print(
        f"\nschemathesis: {figures.operations} operations, {figures.requests} requests, "
        f"{len(figures.failures)} failures; statuses {dict(sorted(figures.statuses.items()))}"
    )
    for failure in figures.failures:
        print(failure)
    assert not figures.failures
