"""Piccolo tables of staff accounts and their server-side sessions.

They are registered in the rectification Piccolo app, whose migrations created them; the classes
live here so that every package reads identity from one place.
"""

from __future__ import annotations

from piccolo.columns import (
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
