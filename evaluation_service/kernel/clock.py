"""Time helpers every package shares: drivers hand back naive or aware instants; we use UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload


@overload
def as_utc(value: datetime | str) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: Any) -> datetime | None:
    """An aware UTC-based instant from what a driver returned.

    SQLite hands back what was stored (naive, or an ISO string from raw SQL); PostgreSQL an aware
    timestamp. Naive values are UTC by our own convention of storing UTC.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
