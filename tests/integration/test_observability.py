"""What an operator watches: /metrics counts stored ratings and reads the outbox and tickets, every
answer carries a request id, and a stored rating keeps it in its row."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from evaluation_service.kernel.tables import Evaluation
from evaluation_service.root.observability import JsonFormatter
from tests.integration.test_forwarding import rated_project

Client = httpx.AsyncClient


def sample(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_metrics_count_a_stored_rating_by_channel_and_level(api: Client) -> None:
    accepted = "haochaping_ratings_accepted_total"
    labels = '{channel="mobile",level="2"}'
    before = sample((await api.get("/metrics")).text, accepted, labels)
    await rated_project(api, level=2)
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert sample(response.text, accepted, labels) == before + 1
    # Read from the database at scrape time (the outbox figures are /health's, up to 2 s old).
    assert sample(response.text, "haochaping_tickets_open") >= 1  # a level-2 real-name 差评
    for gauge in ("outbox_pending", "outbox_delivered", "outbox_failed", "tickets_overdue"):
        assert re.search(rf"^haochaping_{gauge} \d", response.text, re.MULTILINE), gauge
    route = 'route="/api/v1/evaluations",status="201"'
    assert re.search(
        rf"haochaping_http_request_duration_seconds_count{{[^}}]*{route}", response.text
    )


async def test_every_answer_carries_a_request_id_and_a_given_one_is_kept(api: Client) -> None:
    fresh = await api.get("/health")
    assert re.fullmatch(r"[0-9a-f]{16}", fresh.headers["x-request-id"])
    given = await api.get("/health", headers={"X-Request-ID": "lb-7f3a.42"})
    assert given.headers["x-request-id"] == "lb-7f3a.42"
    hostile = await api.get("/health", headers={"X-Request-ID": 'a b"{}'})
    assert hostile.headers["x-request-id"] != 'a b"{}'


# A rating whose link was tampered with: the use case refuses it 401.
FORGED_RATING = {
    "channel": "mobile",
    "level": 5,
    "idempotency_key": "observe-01",
    "rating_token": "1.2.1.x",
}


async def test_answers_refused_before_or_outside_a_route_carry_a_request_id_too(
    api: Client,
) -> None:
    # 404 and 405 are refused by the router, before any route's middleware; a rating the use case
    # refuses reaches the app's exception handlers from the rating fast path, outside the route's.
    unknown = await api.get("/no-such-page", headers={"X-Request-ID": "lb-404"})
    wrong_method = await api.get("/api/v1/evaluations", headers={"X-Request-ID": "lb-405"})
    refused = await api.post(
        "/api/v1/evaluations",
        json=FORGED_RATING,
        headers={"X-Request-ID": "lb-401"},
    )
    assert (unknown.status_code, unknown.headers["x-request-id"]) == (404, "lb-404")
    assert (wrong_method.status_code, wrong_method.headers["x-request-id"]) == (405, "lb-405")
    assert (refused.status_code, refused.headers["x-request-id"]) == (401, "lb-401")


async def test_a_refused_rating_is_timed_under_the_status_it_was_answered_with(
    api: Client,
) -> None:
    series = "haochaping_http_request_duration_seconds_count"
    labels = '{method="POST",route="/api/v1/evaluations",status="401"}'
    before = sample((await api.get("/metrics")).text, series, labels)
    refused = await api.post(
        "/api/v1/evaluations",
        json=FORGED_RATING,
    )
    assert refused.status_code == 401
    assert sample((await api.get("/metrics")).text, series, labels) == before + 1


async def test_a_stored_rating_keeps_the_id_of_its_request_in_its_row(
    api: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    project_no, _ = await rated_project(api, level=5, request_id="lb-7f3a.43")
    rows = await stored_request_ids(project_no)
    assert rows == ["lb-7f3a.43"]
    # The row is the trace; the web writes no line per stored rating (it cost 10-15 % of the
    # intake's CPU at saturation).
    assert not [r for r in caplog.records if getattr(r, "request_id", "-") == "lb-7f3a.43"]


async def test_a_rating_without_a_given_request_id_keeps_a_new_one(
    api: Client,
) -> None:
    project_no, _ = await rated_project(api, level=4)
    [request_id] = await stored_request_ids(project_no)
    assert re.fullmatch(r"[0-9a-f]{16}", request_id)


async def stored_request_ids(project_no: str) -> list[str]:
    rows = await Evaluation.select(Evaluation.request_id).where(
        Evaluation.service_record.service_transaction.project_no == project_no  # type: ignore[union-attr]
    )
    return [row["request_id"] for row in rows]


def test_log_lines_are_json_with_the_request_id_and_extra_fields() -> None:
    record = logging.LogRecord("haochaping.forwarding", logging.INFO, __file__, 1, "sent", (), None)
    record.request_id = "abc"
    record.outbox_ids = [1, 2]
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "sent" and line["request_id"] == "abc"
    assert line["outbox_ids"] == [1, 2] and line["level"] == "INFO"
