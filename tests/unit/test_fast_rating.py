"""The rating fast path answers only a rating it could decode; every other body reaches the
documented handler exactly as it arrived, so each refusal stays the handler's own."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from evaluation_service.evaluations.fast_rating import FAST_BODY_LIMIT, RatingFastPath
from evaluation_service.evaluations.schemas import EvaluationIn, EvaluationOut

RATING = {"channel": "mobile", "level": 4, "idempotency_key": "k-1", "rating_token": "t"}


class Intake:
    """Records what the fast path asked of the use case."""

    def __init__(self) -> None:
        self.calls: list[tuple[EvaluationIn, str | None]] = []

    async def submit_evaluation(
        self, data: EvaluationIn, device_key: str | None, now: datetime
    ) -> EvaluationOut:
        self.calls.append((data, device_key))
        return EvaluationOut(
            id=7,
            project_no="P-1",
            service_number=1,
            assess_number=data.assess_number,
            channel=data.channel,
            level=data.level,
            tags=data.tags,
            comment=data.comment,
            real_name=True,
            received_at=datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
        )


class Handler:
    """The documented handler behind the middleware: reads the whole body it is given."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        self.bodies.append(b"".join(chunks))
        await send({"type": "http.response.start", "status": 422, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def call(
    body: bytes, headers: list[tuple[bytes, bytes]] | None = None, chunk: int | None = None
) -> tuple[Intake, Handler, list[Any]]:
    intake, handler, sent = Intake(), Handler(), []
    if headers is None:
        headers = [(b"content-type", b"application/json")]
    size = chunk or max(len(body), 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]

    async def receive() -> Any:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    middleware = RatingFastPath(handler, intake)  # type: ignore[arg-type]
    await middleware({"type": "http", "headers": headers}, receive, send)
    return intake, handler, sent


async def test_a_well_formed_rating_is_answered_without_the_handler() -> None:
    body = json.dumps(RATING).encode()
    intake, handler, sent = await call(
        body, [(b"content-type", b"application/json; charset=utf-8"), (b"x-device-key", b"dk")]
    )
    assert handler.bodies == []
    assert [(data.level, key) for data, key in intake.calls] == [(4, "dk")]
    assert sent[0]["status"] == 201
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    answer = json.loads(sent[1]["body"])
    assert answer["id"] == 7 and answer["level"] == 4
    assert answer["received_at"] == "2026-12-07T08:00:00Z"


async def test_a_rating_in_several_chunks_is_read_whole() -> None:
    intake, handler, _ = await call(json.dumps(RATING).encode(), chunk=7)
    assert len(intake.calls) == 1 and handler.bodies == []


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        # lax values the handler converts, a wrong shape, broken JSON, invalid UTF-8, deep nesting
        (json.dumps({**RATING, "level": "4"}).encode(), None),
        (json.dumps({**RATING, "level": None}).encode(), None),
        (b'{"channel": "mobile", "level": 4', None),
        (b'{"channel": "\xff\xfe", "level": 4, "idempotency_key": "k"}', None),
        (b"[" * 100_000, None),
        (json.dumps({**RATING, "client_time": "1900-01-01T00:00:00Z"}).encode(), None),
        (b"", None),
        # not declared as JSON: the handler answers 415
        (json.dumps(RATING).encode(), [(b"content-type", b"text/plain")]),
        (json.dumps(RATING).encode(), []),
    ],
)
async def test_anything_else_reaches_the_handler_with_its_body_unread(
    body: bytes, headers: list[tuple[bytes, bytes]] | None
) -> None:
    intake, handler, sent = await call(body, headers)
    assert intake.calls == []
    assert handler.bodies == [body]
    assert sent[0]["status"] == 422  # the handler's answer, passed through


async def test_a_body_over_the_limit_reaches_the_handler_whole() -> None:
    padded = json.dumps(RATING).encode() + b" " * FAST_BODY_LIMIT
    declared = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(padded))]
    for headers, chunk in ((declared, None), (declared[:1], 4096)):  # declared, and streamed
        intake, handler, _ = await call(padded, headers, chunk)
        assert intake.calls == [] and handler.bodies == [padded]
