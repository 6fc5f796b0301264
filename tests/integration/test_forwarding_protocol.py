"""The province's own outcomes, end to end over loopback against the strict simulator: follow-up
ratings it refuses, self-built items that are never pushed, a wrong key that delivers nothing and
says why on the console, and the national indicator dictionary from its norm interface."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from connectors.actors import province_client
from connectors.province.client import province_key
from connectors.province_sim.cipher import generate_key_pair
from evaluation_service.kernel.tables import Department, Indicator, Outbox, ServiceItem
from evaluation_service.root.bootstrap import build_services, sync_indicators
from tests.forwarding_support import Simulator, forwarding_settings, until
from tests.integration.test_forwarding import (  # the fixtures are shared with that module
    Harness,
    all_delivered,
    app_state,
    counted_once,
    harness,
    operators,
    outbox_ids,
    province,
    rated_project,
    sim,
    states,
)
from tests.rectification_support import Headers
from tests.support import DEPARTMENT_CODE, auth, transaction_body

Client = httpx.AsyncClient
FIXTURES = (harness, operators, province, sim)


async def _follow_up(api: Client, project_no: str) -> int:
    """The follow-up rating (追加评价) of the project's first record; its outbox row id."""
    answer = await api.post(
        "/api/v1/transactions", json=transaction_body(project_no), headers=auth()
    )
    token = answer.json()["records"][0]["rating_token"]
    rated = await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "mobile",
            "level": 4,
            "assess_number": 2,
            "comment": "补充：取件也很快",
            "idempotency_key": uuid.uuid4().hex,
            "rating_token": token,
        },
    )
    assert rated.status_code == 201, rated.text
    row = (
        await Outbox.select(Outbox.id)
        .where((Outbox.kind == "evaluation") & (Outbox.ref_id == rated.json()["id"]))
        .first()
    )
    return int(row["id"])


async def test_a_follow_up_the_province_refuses_is_its_own_outcome_never_delivered(
    api: Client, province: Simulator, harness: Harness, operators: dict[str, Headers]
) -> None:
    project_no, first_ids = await rated_project(api)
    harness.start()
    await until(lambda: all_delivered(first_ids), what="record and first rating delivered")
    await province.faults(refuse_followups=True)

    follow_up = await _follow_up(api, project_no)

    async def settled() -> bool:
        return (await states([follow_up]))[follow_up]["state"] != "pending"

    await until(settled, what="the follow-up answered")
    row = (await states([follow_up]))[follow_up]
    assert row["state"] == "followup_refused"
    assert "评价数据不可重复" in row["last_error"]
    stats = (await api.get("/api/v1/forwarding/stats", headers=operators["supervisor"])).json()
    assert stats["followup_refused"] >= 1
    listed = await api.get("/api/v1/forwarding/failed", headers=operators["supervisor"])
    assert {"id": follow_up, "state": "followup_refused"}.items() <= next(
        r for r in listed.json() if r["id"] == follow_up
    ).items()
    page = await api.get("/console/forwarding", headers=operators["supervisor"])
    assert "追加评价被省平台拒收" in page.text


async def test_a_follow_up_the_province_takes_is_delivered_and_held_once(
    api: Client, province: Simulator, harness: Harness
) -> None:
    project_no, first_ids = await rated_project(api)
    follow_up = await _follow_up(api, project_no)
    harness.start()

    await until(lambda: all_delivered([*first_ids, follow_up]), what="all delivered")
    keys = await province.keys(project_no)
    assert ("rating", province_key(project_no), "1", "2") in keys
    assert counted_once(keys)


async def _self_built_item() -> str:
    """A county item outside the province's catalogue (its code carries 00000000)."""
    code = DEPARTMENT_CODE + "0000000099901"
    if not await ServiceItem.exists().where(ServiceItem.code == code):
        department = (
            await Department.select(Department.id).where(Department.code == DEPARTMENT_CODE).first()
        )
        await ServiceItem.insert(
            ServiceItem(code=code, name="县级自建便民服务", department=department["id"])
        )
    return code


async def test_a_self_built_item_is_kept_and_counted_but_never_pushed(
    api: Client, province: Simulator, harness: Harness, operators: dict[str, Headers]
) -> None:
    item_code = await _self_built_item()
    project_no = f"SELF-{uuid.uuid4().hex[:12]}"
    answer = await api.post(
        "/api/v1/transactions",
        json=transaction_body(project_no, item_code=item_code),
        headers=auth(),
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["records"][0]["rating_token"]
    rated = await api.post(
        "/api/v1/evaluations",
        json={
            "channel": "pc",
            "level": 5,
            "idempotency_key": uuid.uuid4().hex,
            "rating_token": token,
        },
    )
    assert rated.status_code == 201, rated.text
    ids = await outbox_ids(project_no)
    harness.start()

    async def settled() -> bool:
        return all(r["state"] != "pending" for r in (await states(ids)).values())

    await until(settled, what="self-built rows settled")
    rows = (await states(ids)).values()
    assert {r["state"] for r in rows} == {"not_forwardable"}
    assert all("00000000" in r["last_error"] or "自建" in r["last_error"] for r in rows)
    assert await province.keys(project_no) == {}
    stats = (await api.get("/api/v1/forwarding/stats", headers=operators["supervisor"])).json()
    assert stats["not_forwardable"] >= 2


async def test_a_wrong_key_delivers_nothing_says_why_and_recovers_once_fixed(
    api: Client, province: Simulator, operators: dict[str, Headers]
) -> None:
    project_no, ids = await rated_project(api)
    wrong = Harness(api, province, province_public_key=generate_key_pair().public_hex)
    wrong.start()
    try:

        async def refused() -> bool:
            return all(
                "密钥或应用标识错误" in r["last_error"] for r in (await states(ids)).values()
            )

        await until(refused, what="the province's refusal kept on every row")
        assert {r["state"] for r in (await states(ids)).values()} == {"pending"}
        assert await province.keys(project_no) == {}
        stats = (await api.get("/api/v1/forwarding/stats", headers=operators["supervisor"])).json()
        assert "密钥或应用标识错误" in stats["pending_reason"]
        page = await api.get("/console/forwarding", headers=operators["supervisor"])
        assert "密钥或应用标识错误" in page.text
    finally:
        await wrong.stop()

    right = Harness(api, province, forward_retry_max_seconds=0.2)
    await _due_now(ids)
    right.start()
    try:
        await until(lambda: all_delivered(ids), what="delivered with the right key")
    finally:
        await right.stop()
    assert counted_once(await province.keys(project_no))


async def _due_now(ids: list[int]) -> None:
    await Outbox.update({Outbox.next_attempt_at: datetime.now(UTC)}).where(Outbox.id.is_in(ids))


async def test_the_national_indicator_dictionary_comes_from_the_norm_interface(
    api: Client, province: Simulator
) -> None:
    services = app_state(api)
    # An Intake of its own: the app's keeps its cached dictionary for the session's other tests.
    intake = build_services(services.settings, services.db).intake
    client = province_client(forwarding_settings(services.settings, province))
    before = {
        row["id"] for row in await Indicator.select(Indicator.id).where(Indicator.active.eq(True))
    }
    try:
        await sync_indicators(client, intake)
        again = await sync_indicators(client, intake)
        active = await Indicator.select(Indicator.code).where(Indicator.active.eq(True))
        codes = {row["code"] for row in active}
        offered = await intake.list_indicators(1)
    finally:
        await client.close()
        # The session's other tests rely on the seeded dictionary: put it back.
        await Indicator.update({Indicator.active: False}).where(Indicator.id.not_in(list(before)))
        await Indicator.update({Indicator.active: True}).where(Indicator.id.is_in(list(before)))
    assert again == 0
    assert {"510", "517"} <= codes
    assert all(code.isdigit() for code in codes)
    assert offered and all(item.code.isdigit() for item in offered)
