"""The id of the request being handled, for whatever it causes to carry.

The composition root's request middleware sets it (the caller's X-Request-ID when it is a plain
token, else a new one); log records are stamped with it, and a stored rating keeps it in its row,
so a rating can be followed from its request to its delivery without a log line per rating.
"""

from __future__ import annotations

import contextvars

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current_request_id() -> str:
    """The id of the request this code runs for, or "" outside one (a schedule, a command)."""
    return REQUEST_ID.get()
