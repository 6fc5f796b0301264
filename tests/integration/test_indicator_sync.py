"""Replacing the indicator dictionary with the province's (Intake.replace_indicators), on SQLite
and PostgreSQL, on a database of this module's own: the other modules' rating pages keep theirs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from evaluation_service.evaluations.service import Intake
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import InvalidInput
from evaluation_service.kernel.tables import Indicator
from evaluation_service.root.app import create_app
from evaluation_service.root.bootstrap import registered_tables
from tests.conftest import fresh_database, seed_catalog, settings_for
from tests.support import auth, transaction_body

NOW = datetime.now(UTC)
OLD = "SIM-2019.9"
NEW = "SIM-2020.1"
NEW_ROWS = [
    (5, "510", "服务态度好"),
    (4, "510", "服务态度好"),
    (2, "101", "服务态度差"),
    (2, "104", "超承诺时限办结"),
    (1, "101", "服务态度差"),
    (1, "104", "超承诺时限办结"),
]


@contextmanager
def bound_to(db: Database | None) -> Iterator[None]:
    """Bind every table to `db` (None: leave them), and give the other tests theirs back after."""
    tables = registered_tables()
    saved = [(table, table._meta.db) for table in tables]
    if db is not None:
        db.bind(tables)
    try:
        yield
    finally:
        for table, engine in saved:
            table._meta.db = engine


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def sync_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    var_dir = tmp_path_factory.mktemp(f"indicator-sync-{request.param}")
    with fresh_database(request.param, var_dir, "haochaping_indicators") as url:
        yield url


@pytest.fixture(scope="module")
async def app_on_own_database(
    sync_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Intake, Database]]:
    """The whole app on this module's database, with the shared tests' small catalog."""
    with bound_to(None):  # create_app binds every table; give the other tests theirs back
        app = create_app(settings_for(sync_url, tmp_path_factory.mktemp("indicator-sync-app")))
    db: Database = app.state.services.db
    await db.start()
    try:
        with bound_to(db):
            await seed_catalog()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, app.state.services.intake, db
    finally:
        await db.close()


@pytest.fixture
async def intake(
    app_on_own_database: tuple[httpx.AsyncClient, Intake, Database],
) -> AsyncIterator[Intake]:
    """The app's Intake, over an indicator table holding only the old version, with labels."""
    _, intake, db = app_on_own_database
    with bound_to(db):
        await Indicator.delete(force=True)
        await Indicator.insert(
            Indicator(version=OLD, level=2, code="101", text="服务态度差"),
            Indicator(version=OLD, level=2, code="104", text="超承诺时限", label="超时限办结"),
            Indicator(version=OLD, level=1, code="101", text="服务态度差", label="态度很差"),
        )
        intake._cache.forget("indicators")
        yield intake


@pytest.fixture
def client(app_on_own_database: tuple[httpx.AsyncClient, Intake, Database]) -> httpx.AsyncClient:
    return app_on_own_database[0]


async def stored() -> list[tuple[str, int, str, str, str, bool]]:
    rows = await Indicator.select().order_by(Indicator.version).order_by(Indicator.level)
    return sorted(
        (r["version"], r["level"], r["code"], r["text"], r["label"], r["active"]) for r in rows
    )


async def test_a_new_version_becomes_current_and_every_other_version_is_retired(
    intake: Intake,
) -> None:
    changes = await intake.replace_indicators(NEW, NEW_ROWS, now=NOW)

    current = await intake.indicators()
    active = {(r[0], r[1], r[2]) for r in await stored() if r[5]}
    assert changes == len(NEW_ROWS) + 3
    assert current.version == NEW
    assert active == {(NEW, level, code) for level, code, _ in NEW_ROWS}
    assert current.codes[2] == frozenset({"101", "104"})
    assert [r[:3] for r in await stored() if not r[5]] == [
        (OLD, 1, "101"),
        (OLD, 2, "101"),
        (OLD, 2, "104"),
    ]


async def test_replaying_the_same_version_changes_nothing(intake: Intake) -> None:
    await intake.replace_indicators(NEW, NEW_ROWS, now=NOW)
    before = await stored()

    changes = await intake.replace_indicators(NEW, list(reversed(NEW_ROWS)), now=NOW)

    assert changes == 0
    assert await stored() == before


async def test_the_county_label_follows_its_code_and_level_into_the_new_version(
    intake: Intake,
) -> None:
    await intake.replace_indicators(NEW, NEW_ROWS, now=NOW)

    labels = {(r[1], r[2]): r[4] for r in await stored() if r[0] == NEW}
    assert labels == {
        (5, "510"): "",
        (4, "510"): "",
        (2, "101"): "",
        (2, "104"): "超时限办结",
        (1, "101"): "态度很差",
        (1, "104"): "",
    }


async def test_the_offered_text_is_the_label_when_set_and_the_national_text_otherwise(
    intake: Intake,
) -> None:
    await intake.replace_indicators(NEW, NEW_ROWS, now=NOW)

    offered = await intake.list_indicators(2)

    assert [(i.code, i.text, i.national_text, i.version) for i in offered] == [
        ("101", "服务态度差", "服务态度差", NEW),
        ("104", "超时限办结", "超承诺时限办结", NEW),
    ]


async def test_within_one_version_a_changed_text_is_updated_and_a_dropped_code_retired(
    intake: Intake,
) -> None:
    await intake.replace_indicators(NEW, NEW_ROWS, now=NOW)
    revised = [row for row in NEW_ROWS if row[1] != "104"]
    revised[0] = (5, "510", "服务态度热情周到")

    changes = await intake.replace_indicators(NEW, revised, now=NOW)

    current = await intake.indicators()
    assert changes == 1 + 2  # one text, two retired rows of code 104
    assert current.codes[2] == frozenset({"101"})
    assert [i.text for i in current.by_level[5]] == ["服务态度热情周到"]


async def test_going_back_to_a_retired_version_brings_its_rows_and_labels_back(
    intake: Intake,
) -> None:
    await intake.replace_indicators(NEW, NEW_ROWS, now=NOW)

    changes = await intake.replace_indicators(
        OLD,
        [(2, "101", "服务态度差"), (2, "104", "超承诺时限"), (1, "101", "服务态度差")],
        now=NOW,
    )

    current = await intake.indicators()
    assert changes == 3 + len(NEW_ROWS)
    assert current.version == OLD
    assert [i.text for i in current.by_level[1]] == ["态度很差"]


@pytest.mark.parametrize(
    ("version", "rows", "error"),
    [
        (NEW, [], "empty_indicator_dictionary"),
        (NEW, [(6, "601", "太好了")], "bad_indicator_level"),
        (NEW, [(2, "1 01", "服务态度差")], "bad_code"),
        (NEW, [(2, "101", "")], "bad_indicator_text"),
        (NEW, [(2, "101", "服务态度差"), (2, "101", "态度不好")], "conflicting_indicator"),
        ("SIM 2020", NEW_ROWS, "bad_indicator_version"),
    ],
    ids=["empty", "level", "code", "text", "conflict", "version"],
)
async def test_a_broken_dictionary_is_refused_and_the_current_one_kept(
    intake: Intake, version: str, rows: list[tuple[int, str, str]], error: str
) -> None:
    before = await stored()

    with pytest.raises(InvalidInput) as refused:
        await intake.replace_indicators(version, rows, now=NOW)

    assert refused.value.code == error
    assert await stored() == before
    assert (await intake.indicators()).version == OLD


async def test_a_repeated_row_with_the_same_text_counts_once(intake: Intake) -> None:
    changes = await intake.replace_indicators(NEW, NEW_ROWS + NEW_ROWS[:2], now=NOW)

    assert changes == len(NEW_ROWS) + 3


async def test_two_syncs_at_once_leave_one_copy_of_the_new_version(intake: Intake) -> None:
    results = await asyncio.gather(
        intake.replace_indicators(NEW, NEW_ROWS, now=NOW),
        intake.replace_indicators(NEW, NEW_ROWS, now=NOW),
    )

    assert sorted(results) == [0, len(NEW_ROWS) + 3]
    assert [r[:3] for r in await stored() if r[5]] == sorted(
        (NEW, level, code) for level, code, _ in NEW_ROWS
    )


# --- what citizens and devices see after a sync ---------------------------------------------------


async def registered_token(api: httpx.AsyncClient) -> str:
    body = transaction_body(f"SYNC-{uuid.uuid4().hex[:16]}")
    response = await api.post("/api/v1/transactions", json=body, headers=auth())
    assert response.status_code == 200, response.text
    token: str = response.json()["records"][0]["rating_token"]
    return token


async def rate(api: httpx.AsyncClient, token: str, tags: list[str]) -> Any:
    return await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "mobile",
            "level": 2,
            "tags": tags,
            "idempotency_key": uuid.uuid4().hex,
            "rating_token": token,
        },
    )


async def test_after_a_sync_the_api_and_the_rating_page_offer_the_new_dictionary(
    intake: Intake, client: httpx.AsyncClient
) -> None:
    await intake.replace_indicators(NEW, NEW_ROWS, now=NOW)
    token = await registered_token(client)

    offered = (await client.get("/api/v1/indicators", params={"level": 2})).json()
    page = (await client.get(f"/r/{token}")).text

    assert [(i["code"], i["text"], i["version"]) for i in offered] == [
        ("101", "服务态度差", NEW),
        ("104", "超时限办结", NEW),
    ]
    # Code 104 is labelled at level 2 only: level 1 shows the national text.
    assert 'for="tag-2-104">超时限办结<' in page
    assert 'for="tag-1-104">超承诺时限办结<' in page


async def test_after_a_sync_a_rating_is_checked_against_the_new_dictionary(
    intake: Intake, client: httpx.AsyncClient
) -> None:
    await intake.replace_indicators(
        NEW,
        [(2, "102", "未一次性告知导致多次跑腿"), (1, "101", "服务态度差")],
        now=None,  # type: ignore[arg-type]
    )

    retired_code = await rate(client, await registered_token(client), ["104"])
    new_code = await rate(client, await registered_token(client), ["102"])

    assert (retired_code.status_code, retired_code.json()["error"]) == (422, "tag_not_for_level")
    assert new_code.status_code == 201, new_code.text
