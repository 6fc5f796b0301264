"""What an operator watches: Prometheus metrics at /metrics and JSON log lines carrying the id of
the request that caused them.

With several uvicorn worker processes, `serve` points PROMETHEUS_MULTIPROC_DIR at a directory under
var/ before any worker imports prometheus_client, so counters and histograms of every process are
summed at scrape time, whichever process answers it. The database figures (outbox, tickets) are
read at scrape time instead, from the cached forwarding stats and two ticket counts, so every
process reports the same values.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from litestar import Litestar, Response, get
from litestar.di import NamedDependency
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from connectors.service import Forwarding
from evaluation_service.evaluations.fleet import Fleet, HeartbeatIn
from evaluation_service.evaluations.schemas import EvaluationIn, EvaluationOut
from evaluation_service.evaluations.service import DeviceIdentity, Intake
from evaluation_service.kernel.tracing import REQUEST_ID
from rectification.model import State
from rectification.tables import Ticket
from reports.model import ReportMonth
from reports.service import Progress, Reports, VersionInfo

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


REQUEST_SECONDS = Histogram(
    "haochaping_http_request_duration_seconds",
    "Time from a request's arrival to its answer, by route template and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
RATINGS_ACCEPTED = Counter(
    "haochaping_ratings_accepted",
    "Ratings stored (201), by channel and satisfaction level (1 very dissatisfied … 5)",
    ["channel", "level"],
)
DEVICE_HEARTBEATS = Counter(
    "haochaping_device_heartbeats",
    "Heartbeats received from window evaluators and kiosks, by device kind",
    ["kind"],
)
DEVICE_CLOCK_SKEW = Histogram(
    "haochaping_device_clock_skew_seconds",
    "Absolute difference between a device's clock and the server's, at each heartbeat",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
CLOSED_STATES = (State.closed, State.closed_invalid)


def _children(metric: Any) -> Callable[..., Any]:
    """`metric.labels(*values)`, remembered: labels() checks and locks on every call, and the hot
    path asks for the same few children thousands of times a second."""
    cache: dict[tuple[str, ...], Any] = {}

    def child(*values: str) -> Any:
        found = cache.get(values)
        if found is None:
            found = cache[values] = metric.labels(*values)
        return found

    return child


_request_seconds = _children(REQUEST_SECONDS)
_ratings_accepted = _children(RATINGS_ACCEPTED)
# Request ids: a random prefix per process and a counter, unique without a uuid4 per request.
_id_prefix = os.urandom(4).hex()
_id_counter = itertools.count(1)


def _new_id_prefix() -> None:  # a forked process must not repeat its parent's ids
    global _id_prefix, _id_counter
    _id_prefix, _id_counter = os.urandom(4).hex(), itertools.count(1)


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    return f"{_id_prefix}{next(_id_counter) & 0xFFFFFFFF:08x}"


class RequestContext:
    """ASGI middleware: a request id (the caller's X-Request-ID when it is a plain token, else a new
    one) in a context variable for the log lines, echoed in the answer; the request's latency in
    the histogram under its route template, so ids in paths do not make new series."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        given_id = raw.decode("latin-1")
        request_id = given_id if given_id and _SAFE_ID.match(given_id) else new_request_id()
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _request_seconds(
                scope.get("method", ""), scope.get("path_template") or "unrouted", str(status)
            ).observe(time.perf_counter() - started)
            REQUEST_ID.reset(token)


class ObservedLitestar(Litestar):
    """Litestar with `RequestContext` outermost: around routing and the app's own exception
    handling, so every answer carries its request id and is timed under the status it went out
    with — also a 404 or a 405 (refused before any route runs) and a refusal that reaches the app's
    exception handlers from outside a route's stack (the rating fast path raises its use case's
    refusals there). As a route middleware it saw neither."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._with_context = RequestContext(partial(Litestar.__call__, self))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._with_context(scope, receive, send)


REPORT_SECONDS = Histogram(
    "haochaping_report_generation_seconds",
    "Time to compute and archive one monthly report version, by outcome (done / failed)",
    ["outcome"],
    buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0),
)


class ObservedReports(Reports):
    """The process's Reports, timing each generation (page button, schedule or command)."""

    def __init__(self, inner: Reports) -> None:
        self.__dict__.update(inner.__dict__)

    async def generate(
        self, month: ReportMonth, as_of: datetime, progress: Progress | None = None
    ) -> VersionInfo:
        started = time.perf_counter()
        outcome = "failed"
        try:
            info = await super().generate(month, as_of, progress)
            outcome = "done"
            return info
        finally:
            REPORT_SECONDS.labels(outcome).observe(time.perf_counter() - started)


class ObservedFleet(Fleet):
    """The process's Fleet, counting heartbeats and their clock skew for Prometheus."""

    def __init__(self, inner: Fleet) -> None:
        self.__dict__.update(inner.__dict__)

    async def heartbeat(self, device: DeviceIdentity, beat: HeartbeatIn, now: datetime) -> int:
        skew_ms = await super().heartbeat(device, beat, now)
        DEVICE_HEARTBEATS.labels(device.kind.value).inc()
        DEVICE_CLOCK_SKEW.observe(abs(skew_ms) / 1000)
        return skew_ms


class ObservedIntake(Intake):
    """The process's Intake, counting each stored rating for Prometheus.

    A stored rating is not logged: its row keeps the request id (Evaluation.request_id), and the
    delivery worker's line names it again. One INFO line per rating cost 10-15 % of the intake's
    CPU at saturation (bench/intake.py); what is logged here is what went wrong."""

    def __init__(self, inner: Intake) -> None:
        self.__dict__.update(inner.__dict__)

    async def submit_evaluation(
        self, data: EvaluationIn, device_key: str | None, now: datetime
    ) -> EvaluationOut:
        stored = await super().submit_evaluation(data, device_key, now)
        _ratings_accepted(stored.channel, str(stored.level)).inc()
        return stored


class _Figures:
    """Gauges read from the database at scrape time, as one collector for one scrape."""

    def __init__(self, values: dict[str, tuple[str, float]]) -> None:
        self.values = values

    def collect(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(name, help_text, value=value)
            for name, (help_text, value) in self.values.items()
        ]


async def database_figures(forwarding: Forwarding, now: datetime) -> dict[str, tuple[str, float]]:
    stats = await forwarding.recent_stats(now)
    open_tickets = Ticket.state.not_in(list(CLOSED_STATES))
    opened = await Ticket.count().where(open_tickets)
    overdue = await Ticket.count().where(open_tickets & (Ticket.due_at < now))
    return {
        "haochaping_outbox_pending": ("Outbox rows waiting to be sent", stats.pending),
        "haochaping_outbox_delivered": ("Outbox rows the province accepted", stats.delivered),
        "haochaping_outbox_failed": ("Outbox rows given up on (console)", stats.failed),
        "haochaping_outbox_oldest_pending_age_seconds": (
            "Age of the oldest pending outbox row (0 when none)",
            stats.oldest_pending_age_seconds or 0.0,
        ),
        "haochaping_tickets_open": ("Rectification tickets not closed", opened),
        "haochaping_tickets_overdue": ("Open tickets past their current step's deadline", overdue),
    }


def process_metrics() -> bytes:
    """Counters and histograms: summed over every process when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)


async def fleet_figures(fleet: Fleet, now: datetime) -> dict[str, tuple[str, float]]:
    rows = await fleet.devices(now)
    return {
        "haochaping_devices_alerted": (
            "Active devices silent during opening hours or with a skewed clock (/console/devices)",
            sum(1 for row in rows if row.alerts),
        ),
    }


@get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
async def metrics(
    forwarding: NamedDependency[Forwarding], fleet: NamedDependency[Fleet]
) -> Response[bytes]:
    registry = CollectorRegistry()
    now = datetime.now(UTC)
    figures = {**await database_figures(forwarding, now), **await fleet_figures(fleet, now)}
    registry.register(_Figures(figures))  # type: ignore[arg-type]
    body = process_metrics() + generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def stamp_request_ids() -> None:
    """Every log record made while a request is handled carries its id (`record.request_id`),
    whichever handler formats it later. Installed once per process, by the app."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "stamps_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = REQUEST_ID.get() or "-"
        return record

    factory.stamps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id and any `extra` fields."""

    _PLAIN = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in self._PLAIN})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """A dictConfig for every process (uvicorn applies it in each worker): `json` lines with the
    request id, or plain text."""
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }
