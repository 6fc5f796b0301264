"""What the people's pages read and the device session they share with the window system.

The citizen page (/r/{token}) shows what is being rated before anyone rates it; the window/kiosk
page (/device) shows the service record its window system last announced. Ratings themselves go
through Intake.submit_evaluation, like every other channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from evaluation_service.evaluations import model
from evaluation_service.evaluations.model import DeviceKind
from evaluation_service.evaluations.service import DeviceIdentity, Intake
from evaluation_service.kernel.clock import as_utc
from evaluation_service.kernel.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from evaluation_service.kernel.tables import (
    Device,
    DeviceSession,
    Evaluation,
    ServiceRecord,
    Staff,
)

# A record announced and never rated stops being offered after this long, so a forgotten session
# does not greet the next citizen at the window.
SESSION_MAX_AGE = timedelta(minutes=30)


@dataclass(frozen=True)
class RecordView:
    """One service record as a person sees it, times in the county's zone."""

    record_id: int
    project_no: str
    service_number: int
    record_name: str
    item_name: str
    department_name: str
    window_no: str
    occurred_at: datetime
    rating_deadline: datetime
    applicant_identified: bool
    rated: frozenset[int]
    client_id: int | None = None  # the business system that registered the transaction
    staff_no: str = ""  # who served the citizen in this contact (empty: not given)
    # The first rating, shown on the follow-up page (追加评价 adds to it, it does not replace it).
    first_level: int | None = None
    first_rated_at: datetime | None = None

    @property
    def next_assess_number(self) -> int | None:
        """1 for the first rating, 2 for the one follow-up (追加评价), None when both are given."""
        if 1 not in self.rated:
            return 1
        if 2 not in self.rated:
            return 2
        return None


@dataclass(frozen=True)
class StaffView:
    """The staff member who served, as the evaluator shows them."""

    staff_no: str
    name: str
    star_level: int
    has_photo: bool
    photo_sha256: str


@dataclass(frozen=True)
class DeviceView:
    device_id: str
    kind: DeviceKind
    name: str
    window_no: str
    window_name: str
    hall: str
    # The record waiting to be rated here, or None: the page then shows its idle screen.
    current: RecordView | None
    service_promise: str = ""
    complaint_phone: str = ""
    voice_prompts: bool = False
    # When the current record was announced: announcing the same record again offers it again on
    # a device that let it time out.
    announced_at: datetime | None = None
    staff: StaffView | None = None


def _window_closed() -> Gone:
    return Gone(
        "rating_window_closed",
        "本次服务的评价期限已过，无法再评价。感谢您的关注。",
        "the rating window for this service record has closed",
    )


class Pages:
    """Read functions and the device session, over the intake's database and credentials."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.zone = ZoneInfo(intake.settings.timezone)

    # --- service records -----------------------------------------------------------------------

    async def _record(self, where: Any) -> RecordView | None:
        row = await (
            ServiceRecord.select(
                ServiceRecord.id,
                ServiceRecord.service_number,
                ServiceRecord.name,
                ServiceRecord.window_no,
                ServiceRecord.staff_no,
                ServiceRecord.occurred_at,
                ServiceRecord.rating_deadline,
                ServiceRecord.service_transaction.project_no.as_alias("project_no"),
                ServiceRecord.service_transaction.applicant_identified.as_alias("identified"),
                ServiceRecord.service_transaction.client.as_alias("client_id"),
                ServiceRecord.service_transaction.item.name.as_alias("item_name"),  # type: ignore[union-attr]
                ServiceRecord.service_transaction.department.name.as_alias(  # type: ignore[union-attr]
                    "department_name"
                ),
            )
            .where(where)
            .first()
        )
        if row is None:
            return None
        rated = await Evaluation.select(
            Evaluation.assess_number, Evaluation.level, Evaluation.received_at
        ).where(Evaluation.service_record == row["id"])
        first = next((r for r in rated if r["assess_number"] == 1), None)
        return RecordView(
            record_id=row["id"],
            project_no=row["project_no"],
            service_number=row["service_number"],
            record_name=row["name"],
            item_name=row["item_name"] or "",
            department_name=row["department_name"] or "",
            window_no=row["window_no"] or "",
            occurred_at=as_utc(row["occurred_at"]).astimezone(self.zone),
            rating_deadline=as_utc(row["rating_deadline"]).astimezone(self.zone),
            applicant_identified=bool(row["identified"]),
            rated=frozenset(r["assess_number"] for r in rated),
            client_id=row["client_id"],
            staff_no=row["staff_no"] or "",
            first_level=first["level"] if first else None,
            first_rated_at=as_utc(first["received_at"]).astimezone(self.zone) if first else None,
        )

    async def _record_by_number(self, project_no: str, service_number: int) -> RecordView | None:
        return await self._record(
            (ServiceRecord.service_transaction.project_no == project_no)
            & (ServiceRecord.service_number == service_number)
        )

    async def record_for_token(self, token: str, now: datetime) -> RecordView:
        """The record a rating link names; 401 for a broken link, 410 once the window has closed."""
        claims = self.intake.tokens.verify(token, now)
        view = await self._record(ServiceRecord.id == claims.record_id)
        if view is None:
            raise NotFound(
                "unknown_service_record",
                "找不到这条服务记录，可能已被业务系统撤回。请向窗口工作人员咨询。",
                "no such service record",
            )
        if now > view.rating_deadline:
            raise _window_closed()
        return view

    async def token_for_record(
        self, bearer: str | None, project_no: str, service_number: int
    ) -> str:
        """A rating token for the window system's QR code, from its integration credentials: only
        for a record of a transaction that system registered."""
        client_id = await self.intake.authenticate_client(bearer)
        view = await self._known_record(project_no, service_number, client_id)
        return self.intake.tokens.issue(
            view.record_id, view.rating_deadline.astimezone(UTC), view.applicant_identified
        )

    async def _known_record(
        self, project_no: str, service_number: int, client_id: int | None = None
    ) -> RecordView:
        """The record by its numbers; with `client_id`, only if that business system registered it
        (another system's record is answered like an unknown one, revealing nothing)."""
        model.check_project_no(project_no)
        if not 1 <= service_number <= 999:
            raise InvalidInput(
                "bad_service_number",
                "服务记录序号应为1至999。",
                "service_number must be 1-999",
                "service_number",
            )
        view = await self._record_by_number(project_no, service_number)
        if view is None or (client_id is not None and view.client_id != client_id):
            raise NotFound(
                "unknown_service_record",
                "找不到该办件的服务记录，请核对办件编号和服务序号。",
                "no such service record",
                "project_no",
            )
        return view

    # --- devices -------------------------------------------------------------------------------

    async def device_by_id(self, bearer: str | None, device_id: str | None) -> DeviceIdentity:
        """A business or window system names the device it speaks for, with its own token."""
        await self.intake.authenticate_client(bearer)
        if not device_id:
            raise InvalidInput(
                "missing_device_id",
                "使用接入凭证时，请在 device_id 中注明评价设备编号。",
                "with an integration token, name the device in device_id",
                "device_id",
            )
        row = (
            await Device.select(Device.id, Device.device_id, Device.kind, Device.window.window_no)
            .where((Device.device_id == device_id) & Device.active.eq(True))
            .first()
        )
        if row is None:
            raise NotFound(
                "unknown_device",
                f"评价设备 {device_id} 未登记或已停用。",
                f"device {device_id!r} is unknown or disabled",
                "device_id",
            )
        return DeviceIdentity(
            id=row["id"],
            device_id=row["device_id"],
            kind=DeviceKind(row["kind"]),
            window_no=row["window.window_no"] or "",
        )

    async def announce(
        self,
        device: DeviceIdentity,
        project_no: str,
        service_number: int,
        now: datetime,
        client_id: int | None = None,
    ) -> DeviceView:
        """The window system finished this record: offer it for rating on the device, replacing any
        record announced before. A business system (`client_id`, when it speaks with its token)
        announces only records of its own transactions."""
        view = await self._known_record(project_no, service_number, client_id)
        if now > view.rating_deadline:
            raise _window_closed()
        if (
            device.kind == DeviceKind.window
            and view.window_no
            and device.window_no
            and view.window_no != device.window_no
        ):
            raise Forbidden(
                "record_of_other_window",
                f"该服务在 {view.window_no} 号窗口办理，"
                f"不能推送到 {device.window_no} 号窗口的评价器。",
                "this service record was handled at another window",
                "project_no",
            )
        if 1 in view.rated:
            raise Conflict(
                "already_rated",
                "该服务已经评价过了，无需再次推送到评价器。",
                "this service record already has its rating",
                "project_no",
            )
        async with self.intake.db.write():
            await DeviceSession.insert(
                DeviceSession(
                    device=device.id,
                    project_no=project_no,
                    service_number=service_number,
                    announced_at=now,
                )
            ).on_conflict(
                target=DeviceSession.device,
                action="DO UPDATE",
                values=[
                    DeviceSession.project_no,
                    DeviceSession.service_number,
                    DeviceSession.announced_at,
                ],
            )
        return await self.current(device, now)

    async def clear(self, device: DeviceIdentity, now: datetime) -> DeviceView:
        async with self.intake.db.write():
            await DeviceSession.delete().where(DeviceSession.device == device.id)
        return await self.current(device, now)

    async def current(self, device: DeviceIdentity, now: datetime) -> DeviceView:
        """The device and the record waiting at it; none once rated, expired or too old."""
        info = (
            await Device.select(
                Device.name,
                Device.voice_prompts,
                Device.window.name.as_alias("window_name"),
                Device.window.hall,
                Device.window.service_promise.as_alias("service_promise"),
                Device.window.complaint_phone.as_alias("complaint_phone"),
            )
            .where(Device.id == device.id)
            .first()
        ) or {}
        session = (
            await DeviceSession.select(
                DeviceSession.project_no, DeviceSession.service_number, DeviceSession.announced_at
            )
            .where(DeviceSession.device == device.id)
            .first()
        )
        current = None
        announced_at = None
        if session is not None and now - as_utc(session["announced_at"]) <= SESSION_MAX_AGE:
            view = await self._record_by_number(session["project_no"], session["service_number"])
            if view is not None and 1 not in view.rated and now <= view.rating_deadline:
                current = view
                announced_at = as_utc(session["announced_at"])
        staff = await self._staff(current.staff_no) if current and current.staff_no else None
        return DeviceView(
            device_id=device.device_id,
            kind=device.kind,
            name=info.get("name") or "",
            window_no=device.window_no,
            window_name=info.get("window_name") or "",
            hall=info.get("window.hall") or "",
            current=current,
            service_promise=info.get("service_promise") or "",
            complaint_phone=info.get("complaint_phone") or "12345",
            voice_prompts=bool(info.get("voice_prompts")),
            announced_at=announced_at,
            staff=staff,
        )

    async def _staff(self, staff_no: str) -> StaffView | None:
        row = (
            await Staff.select(Staff.staff_no, Staff.name, Staff.star_level, Staff.photo_sha256)
            .where(Staff.staff_no == staff_no)
            .first()
        )
        if row is None:
            return None
        return StaffView(
            staff_no=row["staff_no"],
            name=row["name"],
            star_level=max(0, min(int(row["star_level"] or 0), 5)),
            has_photo=bool(row["photo_sha256"]),
            photo_sha256=row["photo_sha256"] or "",
        )


__all__ = ["SESSION_MAX_AGE", "DeviceView", "Pages", "RecordView", "StaffView"]
