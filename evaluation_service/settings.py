"""Typed settings, read once from the environment by the shell and passed inward."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DEFAULT_SQLITE_URL = "sqlite:///var/haochaping.sqlite"


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


def _bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _int(raw: str, name: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _dates(raw: str, name: str) -> tuple[date, ...]:
    try:
        return tuple(date.fromisoformat(part.strip()) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SettingsError(f"{name} must be comma-separated YYYY-MM-DD dates, got {raw!r}") from None


def _secret(raw: str | None, var_dir: Path) -> str:
    """The token-signing secret: explicit in production, generated once and kept for embedded use."""
    if raw:
        return raw
    path = var_dir / "token_secret"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_SQLITE_URL
    db_pool_size: int = 10
    broker_url: str = "embedded"
    token_secret: str = field(default="", repr=False)
    public_base_url: str = "http://127.0.0.1:8000"
    rating_window_working_days: int = 5
    basic_satisfied_counts_as_good: bool = True
    comment_max_chars: int = 500
    calendar_file: Path | None = None
    extra_holidays: tuple[date, ...] = ()
    extra_workdays: tuple[date, ...] = ()
    timezone: str = "Asia/Shanghai"
    province_area_code: str = "370000000000"
    county_area_code: str = "370124000000"
    var_dir: Path = Path("var")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        var_dir = Path(env.get("HAOCHAPING_VAR_DIR", "var"))
        calendar_file = env.get("CALENDAR_FILE")
        if calendar_file is None and (var_dir / "calendar.csv").exists():
            calendar_file = str(var_dir / "calendar.csv")
        settings = cls(
            database_url=env.get("DATABASE_URL", DEFAULT_SQLITE_URL),
            db_pool_size=_int(env.get("DB_POOL_SIZE", "10"), "DB_POOL_SIZE", 1),
            broker_url=env.get("BROKER_URL", "embedded"),
            token_secret=_secret(env.get("TOKEN_SECRET"), var_dir),
            public_base_url=env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            rating_window_working_days=_int(
                env.get("RATING_WINDOW_WORKING_DAYS", "5"), "RATING_WINDOW_WORKING_DAYS", 1
            ),
            basic_satisfied_counts_as_good=_bool(
                env.get("BASIC_SATISFIED_COUNTS_AS_GOOD", "true"), "BASIC_SATISFIED_COUNTS_AS_GOOD"
            ),
            comment_max_chars=_int(env.get("COMMENT_MAX_CHARS", "500"), "COMMENT_MAX_CHARS", 1),
            calendar_file=Path(calendar_file) if calendar_file else None,
            extra_holidays=_dates(env.get("EXTRA_HOLIDAYS", ""), "EXTRA_HOLIDAYS"),
            extra_workdays=_dates(env.get("EXTRA_WORKDAYS", ""), "EXTRA_WORKDAYS"),
            timezone=env.get("TIMEZONE", "Asia/Shanghai"),
            province_area_code=env.get("PROVINCE_AREA_CODE", "370000000000"),
            county_area_code=env.get("COUNTY_AREA_CODE", "370124000000"),
            var_dir=var_dir,
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if not (self.database_url.startswith("sqlite:///") or self.database_url.startswith("postgres")):
            raise SettingsError(
                "DATABASE_URL must be sqlite:///path or postgresql://user@host:port/db, "
                f"got {self.database_url!r}"
            )
        for name in ("province_area_code", "county_area_code"):
            value = getattr(self, name)
            if not (len(value) == 12 and value.isdigit()):
                raise SettingsError(f"{name.upper()} must be 12 digits, got {value!r}")
