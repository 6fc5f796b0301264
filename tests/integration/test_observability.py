"""What an operator watches: /metrics counts stored ratings and reads the outbox and tickets, every
answer carries a request id, and the log line of a stored rating names it with the evaluation."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

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


async def test_the_log_line_of_a_stored_rating_names_its_request_and_evaluation(
    api: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="haochaping.intake")
    project_no, _ = await rated_project(api, level=5)
    record = next(r for r in caplog.records if getattr(r, "project_no", None) == project_no)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "rating accepted"
    assert re.fullmatch(r"[0-9a-f]{16}", line["request_id"])
    assert isinstance(line["evaluation_id"], int)
    assert line["channel"] == "mobile" and line["rating_level"] == 5
    assert line["level"] == "INFO"
