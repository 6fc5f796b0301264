"""The rating hot path: a well-formed rating is answered without Litestar's handler machinery.

`POST /api/v1/evaluations` is the one route that runs thousands of times a second. Litestar's work
around its handler — a Request object, the kwargs and signature models that decode the body and the
X-Device-Key header, a Response turned into an ASGI response — measured about 180 us of the 445 us
of CPU the app spent on a rating (in-process, no HTTP; bench/intake.py saw the same share through
uvicorn). This middleware, on that one handler, decodes the body straight into `EvaluationIn`,
calls the same use case and encodes the same `EvaluationOut`.

It only ever answers a rating it could decode. Anything else — another media type, a body that is
not strict JSON of the documented shape (msgspec's strict mode accepts a subset of what the
handler's lax conversion accepts, with the same values), a body larger than `FAST_BODY_LIMIT` —
goes on to the documented handler with the body handed back unread, so every refusal is Litestar's
own and reads as before. Errors the use case raises (401, 404, 409, 410 …) propagate to the app's
exception handlers exactly as from the handler. Routing, the app's middleware (request id, latency
histogram), its security headers and the OpenAPI schema (from the handler's signature) are
Litestar's as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from evaluation_service.evaluations.schemas import EvaluationIn, EvaluationOut
from evaluation_service.evaluations.service import Intake

# A rating with the longest comment allowed (20,000 characters, up to 3 bytes each in UTF-8) fits.
FAST_BODY_LIMIT = 128 * 1024

_decode = msgspec.json.Decoder(EvaluationIn).decode
_encode = msgspec.json.Encoder().encode
_JSON_HEADER = (b"content-type", b"application/json")


class RatingFastPath:
    """ASGI middleware on the rating handler (`RatingController.submit_evaluation`)."""

    def __init__(self, app: ASGIApp, intake: Intake) -> None:
        self.app = app
        self.intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        if not _is_json(headers.get(b"content-type", b"")):
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > FAST_BODY_LIMIT):
            await self.app(scope, receive, send)
            return
        messages, body = await _read(receive)
        data = _rating(body)
        if data is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        device_key = headers.get(b"x-device-key")
        stored = await self.intake.submit_evaluation(
            data, device_key.decode("latin-1") if device_key else None, datetime.now(UTC)
        )
        await _answer(send, stored)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    # The first of a repeated header, as Litestar's Headers.get gives it to the handler.
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.lower(), value)
    return found


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


async def _read(receive: Receive) -> tuple[list[Any], bytes | None]:
    """The body's messages as received, and the body (None when it outgrew the limit or the client
    went away: the handler then reads the rest, or sees the disconnect, itself)."""
    messages: list[Any] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > FAST_BODY_LIMIT:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _rating(body: bytes | None) -> EvaluationIn | None:
    if not body:
        return None
    try:
        return _decode(body)
    except Exception:
        # Malformed JSON, the wrong shape, invalid UTF-8, nesting too deep, a bad client_time
        # (EvaluationIn.__post_init__): the handler refuses each in its own words.
        return None


def _replay(messages: Sequence[Any], receive: Receive) -> Receive:
    """`receive` for the handler: the messages already read, then the connection's own."""
    pending = list(messages)

    async def replayed() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _answer(send: Send, stored: EvaluationOut) -> None:
    body = _encode(stored)
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [_JSON_HEADER, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
