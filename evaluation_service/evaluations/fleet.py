"""The device fleet: heartbeats and the alerts of the fleet view, a kiosk starting a rating on its
own (receipt QR or 办件编号 plus a check), and the admin PIN that guards a device's setup screen.

None of this is on the rating hot path: a rating still reads only its device by key (Intake).
"""

from __future__ import annotations

import hmac
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from evaluation_service.evaluations import model
from evaluation_service.evaluations.model import DeviceKind
from evaluation_service.evaluations.pages import DeviceView, Pages
from evaluation_service.evaluations.service import DeviceIdentity, Intake
from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    TooManyAttempts,
)
from evaluation_service.kernel.settings import Settings
from evaluation_service.kernel.tables import (
    Device,
    DeviceHeartbeat,
    Evaluation,
    ServiceRecord,
    ServiceTransaction,
)

# Kiosk refusals never say which half was wrong: a wrong phone tail and an unknown 办件编号 read the
# same, so the check cannot be used to learn which 办件编号 exist.
KIOSK_NO_MATCH = NotFound(
    "kiosk_no_match",
    "办件编号或手机号后四位不正确，请核对回执后重新输入，或扫描回执上的二维码。",
    "no service record matches this project_no and check",
    "project_no",
)


class AttemptLimiter:
    """Failed attempts per key in a sliding period, in this process's memory.

    With N web processes a guesser gets at most N × `limit` tries per period; the tries are a PIN
    or a phone tail tied to one device key, so that is still far from enumerating anything."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self.clock()
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] > self.seconds:
            failures.popleft()
        return failures

    def check(self, key: str) -> None:
        if len(self._recent(key)) >= self.limit:
            minutes = max(1, round(self.seconds / 60))
            raise TooManyAttempts(
                "too_many_attempts",
                f"输入错误次数过多，请 {minutes} 分钟后再试，或向工作人员求助。",
                "too many failed attempts from this device; wait and try again",
            )

    def failed(self, key: str) -> None:
        self._recent(key).append(self.clock())
        if len(self._failures) > 10_000:  # devices are few; a flood of keys is not kept forever
            self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


# --- the fleet view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertPolicy:
    silent_after_seconds: int
    skew_alert_seconds: int
    open_hours: tuple[tuple[int, int], ...]  # minutes of the day
    workdays_only: bool

    @classmethod
    def of(cls, settings: Settings) -> AlertPolicy:
        return cls(
            silent_after_seconds=settings.fleet_silent_after_seconds,
            skew_alert_seconds=settings.fleet_clock_skew_alert_seconds,
            open_hours=settings.hall_open_hours,
            workdays_only=settings.hall_open_workdays_only,
        )


def hall_open(local: datetime, policy: AlertPolicy, is_workday: Callable[[date], bool]) -> bool:
    """Whether the hall is open at this local time (opening hours, on working days if so set)."""
    if policy.workdays_only and not is_workday(local.date()):
        return False
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in policy.open_hours)


def alerts_of(
    seen_at: datetime | None,
    clock_skew_ms: int,
    now: datetime,
    is_open: bool,
    policy: AlertPolicy,
) -> tuple[str, ...]:
    """What is wrong with one active device: silent while the hall is open, or a skewed clock."""
    alerts: list[str] = []
    if is_open:
        if seen_at is None:
            alerts.append("从未上线")
        elif (now - seen_at).total_seconds() > policy.silent_after_seconds:
            alerts.append("办公时间内失联")
    if seen_at is not None and abs(clock_skew_ms) > policy.skew_alert_seconds * 1000:
        alerts.append("设备时钟偏差过大")
    return tuple(alerts)


@dataclass(frozen=True)
class FleetRow:
    device_id: str
    name: str
    kind: str
    window_no: str
    active: bool
    seen_at: datetime | None
    device_time: datetime | None
    clock_skew_ms: int
    app_version: str
    queue_length: int
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class HeartbeatIn:
    app_version: str
    device_time: datetime
    queue_length: int


def skew_text(skew_ms: int) -> str:
    seconds = round(skew_ms / 1000)
    if seconds == 0:
        return "准确"
    return f"{'快' if seconds > 0 else '慢'} {abs(seconds)} 秒"


class Fleet:
    """Use cases of the devices themselves, over the intake's database, settings and calendar."""

    def __init__(self, intake: Intake, settings: Settings) -> None:
        self.intake = intake
        self.pages = Pages(intake)
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.policy = AlertPolicy.of(settings)
        self.attempts = AttemptLimiter(
            settings.device_attempts_max, settings.device_attempts_minutes * 60
        )
        self._hasher = PasswordHasher()

    async def device(self, device_key: str) -> DeviceIdentity:
        return await self.intake.authenticate_device(device_key)

    # --- heartbeats -----------------------------------------------------------------------------

    async def heartbeat(self, device: DeviceIdentity, beat: HeartbeatIn, now: datetime) -> int:
        """Store the device's last heartbeat (one row per device, overwritten); the clock skew."""
        skew_ms = round((as_utc(beat.device_time) - now).total_seconds() * 1000)
        skew_ms = max(-(2**31) + 1, min(skew_ms, 2**31 - 1))
        async with self.intake.db.write():
            await DeviceHeartbeat.insert(
                DeviceHeartbeat(
                    device=device.id,
                    seen_at=now,
                    device_time=as_utc(beat.device_time),
                    clock_skew_ms=skew_ms,
                    app_version=beat.app_version,
                    queue_length=beat.queue_length,
                )
            ).on_conflict(
                target=DeviceHeartbeat.device,
                action="DO UPDATE",
                values=[
                    DeviceHeartbeat.seen_at,
                    DeviceHeartbeat.device_time,
                    DeviceHeartbeat.clock_skew_ms,
                    DeviceHeartbeat.app_version,
                    DeviceHeartbeat.queue_length,
                ],
            )
        return skew_ms

    def hall_open(self, now: datetime) -> bool:
        return hall_open(now.astimezone(self.zone), self.policy, self.intake.calendar.is_workday)

    async def devices(self, now: datetime) -> list[FleetRow]:
        """Every registered device with its last heartbeat and alerts (active devices first)."""
        devices = await Device.select(
            Device.id,
            Device.device_id,
            Device.name,
            Device.kind,
            Device.active,
            Device.window.window_no.as_alias("window_no"),
        ).order_by(Device.device_id)
        beats = {
            row["device"]: row
            for row in await DeviceHeartbeat.select(
                DeviceHeartbeat.device,
                DeviceHeartbeat.seen_at,
                DeviceHeartbeat.device_time,
                DeviceHeartbeat.clock_skew_ms,
                DeviceHeartbeat.app_version,
                DeviceHeartbeat.queue_length,
            )
        }
        is_open = self.hall_open(now)
        rows: list[FleetRow] = []
        for device in devices:
            beat: dict[str, Any] = beats.get(device["id"]) or {}
            seen_at = as_utc(beat["seen_at"]) if beat.get("seen_at") else None
            skew = int(beat.get("clock_skew_ms") or 0)
            active = bool(device["active"])
            rows.append(
                FleetRow(
                    device_id=device["device_id"],
                    name=device["name"] or "",
                    kind=device["kind"],
                    window_no=device["window_no"] or "",
                    active=active,
                    seen_at=seen_at,
                    device_time=as_utc(beat["device_time"]) if beat.get("device_time") else None,
                    clock_skew_ms=skew,
                    app_version=beat.get("app_version") or "",
                    queue_length=int(beat.get("queue_length") or 0),
                    alerts=alerts_of(seen_at, skew, now, is_open, self.policy) if active else (),
                )
            )
        rows.sort(key=lambda r: (not r.active, not r.alerts, r.device_id))
        return rows

    # --- the admin PIN --------------------------------------------------------------------------

    async def check_pin(self, device: DeviceIdentity, pin: str) -> None:
        """The setup screen opens only for the admin PIN; guesses are limited per device."""
        if not self.settings.device_admin_pin_hash:
            raise Forbidden(
                "admin_pin_not_set",
                "尚未设置设备管理员 PIN（DEVICE_ADMIN_PIN_HASH），无法在本机打开设备设置。",
                "no DEVICE_ADMIN_PIN_HASH is configured",
            )
        key = f"pin:{device.id}"
        self.attempts.check(key)
        try:
            self._hasher.verify(self.settings.device_admin_pin_hash, pin)
        except (VerificationError, InvalidHashError):
            self.attempts.failed(key)
            wrong = Forbidden("bad_admin_pin", "管理员 PIN 不正确。", "wrong admin PIN", "pin")
            raise wrong from None
        self.attempts.succeeded(key)

    # --- a kiosk starts a rating --------------------------------------------------------------

    async def kiosk_start(
        self,
        device: DeviceIdentity,
        now: datetime,
        *,
        rating_token: str | None = None,
        project_no: str | None = None,
        phone_tail: str | None = None,
    ) -> DeviceView:
        """Offer a record on this kiosk, found from the receipt's QR (its rating token) or from the
        办件编号 with the applicant's phone tail; then the kiosk rates it like an announced one."""
        if device.kind != DeviceKind.kiosk:
            raise Forbidden(
                "not_a_kiosk",
                "只有自助评价终端可以由办事群众自行开始评价；窗口评价器请等待窗口推送。",
                "only a kiosk starts a rating by itself",
            )
        key = f"kiosk:{device.id}"
        self.attempts.check(key)
        if rating_token:
            try:
                claims = self.intake.tokens.verify(rating_token, now)
            except DomainError:
                self.attempts.failed(key)
                raise
            row = (
                await ServiceRecord.select(
                    ServiceRecord.service_number,
                    ServiceRecord.service_transaction.project_no.as_alias("project_no"),
                )
                .where(ServiceRecord.id == claims.record_id)
                .first()
            )
            if row is None:
                self.attempts.failed(key)
                raise KIOSK_NO_MATCH
            self.attempts.succeeded(key)
            return await self._offer(device, row["project_no"], row["service_number"], now)
        if not project_no or not phone_tail:
            raise InvalidInput(
                "kiosk_needs_check",
                "请扫描回执上的二维码，或输入办件编号和申请人手机号后四位。",
                "give rating_token, or project_no with phone_tail",
                "project_no" if not project_no else "phone_tail",
            )
        model.check_project_no(project_no)
        if not (len(phone_tail) == 4 and phone_tail.isdigit()):
            raise InvalidInput(
                "bad_phone_tail",
                "请输入申请人手机号的后四位数字。",
                "phone_tail must be 4 digits",
                "phone_tail",
            )
        transaction = (
            await ServiceTransaction.select(
                ServiceTransaction.id, ServiceTransaction.applicant_phone
            )
            .where(ServiceTransaction.project_no == project_no)
            .first()
        )
        phone = "".join(ch for ch in (transaction or {}).get("applicant_phone", "") if ch.isdigit())
        # Compared in constant time, and a transaction without a phone never matches.
        matches = len(phone) >= 4 and hmac.compare_digest(phone[-4:], phone_tail)
        if transaction is None or not matches:
            self.attempts.failed(key)
            raise KIOSK_NO_MATCH
        self.attempts.succeeded(key)
        service_number = await self._record_to_rate(transaction["id"], now)
        return await self._offer(device, project_no, service_number, now)

    async def _record_to_rate(self, transaction_id: int, now: datetime) -> int:
        """The latest service record of the transaction still waiting for its first rating."""
        records = await (
            ServiceRecord.select(
                ServiceRecord.id, ServiceRecord.service_number, ServiceRecord.rating_deadline
            )
            .where(ServiceRecord.service_transaction == transaction_id)
            .order_by(ServiceRecord.service_number, ascending=False)
        )
        rated = {
            row["service_record"]
            for row in await Evaluation.select(Evaluation.service_record).where(
                Evaluation.service_record.is_in([r["id"] for r in records] or [0])
                & (Evaluation.assess_number == 1)
            )
        }
        open_records = [r for r in records if now <= as_utc(r["rating_deadline"])]
        for record in open_records:
            if record["id"] not in rated:
                return int(record["service_number"])
        if open_records:
            raise Conflict(
                "already_rated",
                "该办件的服务都已评价过了，感谢您的参与！如需追加评价，请使用短信中的评价链接。",
                "every open service record of this transaction is rated",
                "project_no",
            )
        raise Gone(
            "rating_window_closed",
            "该办件的评价期限已过，无法再评价。如有意见，请拨打 12345 政务服务便民热线。",
            "the rating window of this transaction has closed",
            "project_no",
        )

    async def _offer(
        self, device: DeviceIdentity, project_no: str, service_number: int, now: datetime
    ) -> DeviceView:
        try:
            return await self.pages.announce(device, project_no, service_number, now)
        except Conflict as error:
            if error.code != "already_rated":
                raise
            # The window's wording speaks of pushing to the device; the citizen is told plainly.
            raise Conflict(
                "already_rated",
                "这次服务已经评价过了，感谢您的参与！如需追加评价，请使用短信中的评价链接。",
                "this service record already has its rating",
                "project_no",
            ) from None


__all__ = [
    "KIOSK_NO_MATCH",
    "AlertPolicy",
    "AttemptLimiter",
    "Fleet",
    "FleetRow",
    "HeartbeatIn",
    "alerts_of",
    "hall_open",
    "skew_text",
]
