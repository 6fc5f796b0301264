"""Web edge of the device fleet: the endpoints a device calls with its key (heartbeat, kiosk start,
admin PIN) and the console page that lists the fleet with its alerts (supervisors and admins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.response import Template

from evaluation_service.evaluations.fleet import Fleet, HeartbeatIn, skew_text
from evaluation_service.evaluations.web import DeviceCurrentOut, DeviceKey, device_out
from evaluation_service.identity.api import requires
from evaluation_service.identity.model import Role
from evaluation_service.identity.web import VIEWER, Viewer, staff_error_page, staff_page
from evaluation_service.kernel.errors import DomainError, Forbidden, Unauthenticated
from evaluation_service.kernel.inputs import check_instant
from evaluation_service.kernel.schemas import refusals

Version = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9A-Za-z._\-+]*$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Token = Annotated[str, msgspec.Meta(max_length=300, pattern=r"^[0-9A-Za-z._\-~]+$")]
ProjectNo = Annotated[str, msgspec.Meta(max_length=64)]
PhoneTail = Annotated[str, msgspec.Meta(max_length=8)]
Pin = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]


class HeartbeatBody(msgspec.Struct, forbid_unknown_fields=True):
    app_version: Version
    device_time: datetime  # the device's clock when it sent, with its offset
    queue_length: Count  # ratings waiting in the page's offline queue

    def __post_init__(self) -> None:
        check_instant(self.device_time, "device_time")


class HeartbeatOut(msgspec.Struct):
    server_time: datetime
    clock_skew_ms: int  # device clock minus server clock
    heartbeat_seconds: int  # when to send the next one


class KioskStartIn(msgspec.Struct, forbid_unknown_fields=True):
    """Either the rating token read from the receipt's QR code, or the 办件编号 with the last four
    digits of the applicant's phone."""

    rating_token: Token | None = None
    project_no: ProjectNo | None = None
    phone_tail: PhoneTail | None = None


class PinIn(msgspec.Struct, forbid_unknown_fields=True):
    pin: Pin


def _key(device_key: str | None) -> str:
    if not device_key:
        raise Unauthenticated(
            "missing_device_key",
            "缺少设备密钥：请在 X-Device-Key 头中提供本设备的密钥。",
            "provide X-Device-Key",
        )
    return device_key


@post(
    "/api/v1/devices/heartbeat",
    status_code=200,
    tags=["devices"],
    summary="A device says it is alive: its app version, clock and offline queue length",
    responses=refusals(401, 413),
)
async def device_heartbeat(
    fleet: NamedDependency[Fleet], data: JSONBody[HeartbeatBody], device_key: DeviceKey = None
) -> HeartbeatOut:
    device = await fleet.device(_key(device_key))
    now = datetime.now(UTC)
    beat = HeartbeatIn(data.app_version, data.device_time, data.queue_length)
    skew = await fleet.heartbeat(device, beat, now)
    return HeartbeatOut(now, skew, fleet.settings.device_heartbeat_seconds)


@post(
    "/api/v1/devices/kiosk/start",
    status_code=200,
    tags=["devices"],
    summary="A kiosk starts a rating itself: receipt QR token, or 办件编号 plus phone tail",
    responses=refusals(401, 403, 404, 409, 410, 413, 429),
)
async def kiosk_start(
    fleet: NamedDependency[Fleet], data: JSONBody[KioskStartIn], device_key: DeviceKey = None
) -> DeviceCurrentOut:
    device = await fleet.device(_key(device_key))
    view = await fleet.kiosk_start(
        device,
        datetime.now(UTC),
        rating_token=data.rating_token,
        project_no=(data.project_no or "").strip() or None,
        phone_tail=(data.phone_tail or "").strip() or None,
    )
    return device_out(view)


@post(
    "/api/v1/devices/admin-pin",
    status_code=200,
    tags=["devices"],
    summary="Check the admin PIN before the device's setup screen opens",
    responses=refusals(401, 403, 413, 429),
)
async def device_admin_pin(
    fleet: NamedDependency[Fleet], data: JSONBody[PinIn], device_key: DeviceKey = None
) -> dict[str, bool]:
    device = await fleet.device(_key(device_key))
    await fleet.check_pin(device, data.pin)
    return {"ok": True}


DEVICE_ROUTES: list[Any] = [device_heartbeat, kiosk_start, device_admin_pin]


# --- the console page -----------------------------------------------------------------------

FLEET_PAGES = requires(
    Role.supervisor,
    Role.admin,
    refusals={
        Role.deputy: Forbidden(
            "pages_forbidden",
            "您的角色（人大代表、政协委员、媒体观察员）只能查看月度统计报告。请前往“月度报告”。",
            "deputies read reports only",
        )
    },
)
KIND_TEXT = {"window": "窗口评价器", "kiosk": "自助评价终端"}


@get("/console/devices", guards=[FLEET_PAGES])
async def console_devices(
    request: Request[Any, Any, Any], fleet: NamedDependency[Fleet], viewer: NamedDependency[Viewer]
) -> Template:
    now = datetime.now(UTC)
    rows = await fleet.devices(now)
    return staff_page(
        request,
        "console_devices.html",
        viewer,
        tab="devices",
        rows=rows,
        now=now,
        kind_text=KIND_TEXT,
        skew_text=skew_text,
        alerted=sum(1 for r in rows if r.alerts),
        hall_open=fleet.hall_open(now),
        policy=fleet.policy,
        heartbeat_seconds=fleet.settings.device_heartbeat_seconds,
    )


FLEET_PAGE_ROUTER = Router(
    path="/",
    route_handlers=[console_devices],
    dependencies=VIEWER,
    exception_handlers={DomainError: staff_error_page},
    include_in_schema=False,
)

__all__ = ["DEVICE_ROUTES", "FLEET_PAGE_ROUTER"]
