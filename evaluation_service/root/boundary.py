"""The input boundary's last line: undecodable JSON bodies, and the database's own data errors."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException

from evaluation_service.kernel.errors import InvalidInput

log = logging.getLogger("haochaping")

NOT_UTF8 = InvalidInput(
    "bad_encoding",
    "请求内容不是有效的 UTF-8 编码的 JSON，请检查后重试。",
    "the request body is not valid UTF-8",
)
TOO_DEEP = InvalidInput(
    "too_deeply_nested",
    "请求内容的 JSON 嵌套层数过多。",
    "the JSON body is nested too deeply",
)
DATA_ERROR = InvalidInput(
    "invalid_data",
    "提交的内容含有无法保存的字符或超出范围的数值，请检查后重试。",
    "the database refused a value (character or number out of range)",
)


class BoundedRequest(Request[Any, Any, Any]):
    """Litestar turns a malformed JSON body into a 400, but lets msgspec's UnicodeDecodeError
    (invalid UTF-8 inside a string) and RecursionError (say 100,000 nested `[`) through as 500s.
    A JSON body must also say it is JSON: a cross-site form can send `text/plain`, never
    `application/json` without the browser asking the server first."""

    async def json(self) -> Any:
        media, _ = self.content_type
        if media != "application/json" and not media.endswith("+json"):
            raise HTTPException(
                status_code=415, detail=f"expected application/json, got {media or 'nothing'}"
            )
        try:
            return await super().json()
        except UnicodeDecodeError:
            raise NOT_UTF8 from None
        except RecursionError:
            raise TOO_DEEP from None


def data_error(exc: Exception) -> InvalidInput:
    """A last resort: asyncpg's DataError (a NUL, a character outside the encoding, a number out of
    its column's range) means the input was bad, not the server; each is a boundary gap to close."""
    log.warning("database refused input that passed the boundary: %s", exc)
    return DATA_ERROR
