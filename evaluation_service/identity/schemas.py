"""Request and response shapes of staff login (the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

Short = Annotated[str, msgspec.Meta(max_length=200)]


class LoginIn(msgspec.Struct):
    username: Short
    password: Short


class UserOut(msgspec.Struct):
    id: int
    username: str
    display_name: str
    role: str
    department_code: str | None


class LoginFailureOut(msgspec.Struct):
    at: datetime
    username: str  # the name as typed: known or not
    address: str
    reason: str  # bad_credentials, account_locked or address_locked
