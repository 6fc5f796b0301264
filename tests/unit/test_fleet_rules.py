"""Pure rules of the device fleet: when a device is alerted, when the hall is open, and the limit on
guessing a PIN or a kiosk check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from evaluation_service.evaluations.fleet import AlertPolicy, AttemptLimiter, alerts_of, hall_open
from evaluation_service.kernel.errors import TooManyAttempts
from evaluation_service.kernel.settings import Settings, SettingsError

POLICY = AlertPolicy(
    silent_after_seconds=180,
    skew_alert_seconds=120,
    open_hours=((8 * 60 + 30, 12 * 60), (13 * 60, 17 * 60 + 30)),
    workdays_only=True,
)
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 in Pingyin
ZONE = ZoneInfo("Asia/Shanghai")


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def test_device_silent_longer_than_the_limit_while_open_is_alerted() -> None:
    assert alerts_of(NOW - timedelta(seconds=181), 0, NOW, True, POLICY) == ("办公时间内失联",)
    assert alerts_of(NOW - timedelta(seconds=170), 0, NOW, True, POLICY) == ()


def test_silence_outside_opening_hours_is_not_alerted() -> None:
    assert alerts_of(NOW - timedelta(hours=14), 0, NOW, False, POLICY) == ()
    assert alerts_of(None, 0, NOW, False, POLICY) == ()


def test_device_that_never_sent_a_heartbeat_is_alerted_while_open() -> None:
    assert alerts_of(None, 0, NOW, True, POLICY) == ("从未上线",)


def test_skewed_clock_is_alerted_either_way_at_any_hour() -> None:
    assert alerts_of(NOW, 121_000, NOW, False, POLICY) == ("设备时钟偏差过大",)
    assert alerts_of(NOW, -121_000, NOW, True, POLICY) == ("设备时钟偏差过大",)
    assert alerts_of(NOW, 119_000, NOW, True, POLICY) == ()


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        (datetime(2026, 11, 30, 8, 29, tzinfo=ZONE), False),
        (datetime(2026, 11, 30, 8, 30, tzinfo=ZONE), True),
        (datetime(2026, 11, 30, 12, 30, tzinfo=ZONE), False),  # lunch break
        (datetime(2026, 11, 30, 17, 29, tzinfo=ZONE), True),
        (datetime(2026, 11, 30, 17, 30, tzinfo=ZONE), False),
        (datetime(2026, 12, 5, 10, 0, tzinfo=ZONE), False),  # Saturday
    ],
)
def test_hall_is_open_in_its_hours_on_working_days(local: datetime, is_open: bool) -> None:
    assert hall_open(local, POLICY, weekdays) is is_open


def test_hall_open_every_day_when_not_limited_to_working_days() -> None:
    every_day = AlertPolicy(180, 120, ((0, 24 * 60),), workdays_only=False)
    assert hall_open(datetime(2026, 12, 5, 23, 59, tzinfo=ZONE), every_day, weekdays)


def test_attempts_beyond_the_limit_are_refused_until_the_period_passes() -> None:
    clock = [0.0]
    limiter = AttemptLimiter(3, 60, clock=lambda: clock[0])
    for _ in range(3):
        limiter.check("kiosk:1")
        limiter.failed("kiosk:1")
    with pytest.raises(TooManyAttempts) as refused:
        limiter.check("kiosk:1")
    limiter.check("kiosk:2")  # another device is not affected
    clock[0] = 61.0
    limiter.check("kiosk:1")

    assert refused.value.status == 429
    assert "分钟后再试" in refused.value.zh


def test_a_success_clears_the_failures() -> None:
    limiter = AttemptLimiter(2, 60, clock=lambda: 0.0)
    limiter.failed("pin:1")
    limiter.succeeded("pin:1")
    limiter.failed("pin:1")
    limiter.check("pin:1")


def test_opening_hours_setting_is_checked() -> None:
    settings = Settings.from_env(
        {"TOKEN_SECRET": "x", "HALL_OPEN_HOURS": "08:00-12:00,14:00-18:00"}
    )
    assert settings.hall_open_hours == ((480, 720), (840, 1080))
    for wrong in ("8-12", "12:00-08:00", "08:00-24:30", "08:61-09:00"):
        with pytest.raises(SettingsError):
            Settings.from_env({"TOKEN_SECRET": "x", "HALL_OPEN_HOURS": wrong})
