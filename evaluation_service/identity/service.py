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
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from evaluation_service.identity.model import Actor, Role
from evaluation_service.identity.schemas import LoginFailureOut, UserOut
from evaluation_service.identity.tables import (
    LoginFailure,
    LoginSession,
    LoginThrottle,
    StaffUser,
)
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
    max_failures: int = 5  # per account name, known or not
    lockout: timedelta = timedelta(minutes=15)  # the first lock; each next one lasts twice as long
    session: timedelta = timedelta(hours=12)
    address_max_failures: int = 30  # per client address
    longest_lockout: timedelta = timedelta(hours=24)

    def lock_length(self, lockouts_so_far: int) -> timedelta:
        return min(self.lockout * 2 ** min(lockouts_so_far, 16), self.longest_lockout)


@dataclass(frozen=True)
class LoggedIn:
    token: str
    expires_at: datetime
    lifetime: timedelta
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

    async def login(
        self, username: str, password: str, now: datetime, address: str = "unknown"
    ) -> LoggedIn:
        """Check a password under the lockout of the name and of the client address.

        Every attempt is counted *before* the password is checked, in one atomic upsert per key
        (`_reserve`): of any number of concurrent guesses only the first `max_failures` are
        checked at all, the rest are refused as locked. A success gives the reservation back.
        Unknown names are counted, locked and answered exactly like real ones.
        """
        username = username.strip()
        account_key, address_key = f"account:{username}"[:120], f"address:{address}"[:120]
        policy = self.login_policy
        refusal = await self._reserve(
            address_key, policy.address_max_failures, now, "address_locked"
        ) or await self._reserve(account_key, policy.max_failures, now, "account_locked")
        if refusal is not None:
            await self._audit(username, address, refusal.code, now)
            raise refusal
        user = (
            await StaffUser.select(
                StaffUser.id,
                StaffUser.username,
                StaffUser.display_name,
                StaffUser.role,
                StaffUser.active,
                StaffUser.password_hash,
                StaffUser.department.code.as_alias("department_code"),
            )
            .where(StaffUser.username == username)
            .first()
        )
        known = user is not None and user["active"]
        password_hash = user["password_hash"] if known else _DUMMY_HASH  # type: ignore[index]
        if not await asyncio.to_thread(_verify, password_hash, password) or not known:
            failure = await self._count_failure(account_key, address_key, now)
            await self._audit(username, address, failure.code, now)
            raise failure
        assert user is not None
        token = secrets.token_urlsafe(32)
        expires_at = now + self.login_policy.session
        async with self.db.write():
            # The name's count starts again; the address only gets its one reservation back, so
            # one good account does not launder an address's guesses at others.
            await LoginThrottle.delete().where(LoginThrottle.key == account_key)
            await LoginThrottle.update({LoginThrottle.failures: LoginThrottle.failures - 1}).where(
                (LoginThrottle.key == address_key) & (LoginThrottle.failures > 0)
            )
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
            lifetime=self.login_policy.session,
            user=UserOut(
                id=user["id"],
                username=user["username"],
                display_name=user["display_name"],
                role=user["role"],
                department_code=user["department_code"],
            ),
        )

    async def _reserve(
        self, key: str, limit: int, now: datetime, code: str
    ) -> Unauthenticated | None:
        """Count one attempt on `key` and read the count in the same statement; None lets the
        password be checked, otherwise the refusal (locking the key if nobody has yet)."""
        second = int(now.timestamp())
        async with self.db.write():
            rows = await LoginThrottle.raw(_RESERVE_SQL, key, second, second)
            failures, locked_until = rows[0]["failures"], rows[0]["locked_until"]
            if failures <= limit and locked_until is None:
                return None
            if locked_until is None:
                locked_until = await self._lock(key, now)
        return _locked(code, datetime.fromtimestamp(locked_until, UTC), self.zone)

    async def _lock(self, key: str, now: datetime) -> int:
        """Set the key's lock if it has none (compare-and-set); the lock the row holds after."""
        row = await LoginThrottle.select(LoginThrottle.lockouts).where(LoginThrottle.key == key)
        until = int((now + self.login_policy.lock_length(row[0]["lockouts"])).timestamp())
        await LoginThrottle.update(
            {LoginThrottle.locked_until: until, LoginThrottle.lockouts: LoginThrottle.lockouts + 1}
        ).where((LoginThrottle.key == key) & LoginThrottle.locked_until.is_null())
        row = await LoginThrottle.select(LoginThrottle.locked_until).where(LoginThrottle.key == key)
        locked_until: int = row[0]["locked_until"]
        return locked_until

    async def _count_failure(
        self, account_key: str, address_key: str, now: datetime
    ) -> Unauthenticated:
        """A wrong password whose attempt was already counted: the last one allowed locks."""
        policy = self.login_policy
        async with self.db.write():
            rows = await LoginThrottle.select(LoginThrottle.key, LoginThrottle.failures).where(
                LoginThrottle.key.is_in([account_key, address_key])
            )
            failures = {row["key"]: row["failures"] for row in rows}
            if failures.get(address_key, 0) >= policy.address_max_failures:
                until = await self._lock(address_key, now)
                return _locked("address_locked", datetime.fromtimestamp(until, UTC), self.zone)
            if failures.get(account_key, 0) >= policy.max_failures:
                until = await self._lock(account_key, now)
                return _locked("account_locked", datetime.fromtimestamp(until, UTC), self.zone)
        return _bad_credentials()

    async def _audit(self, username: str, address: str, reason: str, now: datetime) -> None:
        async with self.db.write():
            await LoginFailure.insert(
                LoginFailure(at=now, username=username[:64], address=address[:64], reason=reason)
            )

    async def failed_logins(self, limit: int) -> list[LoginFailureOut]:
        """The latest refused logins, newest first (admins only; the guard is on the route)."""
        rows = (
            await LoginFailure.select(
                LoginFailure.at, LoginFailure.username, LoginFailure.address, LoginFailure.reason
            )
            .order_by(LoginFailure.id, ascending=False)
            .limit(limit)
        )
        return [
            LoginFailureOut(
                at=row["at"],
                username=row["username"],
                address=row["address"],
                reason=row["reason"],
            )
            for row in rows
        ]

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


# Atomic count-then-read of one lockout key: created at 1, or one more; an expired lock is lifted
# and counting starts again. SET expressions read the row as it was, on PostgreSQL and SQLite alike.
_RESERVE_SQL = """
INSERT INTO login_throttle (key, failures, lockouts, locked_until) VALUES ({}, 1, 0, NULL)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN login_throttle.locked_until <= {} THEN 1
                    ELSE login_throttle.failures + 1 END,
    locked_until = CASE WHEN login_throttle.locked_until <= {} THEN NULL
                        ELSE login_throttle.locked_until END
RETURNING failures, locked_until
"""


def _locked(code: str, until: datetime, zone: ZoneInfo) -> Unauthenticated:
    who = "该登录地址" if code == "address_locked" else "账号"
    return Unauthenticated(
        code,
        f"登录失败次数过多，{who}已锁定至 {_local_clock(until, zone)}，请稍后再试或联系管理员。",
        f"too many failed logins; locked until {until.isoformat()}",
        "username",
    )
