"""The one input boundary of JSON bodies: text, integer and instant types every schema shares."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import msgspec

from evaluation_service.kernel.errors import InvalidInput

# No control characters in any text: PostgreSQL refuses NUL outright, and the others are never
# meant. A one-line field refuses line breaks and tabs too; a free text (comment, note) keeps them.
# The patterns are also the OpenAPI's (ECMA regexes, no \A or \Z); Python's `$` also matches before
# a final newline, which `(?!\n)` refuses.
ONE_LINE = r"^[^\x00-\x1f\x7f]*(?!\n)$"
FREE_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Short = Annotated[str, msgspec.Meta(max_length=200, pattern=ONE_LINE)]


# Integers that are stored go into 32-bit columns.
INT32_MIN, INT32_MAX = -2_147_483_648, 2_147_483_647
Int32 = Annotated[int, msgspec.Meta(ge=INT32_MIN, le=INT32_MAX)]

EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


def check_instant(value: datetime | None, field: str) -> None:
    """A sane instant (years 2000-2100, any offset), for a Struct's __post_init__: the edges of
    Python's datetime overflow when converted to UTC, and nothing this service handles is older."""
    if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"{field}: a time between {EARLIEST_YEAR} and {LATEST_YEAR} is expected")


def form_text(value: str, field: str, label: str, *, free_text: bool = False) -> str:
    """A form field's text through the same boundary (forms are not decoded by msgspec): any
    control character is refused, except line breaks and tabs in a free text."""
    if re.fullmatch(FREE_TEXT if free_text else ONE_LINE, value) is None:
        raise InvalidInput(
            "control_character",
            f"“{label}”含有不允许的控制字符（如 NUL）或换行，请删除后重试。",
            f"{field} holds a control character",
            field,
        )
    return value
