"""The composition root: settings in, one database, the services built once and handed to each
package. The web app, the worker, the scheduler and every command start here.

Packages never import each other sideways; where one needs another's behaviour the root passes it
in: intake gets rectification's ticket opening, forwarding gets rectification's closed results, the
staff pages get the notification inbox and the forwarding failure count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from piccolo.table import Table

from connectors.actors import delivery_policy, province_client, province_config
from connectors.delivery import Forwarder
from connectors.model import (
    ProvinceConfigError,
    ProvinceUnavailable,
    RectifyResult,
    TicketResultToSend,
)
from connectors.province.client import ProvinceClient
from connectors.reconcile import reconcile_and_record
from connectors.service import Forwarding
from evaluation_service.evaluations.fleet import Fleet
from evaluation_service.evaluations.service import Intake
from evaluation_service.evaluations.tokens import RatingTokens
from evaluation_service.identity.service import Identity, LoginPolicy
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.settings import Settings
from evaluation_service.kernel.workdays import CalendarOverrides, WorkCalendar, load_calendar_file
from evaluation_service.root.schedule import Sends, running, schedule_table
from rectification.actors import sweep_and_escalate
from rectification.case import Cases, CaseTokens
from rectification.evidence import Evidence
from rectification.notify import Outbound, RetryPolicy
from rectification.senders import sender_from
from rectification.service import Rectification, TicketOpening, closed_results, ticket_clock
from reports.actors import generate_scheduled
from reports.service import Reports


def build_calendar(settings: Settings) -> WorkCalendar:
    overrides = CalendarOverrides()
    if settings.calendar_file is not None:
        overrides = load_calendar_file(settings.calendar_file)
    extra = CalendarOverrides.from_lists(
        holidays=settings.extra_holidays, workdays=settings.extra_workdays
    )
    return WorkCalendar(overrides.merged_with(extra))


def registered_tables() -> list[type[Table]]:
    """Every table of every Piccolo app in the registry, so one engine can be bound to all."""
    from evaluation_service.root.piccolo_conf import APP_REGISTRY

    return [table for app in APP_REGISTRY.app_configs.values() for table in app.table_classes]


def new_database(settings: Settings, pool_size: int | None = None) -> Database:
    """The one place a Database is built: every table of every package bound to it."""
    db = Database(settings.database_url, pool_size or settings.db_pool_size)
    db.bind(registered_tables())
    return db


@asynccontextmanager
async def started_database(
    settings: Settings, pool_size: int | None = None
) -> AsyncIterator[Database]:
    """For commands: a started database, closed on the way out."""
    db = new_database(settings, pool_size)
    await db.start()
    try:
        yield db
    finally:
        await db.close()


async def ticket_results(ticket_ids: list[int]) -> dict[int, TicketResultToSend]:
    """Rectification's closing results in the shape forwarding sends (差评整改在线反馈)."""
    return {
        ticket_id: TicketResultToSend(
            ticket_id=r.ticket_id,
            project_no=r.project_no,
            service_number=r.service_number,
            assess_number=r.assess_number,
            result=RectifyResult(r.result),
            measures=r.measures,
            feedback=r.feedback,
            closed_at=r.closed_at,
        )
        for ticket_id, r in (await closed_results(ticket_ids)).items()
    }


def forwarding_problem(settings: Settings, needed: bool = False) -> str | None:
    """Why forwarding cannot start with these settings (checked before serving), or None.
    `needed`: the command talks to the province whatever FORWARDING_ENABLED says (reconcile)."""
    if not (settings.forwarding_enabled or needed):
        return None
    try:
        province_config(settings)
    except ProvinceConfigError as exc:
        return (
            f"省平台对接参数有误，无法转发评价：{exc}\n"
            "Set the PROVINCE_* settings the province issued (docs/operations.md), or "
            "FORWARDING_ENABLED=false to run without forwarding (ratings are kept in the outbox)."
        )
    return None


def forwarder(db: Database, settings: Settings) -> Forwarder:
    """A forwarder with its own province client (one per process, closed with the worker)."""
    return Forwarder(
        db, province_client(settings), delivery_policy(settings), ticket_results=ticket_results
    )


def identity_of(db: Database, settings: Settings) -> Identity:
    return Identity(
        db,
        LoginPolicy(
            max_failures=settings.login_max_failures,
            address_max_failures=settings.login_address_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
            session=timedelta(hours=settings.session_hours),
        ),
        ZoneInfo(settings.timezone),
    )


@dataclass(frozen=True)
class Services:
    """Everything one process builds once: what request handlers and actors are given."""

    settings: Settings
    db: Database
    calendar: WorkCalendar
    identity: Identity
    intake: Intake
    rectification: Rectification
    forwarding: Forwarding
    reports: Reports
    fleet: Fleet
    cases: Cases
    evidence: Evidence


def build_services(settings: Settings, db: Database | None = None) -> Services:
    db = db or new_database(settings)
    calendar = build_calendar(settings)
    intake = Intake(
        db,
        settings,
        calendar,
        RatingTokens(settings.token_secret),
        TicketOpening(ticket_clock(settings, calendar)),
    )
    rectification = Rectification.from_settings(db, settings, calendar)
    return Services(
        settings=settings,
        db=db,
        calendar=calendar,
        identity=identity_of(db, settings),
        intake=intake,
        fleet=Fleet(intake, settings),
        rectification=rectification,
        forwarding=Forwarding(db),
        reports=Reports.from_settings(db, settings, calendar),
        cases=cases_of(rectification, settings),
        evidence=Evidence(db, settings.var_dir, settings.evidence_max_bytes),
    )


def cases_of(rectification: Rectification, settings: Settings) -> Cases:
    return Cases(
        rectification,
        CaseTokens(settings.token_secret),
        settings.public_base_url,
        settings.case_link_days,
        settings.case_sms_template,
    )


def outbound_of(services: Services) -> Outbound | None:
    """The outbound channel with the configured sender (one per process: it owns the gateway's
    HTTP client); None when NOTIFY_SENDER=none."""
    settings = services.settings
    sender = sender_from(settings)
    if sender is None:
        return None
    policy = RetryPolicy(
        base_seconds=settings.notify_retry_base_seconds,
        max_seconds=settings.notify_retry_max_seconds,
    )
    return Outbound(services.db, sender, policy, services.cases.sms)


async def sync_indicators(client: ProvinceClient, intake: Intake) -> int:
    """The province's national indicator dictionary (norm interface) into intake, as one version:
    what the rating pages offer and what evalDetail carries. Rows changed (0 when unchanged)."""
    dictionary = await client.fetch_indicators()
    if not dictionary:
        raise ProvinceUnavailable("省平台评价指标接口返回空字典，保留当前指标")
    version = dictionary[0].version
    rows = [(level, item.code, item.text) for item in dictionary for level in sorted(item.levels)]
    return await intake.replace_indicators(version, rows, datetime.now(UTC))


def embedded_sends(services: Services, client: ProvinceClient | None) -> Sends:
    """The schedule table's sends as direct calls on this process's services (embedded default)."""
    settings = services.settings
    zone = ZoneInfo(settings.timezone)

    async def sweep() -> None:
        await sweep_and_escalate(
            services.rectification, datetime.now(UTC), settings.ticket_webhook_url
        )

    async def report(month: str) -> None:
        await generate_scheduled(services.reports, month, datetime.now(UTC))

    async def reconcile(day: str) -> None:
        if client is not None and client.has_holdings:
            await reconcile_and_record(date.fromisoformat(day), client, zone, settings.var_dir)

    async def indicators() -> None:
        if client is not None:
            await sync_indicators(client, services.intake)

    return Sends(sweep=sweep, report=report, reconcile=reconcile, indicators=indicators)


def embedded_schedule(
    services: Services, enabled: bool
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan hook: the schedule table on the web process's loop (embedded broker only)."""

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if not enabled:
            yield
            return
        settings = services.settings
        client = province_client(settings) if settings.forwarding_enabled else None
        try:
            async with running(schedule_table(settings, embedded_sends(services, client))):
                yield
        finally:
            if client is not None:
                await client.close()

    return lifespan
