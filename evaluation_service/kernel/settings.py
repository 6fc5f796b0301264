"""Typed settings, read once from the environment by the shell and passed inward."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

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
        raise SettingsError(
            f"{name} must be comma-separated YYYY-MM-DD dates, got {raw!r}"
        ) from None


def _secret(raw: str | None, var_dir: Path) -> str:
    """The token-signing secret: set in production, generated once and kept for embedded use."""
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


_TICKET_DAYS = {
    "ticket_accept_working_days": "1",
    "ticket_first_contact_working_days": "1",
    "ticket_verify_working_days": "3",
    "ticket_rectify_working_days": "5",
    "ticket_rectify_cap_working_days": "15",
    "ticket_feedback_working_days": "2",
    "ticket_supervision_working_days": "3",
}


def _rectification_settings(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: _int(env.get(name.upper(), default), name.upper(), 1)
        for name, default in _TICKET_DAYS.items()
    }
    # 联系不上 needs this many attempts on different days; after this many 重办 rounds the
    # supervisor may close as 已整改、群众仍不满意.
    values["ticket_unreachable_attempts"] = _int(
        env.get("TICKET_UNREACHABLE_ATTEMPTS", "3"), "TICKET_UNREACHABLE_ATTEMPTS", 1
    )
    values["ticket_redo_rounds"] = _int(env.get("TICKET_REDO_ROUNDS", "2"), "TICKET_REDO_ROUNDS", 0)
    values["ticket_sweep_minutes"] = _int(
        env.get("TICKET_SWEEP_MINUTES", "10"), "TICKET_SWEEP_MINUTES", 1
    )
    values["ticket_webhook_url"] = env.get("TICKET_WEBHOOK_URL", "").strip()
    values["login_max_failures"] = _int(env.get("LOGIN_MAX_FAILURES", "5"), "LOGIN_MAX_FAILURES", 1)
    values["login_lockout_minutes"] = _int(
        env.get("LOGIN_LOCKOUT_MINUTES", "15"), "LOGIN_LOCKOUT_MINUTES", 1
    )
    values["login_address_max_failures"] = _int(
        env.get("LOGIN_ADDRESS_MAX_FAILURES", "30"), "LOGIN_ADDRESS_MAX_FAILURES", 1
    )
    values["session_hours"] = _int(env.get("SESSION_HOURS", "12"), "SESSION_HOURS", 1)
    values["session_cookie_secure"] = _bool(
        env.get("SESSION_COOKIE_SECURE", "false"), "SESSION_COOKIE_SECURE"
    )
    values["notify_sender"] = _choice(
        env.get("NOTIFY_SENDER", "log"), "NOTIFY_SENDER", ("log", "webhook", "none")
    )
    values["notify_webhook_url"] = env.get("NOTIFY_WEBHOOK_URL", "").strip()
    values["notify_retry_base_seconds"] = _float(
        env.get("NOTIFY_RETRY_BASE_SECONDS", "5"), "NOTIFY_RETRY_BASE_SECONDS", 0.01
    )
    values["notify_retry_max_seconds"] = _float(
        env.get("NOTIFY_RETRY_MAX_SECONDS", "900"), "NOTIFY_RETRY_MAX_SECONDS", 0.01
    )
    values["notify_interval_seconds"] = _float(
        env.get("NOTIFY_INTERVAL_SECONDS", "1"), "NOTIFY_INTERVAL_SECONDS", 0.01
    )
    if "CASE_SMS_TEMPLATE" in env:
        values["case_sms_template"] = env["CASE_SMS_TEMPLATE"]
    values["case_link_days"] = _int(env.get("CASE_LINK_DAYS", "365"), "CASE_LINK_DAYS", 1)
    values["evidence_max_bytes"] = _int(
        env.get("EVIDENCE_MAX_BYTES", str(10 * 1024 * 1024)), "EVIDENCE_MAX_BYTES", 1
    )
    return values


# Integrity flags of the monthly report (issue 11): thresholds, all documented in operations.md.
_REPORT_FLAG_INTS = {
    "flag_device_burst_count": ("8", 2),
    "flag_device_burst_gap_seconds": ("60", 1),
    "flag_phone_burst_count": ("4", 2),
    "flag_phone_burst_gap_seconds": ("600", 1),
    "flag_closed_hours_min_ratings": ("3", 1),
    "flag_jump_min_ratings": ("30", 1),
    "flag_jump_history_months": ("3", 1),
    "flag_run_length": ("30", 2),
}


def _report_settings(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: _int(env.get(name.upper(), default), name.upper(), minimum)
        for name, (default, minimum) in _REPORT_FLAG_INTS.items()
    }
    values["flag_jump_points"] = _float(env.get("FLAG_JUMP_POINTS", "25"), "FLAG_JUMP_POINTS", 1)
    return values


def _choice(raw: str, name: str, allowed: tuple[str, ...]) -> str:
    value = raw.strip()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return value


def _float(raw: str, name: str, minimum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


# The province connector's settings: names fixed so operators and other tools can rely on them.
# Their meaning and checks are the connector's (connectors/province/config.py); empty means unset.
PROVINCE_TEXT_SETTINGS = (
    "PROVINCE_RECORDS_URL",
    "PROVINCE_RATINGS_URL",
    "PROVINCE_NORM_URL",
    "PROVINCE_TICKET_RESULTS_URL",
    "PROVINCE_HOLDINGS_URL",
    "PROVINCE_PUBLIC_KEY",
    "PROVINCE_APP_MARK",
    "PROVINCE_APP_WORD",
    "PROVINCE_DATA_SOURCE",
)


def _open_hours(raw: str, name: str) -> tuple[tuple[int, int], ...]:
    """ "08:30-12:00,13:00-17:30" as minutes of the day; "00:00-24:00" is all day."""
    spans: list[tuple[int, int]] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", part)
        if match is None:
            raise SettingsError(f"{name} must look like 08:30-12:00,13:00-17:30, got {raw!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or not 0 <= start < end <= 24 * 60:
            raise SettingsError(f"{name}: {part.strip()!r} is not a span within one day")
        spans.append((start, end))
    if not spans:
        raise SettingsError(f"{name} names no opening hours, got {raw!r}")
    return tuple(sorted(spans))


def _device_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The window evaluators and kiosks, and the fleet view that watches them (docs/devices.md)."""
    return {
        "device_idle_timeout_seconds": _int(
            env.get("DEVICE_IDLE_TIMEOUT_SECONDS", "60"), "DEVICE_IDLE_TIMEOUT_SECONDS", 2
        ),
        "device_heartbeat_seconds": _int(
            env.get("DEVICE_HEARTBEAT_SECONDS", "30"), "DEVICE_HEARTBEAT_SECONDS", 5
        ),
        "device_admin_pin_hash": env.get("DEVICE_ADMIN_PIN_HASH", "").strip(),
        "device_attempts_max": _int(env.get("DEVICE_ATTEMPTS_MAX", "5"), "DEVICE_ATTEMPTS_MAX", 1),
        "device_attempts_minutes": _int(
            env.get("DEVICE_ATTEMPTS_MINUTES", "15"), "DEVICE_ATTEMPTS_MINUTES", 1
        ),
        "fleet_silent_after_seconds": _int(
            env.get("FLEET_SILENT_AFTER_SECONDS", "180"), "FLEET_SILENT_AFTER_SECONDS", 10
        ),
        "fleet_clock_skew_alert_seconds": _int(
            env.get("FLEET_CLOCK_SKEW_ALERT_SECONDS", "120"), "FLEET_CLOCK_SKEW_ALERT_SECONDS", 1
        ),
        "hall_open_hours": _open_hours(
            env.get("HALL_OPEN_HOURS", "08:30-12:00,13:00-17:30"), "HALL_OPEN_HOURS"
        ),
        "hall_open_workdays_only": _bool(
            env.get("HALL_OPEN_WORKDAYS_ONLY", "true"), "HALL_OPEN_WORKDAYS_ONLY"
        ),
    }


def _forwarding_settings(env: Mapping[str, str]) -> dict[str, Any]:
    def number(name: str, default: str, minimum: float) -> float:
        return _float(env.get(name.upper(), default), name.upper(), minimum)

    return {
        **{name.lower(): env.get(name, "").strip() for name in PROVINCE_TEXT_SETTINGS},
        "province_tenancy_id": env.get("PROVINCE_TENANCY_ID", "370000000000").strip(),
        "province_cipher_mode": env.get("PROVINCE_CIPHER_MODE", "c1c3c2").strip().lower(),
        "province_cipher_encoding": env.get("PROVINCE_CIPHER_ENCODING", "hex").strip().lower(),
        "province_items_per_ciphertext": _int(
            env.get("PROVINCE_ITEMS_PER_CIPHERTEXT", "1"), "PROVINCE_ITEMS_PER_CIPHERTEXT", 1
        ),
        "province_timeout_seconds": number("province_timeout_seconds", "10", 0.1),
        "indicator_sync_hours": number("indicator_sync_hours", "24", 0.01),
        "forwarding_enabled": _bool(env.get("FORWARDING_ENABLED", "true"), "FORWARDING_ENABLED"),
        "forward_batch_size": _int(env.get("FORWARD_BATCH_SIZE", "200"), "FORWARD_BATCH_SIZE", 1),
        "forward_concurrency": _int(env.get("FORWARD_CONCURRENCY", "4"), "FORWARD_CONCURRENCY", 1),
        "forward_retry_base_seconds": number("forward_retry_base_seconds", "1", 0.01),
        "forward_retry_max_seconds": number("forward_retry_max_seconds", "300", 0.01),
        "forward_fail_after_seconds": number("forward_fail_after_seconds", "86400", 0),
        "forward_lease_seconds": number("forward_lease_seconds", "10", 0.1),
        "relay_interval_seconds": number("relay_interval_seconds", "0.2", 0.01),
    }


@dataclass(frozen=True)
class StepDays:
    """Working days allowed per step (DESIGN.md §4 defaults); filled from settings."""

    accept: int = 1
    first_contact: int = 1
    verify: int = 3
    rectify: int = 5
    rectify_cap: int = 15
    feedback: int = 2
    supervision: int = 3

    def on_time_total(self, extension_used: bool) -> int:
        """Working days from opening to closing when every step takes its full allowance."""
        rectify = self.rectify_cap if extension_used else self.rectify
        return self.accept + self.verify + rectify + self.feedback + self.supervision


STAFF_PHOTO_LIMIT_BYTES = 8_000_000


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
    # Logs: "text" lines, or "json" objects carrying the request id (docs/operations.md).
    log_format: str = "text"
    log_level: str = "INFO"
    # Rectification (DESIGN.md §4): working days per step, the cap with an extension, staff logins.
    ticket_accept_working_days: int = 1
    ticket_first_contact_working_days: int = 1
    ticket_verify_working_days: int = 3
    ticket_rectify_working_days: int = 5
    ticket_rectify_cap_working_days: int = 15
    ticket_feedback_working_days: int = 2
    ticket_supervision_working_days: int = 3
    ticket_unreachable_attempts: int = 3
    ticket_redo_rounds: int = 2
    ticket_sweep_minutes: int = 10
    ticket_webhook_url: str = ""
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    # One client address (an office behind one NAT is one address) may fail more often than one
    # account before it is locked too; the lock of both doubles each time it is set again.
    login_address_max_failures: int = 30
    session_hours: int = 12
    session_cookie_secure: bool = False
    # Notifications (issue 10): the outbound channel (SMS / 政务微信 gateway) is "log" (written to
    # the log), "webhook" (JSON POST to NOTIFY_WEBHOOK_URL) or "none"; delivered from the
    # outbound_message outbox with exponential back-off.
    notify_sender: str = "log"
    notify_webhook_url: str = ""
    notify_retry_base_seconds: float = 5.0
    notify_retry_max_seconds: float = 900.0
    notify_interval_seconds: float = 1.0
    # The SMS that carries a citizen's case link; {case_no}, {step}, {due} and {url} are filled in.
    case_sms_template: str = (
        "【平阴县政务服务】您的差评已立案，案件编号{case_no}，当前环节：{step}，"
        "办理期限：{due}。查看办理进度：{url}"
    )
    case_link_days: int = 365
    # Evidence attached to a ticket's results: the largest file accepted (jpg, png, pdf).
    evidence_max_bytes: int = 10 * 1024 * 1024
    # Forwarding to the province: where it is and what it issued us (see PROVINCE_TEXT_SETTINGS;
    # docs/province-protocol.md), and the delivery policy. Empty URLs are unset; the two optional
    # endpoints (ticket results, daily holdings) are off while unset.
    province_records_url: str = ""
    province_ratings_url: str = ""
    province_norm_url: str = ""
    province_ticket_results_url: str = ""
    province_holdings_url: str = ""
    province_public_key: str = ""
    province_app_mark: str = ""
    province_app_word: str = field(default="", repr=False)
    province_data_source: str = ""
    province_tenancy_id: str = "370000000000"
    province_cipher_mode: str = "c1c3c2"
    province_cipher_encoding: str = "hex"
    province_items_per_ciphertext: int = 1
    province_timeout_seconds: float = 10.0
    indicator_sync_hours: float = 24.0
    # From the environment it defaults to true; the dataclass default is false so an app built in a
    # test forwards nothing unless the test points it at a simulator.
    forwarding_enabled: bool = False
    forward_batch_size: int = 200
    forward_concurrency: int = 4
    forward_retry_base_seconds: float = 1.0
    forward_retry_max_seconds: float = 300.0
    forward_fail_after_seconds: float = 86_400.0
    forward_lease_seconds: float = 10.0
    relay_interval_seconds: float = 0.2
    # Monthly reports (issue 5): whether staff appear by staff number in the deputies' report.
    report_show_staff_numbers: bool = True
    # The integrity flags' thresholds (docs/operations.md, "Integrity flags"); the hall's hours
    # are HALL_OPEN_HOURS (hall_open_hours), shared with the device fleet view.
    flag_device_burst_count: int = 8
    flag_device_burst_gap_seconds: int = 60
    flag_phone_burst_count: int = 4
    flag_phone_burst_gap_seconds: int = 600
    flag_closed_hours_min_ratings: int = 3
    flag_jump_points: float = 25.0
    flag_jump_min_ratings: int = 30
    flag_jump_history_months: int = 3
    flag_run_length: int = 30
    # Embedded broker only: whether the web process also runs the schedules (deadline sweep, monthly
    # report, daily reconciliation). From the environment it defaults to true, so `make run` has
    # them; the dataclass default is false so an app built in a test does not generate a report or
    # reconcile when it starts. With a real broker the `scheduler` process does this instead.
    scheduler_enabled: bool = False
    # Window evaluators and kiosks (docs/devices.md): the rating screen's inactivity timeout, the
    # heartbeat period, the admin PIN (an argon2 hash; empty: the setup screen cannot be opened on
    # a device that has its key), attempts allowed per device (PIN, kiosk check) per period, and
    # when the fleet view raises an alert: silent during opening hours, or a clock off by more.
    device_idle_timeout_seconds: int = 60
    device_heartbeat_seconds: int = 30
    device_admin_pin_hash: str = field(default="", repr=False)
    device_attempts_max: int = 5
    device_attempts_minutes: int = 15
    fleet_silent_after_seconds: int = 180
    fleet_clock_skew_alert_seconds: int = 120
    hall_open_hours: tuple[tuple[int, int], ...] = ((8 * 60 + 30, 12 * 60), (13 * 60, 17 * 60 + 30))
    hall_open_workdays_only: bool = True
    # Staff photos an admin uploads (JPG/PNG), kept under var_dir/staff_photos; the upload route
    # takes at most STAFF_PHOTO_LIMIT_BYTES whatever this says.
    staff_photo_max_bytes: int = 2_000_000

    @property
    def hall_day_span(self) -> tuple[int, int]:
        """From the first opening to the last closing of HALL_OPEN_HOURS (minutes of the day):
        the day the integrity flag `closed_hours` measures against (a rating in the lunch break is
        no sign of anything)."""
        return self.hall_open_hours[0][0], max(end for _, end in self.hall_open_hours)

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
            log_format=_choice(env.get("LOG_FORMAT", "text"), "LOG_FORMAT", ("text", "json")),
            log_level=_choice(
                env.get("LOG_LEVEL", "INFO").upper(),
                "LOG_LEVEL",
                ("DEBUG", "INFO", "WARNING", "ERROR"),
            ),
            report_show_staff_numbers=_bool(
                env.get("REPORT_SHOW_STAFF_NUMBERS", "true"), "REPORT_SHOW_STAFF_NUMBERS"
            ),
            scheduler_enabled=_bool(env.get("SCHEDULER_ENABLED", "true"), "SCHEDULER_ENABLED"),
            staff_photo_max_bytes=_int(
                env.get("STAFF_PHOTO_MAX_BYTES", "2000000"), "STAFF_PHOTO_MAX_BYTES", 1
            ),
            **_rectification_settings(env),
            **_forwarding_settings(env),
            **_device_settings(env),
            **_report_settings(env),
        )
        settings.validate()
        return settings

    @property
    def step_days(self) -> StepDays:
        """Each rectification step's working days (DESIGN §4), for rectification and reports."""
        return StepDays(
            accept=self.ticket_accept_working_days,
            first_contact=self.ticket_first_contact_working_days,
            verify=self.ticket_verify_working_days,
            rectify=self.ticket_rectify_working_days,
            rectify_cap=self.ticket_rectify_cap_working_days,
            feedback=self.ticket_feedback_working_days,
            supervision=self.ticket_supervision_working_days,
        )

    def validate(self) -> None:
        if not (
            self.database_url.startswith("sqlite:///") or self.database_url.startswith("postgres")
        ):
            raise SettingsError(
                "DATABASE_URL must be sqlite:///path or postgresql://user@host:port/db, "
                f"got {self.database_url!r}"
            )
        if self.staff_photo_max_bytes > STAFF_PHOTO_LIMIT_BYTES:
            raise SettingsError(f"STAFF_PHOTO_MAX_BYTES must be at most {STAFF_PHOTO_LIMIT_BYTES}")
        if self.ticket_rectify_cap_working_days < self.ticket_rectify_working_days:
            raise SettingsError(
                "TICKET_RECTIFY_CAP_WORKING_DAYS must be at least TICKET_RECTIFY_WORKING_DAYS"
            )
        if self.ticket_webhook_url and not self.ticket_webhook_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError(
                f"TICKET_WEBHOOK_URL must be an http(s) URL, got {self.ticket_webhook_url!r}"
            )
        if self.notify_sender == "webhook" and not self.notify_webhook_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError(
                "NOTIFY_SENDER=webhook needs NOTIFY_WEBHOOK_URL, an http(s) URL, got "
                f"{self.notify_webhook_url!r}"
            )
        if self.evidence_max_bytes > 50 * 1024 * 1024:
            raise SettingsError("EVIDENCE_MAX_BYTES must be at most 52428800 (50 MB)")
        for field_name in ("{case_no}", "{url}"):
            if field_name not in self.case_sms_template:
                raise SettingsError(f"CASE_SMS_TEMPLATE must contain {field_name}")
        for name in ("province_area_code", "county_area_code"):
            value = getattr(self, name)
            if not (len(value) == 12 and value.isdigit()):
                raise SettingsError(f"{name.upper()} must be 12 digits, got {value!r}")
