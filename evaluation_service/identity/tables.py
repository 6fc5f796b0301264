"""Piccolo tables of staff accounts and their server-side sessions.

They are registered in the rectification Piccolo app, whose migrations created them; the classes
live here so that every package reads identity from one place.
"""

from __future__ import annotations

from piccolo.columns import (
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from evaluation_service.identity.model import Role
from evaluation_service.kernel.tables import Department


class StaffUser(Table, tablename="staff_user"):
    id: Serial  # declared by Piccolo; annotated for the type checker
    username = Varchar(length=64, unique=True)
    display_name = Varchar(length=50)
    role = Varchar(length=12, choices=Role)
    # Liaisons only: the department whose tickets they work (谁办理谁负责).
    department = ForeignKey(Department, null=True, on_delete=OnDelete.restrict)
    password_hash = Text()  # argon2id, with its parameters, as argon2-cffi writes it
    active = Boolean(default=True)
    # No longer read: the lockout counts in `login_throttle`, per name and per address.
    failed_logins = Integer(default=0)
    locked_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class LoginSession(Table, tablename="login_session"):
    """Server-side sessions, so any web process can check any cookie; only token hashes are kept."""

    id: Serial  # declared by Piccolo; annotated for the type checker

    token_hash = Varchar(length=64, unique=True)
    user = ForeignKey(StaffUser, null=False, on_delete=OnDelete.cascade)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()


class LoginThrottle(Table, tablename="login_throttle"):
    """Failed-login counters, one row per account name tried and one per client address.

    Keyed by the name as typed, so unknown names count and lock exactly like real ones. Instants
    are Unix seconds: the atomic upsert compares them in SQL, the same on PostgreSQL and SQLite.
    """

    id: Serial  # declared by Piccolo; annotated for the type checker
    key = Varchar(length=120, unique=True)  # "account:<name>" or "address:<ip>"
    failures = Integer(default=0)  # attempts since the last success or lock expiry, counted first
    lockouts = Integer(default=0)  # locks since the last success: each one lasts twice as long
    locked_until = BigInt(null=True, default=None)  # Unix seconds


class LoginFailure(Table, tablename="login_failure"):
    """The audit of refused logins, for admins (`GET /api/v1/auth/failures`)."""

    id: Serial  # declared by Piccolo; annotated for the type checker
    at = Timestamptz(default=TimestamptzNow())
    username = Varchar(length=64)  # as typed, cut to the column
    address = Varchar(length=64)
    reason = Varchar(length=20)  # bad_credentials, account_locked, address_locked
