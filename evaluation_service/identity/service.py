"""Staff accounts, login, server-side sessions and the lockout: identity for every package.

Sessions live in the database (`login_session`, token hashes only) so any web process can check
any cookie; the web side (middleware, guards) is in `identity.api`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from evaluation_service.identity.model import Actor, Role
from evaluation_service.identity.schemas import UserOut
from evaluation_service.identity.tables import LoginSession, StaffUser
from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import Conflict, InvalidInput, Unauthenticated
from evaluation_service.kernel.tables import Department

# --- accounts ------------------------------------------------------------------------------

_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
PASSWORD_MIN = 10
_hasher = PasswordHasher()
# Verified when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class LoggedIn:
    token: str
    expires_at: datetime
    user: UserOut


def _bad_credentials() -> Unauthenticated:
    return Unauthenticated(
        "bad_credentials", "用户名或密码不正确。", "unknown username or wrong password", "username"
    )


def _local_clock(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M")


async def create_user(
    username: str,
    display_name: str,
    role: str,
    password: str,
    department_code: str | None = None,
    hasher: PasswordHasher | None = None,
) -> UserOut:
    """A staff account; liaisons must name their department, other roles must not.

    `hasher` sets the argon2 cost of this password (tests use a cheap one); verification reads the
    cost from the stored hash.
    """
    username = username.strip()
    if not _USERNAME.match(username):
        raise InvalidInput(
            "bad_username",
            "用户名应为3至64位字母、数字或 _ . - 字符。",
            "username must be 3-64 letters, digits or _.-",
            "username",
        )
    try:
        parsed_role = Role(role)
    except ValueError:
        raise InvalidInput(
            "bad_role",
            "角色应为 liaison（部门联络员）、supervisor（监督员）、deputy（代表/委员/媒体）"
            "或 admin（管理员）。",
            "role must be liaison, supervisor, deputy or admin",
            "role",
        ) from None
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(
            "weak_password",
            f"密码至少需要{PASSWORD_MIN}个字符。",
            f"password must have at least {PASSWORD_MIN} characters",
            "password",
        )
    department_id: int | None = None
    if parsed_role == Role.liaison:
        if not department_code:
            raise InvalidInput(
                "liaison_needs_department",
                "部门联络员必须指定所属部门（统一社会信用代码）。",
                "a liaison needs a department code",
                "department",
            )
        row = (
            await Department.select(Department.id).where(Department.code == department_code).first()
        )
        if row is None:
            raise InvalidInput(
                "unknown_department",
                f"部门编码 {department_code} 不在事项目录中，请先导入该部门。",
                f"department {department_code} is not in the catalog",
                "department",
            )
        department_id = row["id"]
    elif department_code:
        raise InvalidInput(
            "department_only_for_liaison",
            "只有部门联络员绑定部门；监督员、代表和管理员不绑定部门。",
            "only liaisons are bound to a department",
            "department",
        )
    password_hash = await asyncio.to_thread((hasher or _hasher).hash, password)
    if await StaffUser.exists().where(StaffUser.username == username):
        raise Conflict(
            "user_exists", f"用户名“{username}”已存在。", f"user {username!r} exists", "username"
        )
    inserted = await StaffUser.insert(
        StaffUser(
            username=username,
            display_name=display_name.strip()[:50] or username,
            role=parsed_role,
            department=department_id,
            password_hash=password_hash,
        )
    ).returning(StaffUser.id)
    return UserOut(
        id=inserted[0]["id"],
        username=username,
        display_name=display_name.strip()[:50] or username,
        role=parsed_role,
        department_code=department_code if department_id else None,
    )


# --- the service ---------------------------------------------------------------------------------


class Identity:
    """Login, logout and "who is this cookie", with the lockout policy the root hands in."""

    def __init__(self, db: Database, policy: LoginPolicy, zone: ZoneInfo) -> None:
        self.db = db
        self.login_policy = policy
        self.zone = zone

    async def login(self, username: str, password: str, now: datetime) -> LoggedIn:
        user = (
            await StaffUser.select(
                StaffUser.id,
                StaffUser.username,
                StaffUser.display_name,
                StaffUser.role,
                StaffUser.active,
                StaffUser.password_hash,
                StaffUser.failed_logins,
                StaffUser.locked_until,
                StaffUser.department.code.as_alias("department_code"),
            )
            .where(StaffUser.username == username.strip())
            .first()
        )
        if user is None or not user["active"]:
            await asyncio.to_thread(_verify, _DUMMY_HASH, password)
            raise _bad_credentials()
        locked_until = as_utc(user["locked_until"])
        if locked_until is not None and locked_until > now:
            raise _locked(locked_until, self.zone)
        if not await asyncio.to_thread(_verify, user["password_hash"], password):
            await self._count_failure(user["id"], user["failed_logins"], now)
            raise _bad_credentials()
        token = secrets.token_urlsafe(32)
        expires_at = now + self.login_policy.session
        async with self.db.write():
            await StaffUser.update(
                {StaffUser.failed_logins: 0, StaffUser.locked_until: None}
            ).where(StaffUser.id == user["id"])
            await LoginSession.insert(
                LoginSession(
                    token_hash=_token_hash(token),
                    user=user["id"],
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            # Expired sessions of this user are of no use to anyone.
            await LoginSession.delete().where(
                (LoginSession.user == user["id"]) & (LoginSession.expires_at < now)
            )
        return LoggedIn(
            token=token,
            expires_at=expires_at,
            user=UserOut(
                id=user["id"],
                username=user["username"],
                display_name=user["display_name"],
                role=user["role"],
                department_code=user["department_code"],
            ),
        )

    async def _count_failure(self, user_id: int, failures_so_far: int, now: datetime) -> None:
        locked_until = now + self.login_policy.lockout
        async with self.db.write():
            # Counted in SQL so that concurrent wrong guesses are all counted.
            rows = (
                await StaffUser.update({StaffUser.failed_logins: StaffUser.failed_logins + 1})
                .where(StaffUser.id == user_id)
                .returning(StaffUser.failed_logins)
            )
            failures = rows[0]["failed_logins"] if rows else failures_so_far + 1
            locks = failures >= self.login_policy.max_failures
            if locks:
                await StaffUser.update(
                    {StaffUser.failed_logins: 0, StaffUser.locked_until: locked_until}
                ).where(StaffUser.id == user_id)
        if locks:
            raise _locked(locked_until, self.zone)

    async def logout(self, token: str | None) -> None:
        if token:
            async with self.db.write():
                await LoginSession.delete().where(LoginSession.token_hash == _token_hash(token))

    async def authenticate(self, token: str | None, now: datetime) -> Actor:
        if not token:
            raise Unauthenticated(
                "not_logged_in", "请先登录。", "log in first (session cookie missing)"
            )
        row = (
            await LoginSession.select(
                LoginSession.expires_at,
                LoginSession.user.id.as_alias("user_id"),
                LoginSession.user.username.as_alias("username"),
                LoginSession.user.role.as_alias("role"),
                LoginSession.user.department.as_alias("department"),
                LoginSession.user.active.as_alias("active"),
            )
            .where(LoginSession.token_hash == _token_hash(token))
            .first()
        )
        if row is None or not row["active"] or as_utc(row["expires_at"]) <= now:  # type: ignore[operator]
            raise Unauthenticated(
                "session_expired", "登录已失效，请重新登录。", "session unknown or expired"
            )
        return Actor(
            user_id=row["user_id"],
            username=row["username"],
            role=Role(row["role"]),
            department_id=row["department"],
        )

    async def me(self, actor: Actor) -> UserOut:
        row = (
            await StaffUser.select(
                StaffUser.display_name, StaffUser.department.code.as_alias("department_code")
            )
            .where(StaffUser.id == actor.user_id)
            .first()
        )
        assert row is not None
        return UserOut(
            id=actor.user_id,
            username=actor.username,
            display_name=row["display_name"],
            role=actor.role,
            department_code=row["department_code"],
        )


def _locked(until: datetime, zone: ZoneInfo) -> Unauthenticated:
    return Unauthenticated(
        "account_locked",
        f"密码错误次数过多，账号已锁定至 {_local_clock(until, zone)}，请稍后再试或联系管理员。",
        f"too many failed logins; locked until {until.isoformat()}",
        "username",
    )
