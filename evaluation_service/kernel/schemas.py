"""Request shapes every package's HTTP edge shares (the one kernel module that knows Litestar)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from evaluation_service.kernel.inputs import INT32_MAX, ONE_LINE

# A row id in a path: the tables' serial keys are 32-bit, so a larger number is a client error
# answered 422 before it reaches the database (where it would be an overflow).
RowId = Annotated[int, PathParameter(ge=1, le=INT32_MAX)]

# Paging and version numbers in a query, bounded for the same reason (LIMIT/OFFSET are bigint on
# PostgreSQL, but SQLite and asyncpg overflow at 2^63 and nothing real comes near int32).
Offset = Annotated[int, QueryParameter(ge=0, le=INT32_MAX)]
Limit = Annotated[int, QueryParameter(ge=1, le=INT32_MAX)]
Version = Annotated[int | None, QueryParameter(ge=1, le=INT32_MAX)]

# A filter typed into a query string: one line, no control characters (a NUL would reach
# PostgreSQL, which refuses it), and short.
QueryText = Annotated[str | None, QueryParameter(max_length=200, pattern=ONE_LINE)]
# The same under the query name `state` (a nested Annotated would lose the bounds).
StateFilter = Annotated[str | None, QueryParameter(name="state", max_length=200, pattern=ONE_LINE)]


class ErrorOut(msgspec.Struct):
    """The body of every refusal (the app's exception handlers, root/app.py)."""

    error: str
    message: str
    message_en: str
    field: str | None = None


_REFUSALS = {
    400: "Malformed request (not JSON, or not the documented shape)",
    401: "No or invalid credentials",
    403: "The caller may not do this",
    404: "No such resource",
    409: "Conflicts with the current state (already done, key reused with another body)",
    410: "Too late (the rating period is over)",
    413: "The body is too large",
    415: "The body is not declared as JSON (Content-Type: application/json)",
    422: "Invalid input: the message names the field and the reason",
    429: "Too many failed attempts from this device: wait and try again",
}


def refusals(*codes: int) -> dict[int, ResponseSpec]:
    """The documented error answers of a JSON route: 400, 415 and 422 (any input can be malformed,
    not declared as JSON, or invalid) and `codes`, each with the one error body. What the route
    really answers is checked by the OpenAPI fuzz test (tests/integration/test_fuzz.py)."""
    return {
        code: ResponseSpec(ErrorOut, description=_REFUSALS[code], generate_examples=False)
        for code in sorted({400, 415, 422, *codes})
    }
