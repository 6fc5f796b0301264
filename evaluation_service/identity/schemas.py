"""Request and response shapes of staff login (the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from evaluation_service.kernel.inputs import Short


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
