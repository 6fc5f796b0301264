"""The one impure step of a report: GROUP BY queries that run unchanged on PostgreSQL and SQLite.

Every rating statistic is aggregated in the database; what comes back is a few thousand grouped rows
at most. Only closed tickets come back one per row (≤ tens of thousands), because working days to
close need the holiday calendar. Month bounds are passed as UTC timestamps, never computed with a
dialect's date functions; the single dialect difference (seconds between two timestamps) is
`_lag_seconds`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from evaluation_service.kernel.rates import (
    CLOSED,
    CLOSED_INVALID,
    feedback_done_sql,
    no_view_sql,
    rectified_sql,
    reopened_sql,
)
from evaluation_service.kernel.tables import Evaluation
from evaluation_service.kernel.vocabulary import bad_sql
from reports.model import FlagRules, ReportMonth

Rows = list[dict[str, Any]]
Progress = Callable[[str], None]

_NOT_DEFAULT = "NOT e.is_default"
_JOIN_RECORD = (
    "JOIN service_record r ON r.id = e.service_record "
    "JOIN service_transaction t ON t.id = r.service_transaction"
)
_RATING_COUNTS = (
    "COUNT(*) AS ratings, SUM(CASE WHEN e.real_name THEN 1 ELSE 0 END) AS real_name, "
    "SUM(CASE WHEN ki.evaluation IS NULL THEN 0 ELSE 1 END) AS invalid_bad"
)
# A bad review whose appeal was upheld (无效差评) leaves the rates; ticket.evaluation is unique, so
# the join adds no rows. Follow-up ratings (assess_number 2) come back apart, as `assess`.
_JOIN_INVALID = f"LEFT JOIN ticket ki ON ki.evaluation = e.id AND ki.state = '{CLOSED_INVALID}'"

RATINGS_BY_DEPARTMENT_ITEM_CHANNEL = f"""
SELECT t.department AS department, t.item AS item, e.channel AS channel, e.level AS level,
       e.assess_number AS assess, {_RATING_COUNTS}
FROM evaluation e {_JOIN_RECORD} {_JOIN_INVALID}
WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT}
GROUP BY t.department, t.item, e.channel, e.level, e.assess_number
"""

RATINGS_BY_WINDOW_STAFF = f"""
SELECT r.window_no AS window_no, r.staff_no AS staff_no, e.level AS level,
       e.assess_number AS assess, {_RATING_COUNTS}
FROM evaluation e JOIN service_record r ON r.id = e.service_record {_JOIN_INVALID}
WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT}
GROUP BY r.window_no, r.staff_no, e.level, e.assess_number
"""

# Combinations of tags are few (a handful of codes per level), so they are split in pandas.
BAD_TAGS = f"""
SELECT e.tags AS tags, COUNT(*) AS ratings
FROM evaluation e
WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT} AND {bad_sql("e.level")}
GROUP BY e.tags
"""

# Service records with at least one rating a person gave. Joined as a set, not as a correlated
# EXISTS per record: at a million records the planner hashes it once instead of probing each.
_RATED_SET = (
    "LEFT JOIN (SELECT DISTINCT e.service_record AS service_record FROM evaluation e "
    f"WHERE {_NOT_DEFAULT}) x ON x.service_record = r.id"
)
_IS_RATED = "CASE WHEN x.service_record IS NULL THEN 0 ELSE 1 END"

RECORDS_BY_DEPARTMENT_ITEM = f"""
SELECT t.department AS department, t.item AS item, COUNT(*) AS records,
       SUM({_IS_RATED}) AS rated_records,
       COUNT(DISTINCT r.service_transaction) AS transactions,
       COUNT(DISTINCT CASE WHEN x.service_record IS NOT NULL THEN r.service_transaction END)
           AS rated_transactions
FROM service_record r
JOIN service_transaction t ON t.id = r.service_transaction
{_RATED_SET}
WHERE r.occurred_at >= {{}} AND r.occurred_at < {{}}
GROUP BY t.department, t.item
"""

RECORDS_BY_WINDOW_STAFF = f"""
SELECT r.window_no AS window_no, r.staff_no AS staff_no, COUNT(*) AS records,
       SUM({_IS_RATED}) AS rated_records
FROM service_record r {_RATED_SET}
WHERE r.occurred_at >= {{}} AND r.occurred_at < {{}}
GROUP BY r.window_no, r.staff_no
"""

# Ticket rates by the kernel's definitions (evaluation_service/kernel/rates.py): one ticket per
# service record, counted as it stands at `as_of` — a reopened ticket once, closed or not.
_TICKET_COUNTS = f"""
       COUNT(*) AS tickets,
       SUM(CASE WHEN k.state = '{CLOSED_INVALID}' THEN 1 ELSE 0 END) AS invalid,
       SUM(CASE WHEN {rectified_sql()} THEN 1 ELSE 0 END) AS closed,
       SUM(CASE WHEN {feedback_done_sql()} THEN 1 ELSE 0 END) AS feedback_done,
       SUM(CASE WHEN {no_view_sql()} THEN 1 ELSE 0 END) AS no_view,
       SUM(CASE WHEN k.state NOT IN ('{CLOSED}', '{CLOSED_INVALID}') AND k.due_at < {{}}
                THEN 1 ELSE 0 END) AS overdue,
       SUM(CASE WHEN {reopened_sql()} THEN 1 ELSE 0 END) AS reopened"""

TICKETS_BY_DEPARTMENT_ITEM_CHANNEL = f"""
SELECT k.department AS department, k.item AS item, e.channel AS channel, {_TICKET_COUNTS}
FROM ticket k JOIN evaluation e ON e.id = k.evaluation
WHERE k.opened_at >= {{}} AND k.opened_at < {{}}
GROUP BY k.department, k.item, e.channel
"""

TICKETS_BY_WINDOW_STAFF = f"""
SELECT k.window_no AS window_no, k.staff_no AS staff_no, {_TICKET_COUNTS}
FROM ticket k
WHERE k.opened_at >= {{}} AND k.opened_at < {{}}
GROUP BY k.window_no, k.staff_no
"""

# One row per closed ticket: the working days need the calendar (pandas + WorkCalendar).
CLOSED_TICKETS = f"""
SELECT k.department AS department, k.item AS item, e.channel AS channel, k.window_no AS window_no,
       k.staff_no AS staff_no, k.opened_at AS opened_at, k.closed_at AS closed_at,
       CASE WHEN k.extension_used THEN 1 ELSE 0 END AS extension_used,
       k.paused_working_days AS paused_days
FROM ticket k JOIN evaluation e ON e.id = k.evaluation
WHERE k.opened_at >= {{}} AND k.opened_at < {{}} AND k.state = '{CLOSED}'
"""

CATALOG_DEPARTMENTS = "SELECT id, code, name FROM department ORDER BY code"
CATALOG_ITEMS = "SELECT id, code, name, department FROM service_item ORDER BY code"


def _month_case(column: str, boundaries: int) -> str:
    """`CASE WHEN col < b1 THEN 0 WHEN col < b2 THEN 1 …`: the month index, from parameters."""
    arms = " ".join(f"WHEN {column} < {{}} THEN {i}" for i in range(boundaries))
    return f"CASE {arms} END"


def _trend_ratings(months: int) -> str:
    return f"""
SELECT {_month_case("e.received_at", months)} AS month_index, e.level AS level, COUNT(*) AS ratings,
       SUM(CASE WHEN ki.evaluation IS NULL THEN 0 ELSE 1 END) AS invalid_bad
FROM evaluation e {_JOIN_INVALID}
WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT} AND e.assess_number = 1
GROUP BY 1, 2
"""


def _trend_records(months: int) -> str:
    return f"""
SELECT {_month_case("r.occurred_at", months)} AS month_index, COUNT(*) AS records,
       SUM({_IS_RATED}) AS rated_records
FROM service_record r {_RATED_SET}
WHERE r.occurred_at >= {{}} AND r.occurred_at < {{}}
GROUP BY 1
"""


def _trend_tickets(months: int) -> str:
    return f"""
SELECT {_month_case("k.opened_at", months)} AS month_index, COUNT(*) AS tickets,
       SUM(CASE WHEN k.state = '{CLOSED_INVALID}' THEN 1 ELSE 0 END) AS invalid,
       SUM(CASE WHEN {rectified_sql()} THEN 1 ELSE 0 END) AS closed,
       SUM(CASE WHEN {feedback_done_sql()} THEN 1 ELSE 0 END) AS feedback_done
FROM ticket k
WHERE k.opened_at >= {{}} AND k.opened_at < {{}}
GROUP BY 1
"""


def _lag_seconds(is_sqlite: bool) -> str:
    if is_sqlite:
        return "((julianday(o.delivered_at) - julianday(o.created_at)) * 86400.0)"
    # date_part answers a double; EXTRACT's numeric is several times slower over millions of rows.
    return "date_part('epoch', o.delivered_at - o.created_at)"


LAG_BUCKETS = (60,)  # each bucket costs a pass of the lag over every message


def _forwarding(is_sqlite: bool) -> str:
    # The lag is computed once per message in the inner query; NULL unless delivered.
    buckets = ",\n       ".join(
        f"SUM(CASE WHEN x.lag <= {limit} THEN 1 ELSE 0 END) AS within_{limit}"
        for limit in LAG_BUCKETS
    )
    return f"""
SELECT x.kind AS kind, x.state AS state, COUNT(*) AS messages,
       SUM(x.lag) AS lag_total, MAX(x.lag) AS lag_max, MIN(x.created_at) AS oldest_created_at,
       {buckets}
FROM (
    SELECT o.kind AS kind, o.state AS state, o.created_at AS created_at,
           CASE WHEN o.state = 'delivered' AND o.delivered_at IS NOT NULL
                THEN {_lag_seconds(is_sqlite)} END AS lag
    FROM outbox o
    WHERE o.created_at >= {{}} AND o.created_at < {{}}
) x
GROUP BY x.kind, x.state
"""


# --- bad-review themes and integrity flags ------------------------------------------------------

# The month's bad ratings that carry words; jieba segments them in `themes.py`.
BAD_COMMENTS = f"""
SELECT e.id AS id, t.department AS department, e.comment AS comment
FROM evaluation e {_JOIN_RECORD}
WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT} AND {bad_sql("e.level")}
  AND e.comment <> ''
"""

DEVICES = "SELECT id, device_id, name FROM device"

# Hall ratings are the ones given at a device (window evaluators and kiosks authenticate with
# their key, so every window or kiosk rating names its device): flags about the hall need no join.
_HALL_KEY = "e.device"  # an integer: sorting by it is cheap, unlike text under a collation
_HALL = "e.device IS NOT NULL"
EVIDENCE_ROWS = 2000  # rows of evidence a flag query answers at most; the counts stay exact


def _epoch(is_sqlite: bool, column: str) -> str:
    if is_sqlite:
        return f"((julianday({column}) - 2440587.5) * 86400.0)"
    return f"date_part('epoch', {column})"


def _ids(is_sqlite: bool) -> str:
    """The ids of a group as one comma-separated text (the evidence of an island)."""
    if is_sqlite:
        return "group_concat(x.id, ',')"
    return "string_agg(CAST(x.id AS TEXT), ',' ORDER BY x.id)"


def _islands(inner: str, fresh: str, minimum: int, is_sqlite: bool, extra: str = "") -> str:
    """Runs of consecutive rows per key `k` of `inner` (ordered by time): a row whose `fresh`
    condition holds starts a new island. Answers the islands of at least `minimum` rows."""
    return f"""
WITH s AS ({inner}),
g AS (
    SELECT s.*, CASE WHEN {fresh} THEN 1 ELSE 0 END AS fresh
    FROM (SELECT s.*, LAG(s.at_s) OVER w AS prev_at, LAG(s.level) OVER w AS prev_level
          FROM s WINDOW w AS (PARTITION BY s.k ORDER BY s.received_at, s.id)) s
),
x AS (
    SELECT g.*, SUM(g.fresh) OVER (PARTITION BY g.k ORDER BY g.received_at, g.id
                                   ROWS UNBOUNDED PRECEDING) AS island
    FROM g
),
-- The islands long enough first, so that only their rows are gathered into id lists.
big AS (
    SELECT x.k AS k, x.island AS island FROM x GROUP BY x.k, x.island
    HAVING COUNT(*) >= {int(minimum)}
)
SELECT x.k AS k, x.island AS island, MIN(x.level) AS level, COUNT(*) AS ratings,
       MIN(x.received_at) AS first_at, MAX(x.received_at) AS last_at, {_ids(is_sqlite)} AS ids
       {extra}
FROM x JOIN big ON big.k = x.k AND big.island = x.island
GROUP BY x.k, x.island
ORDER BY COUNT(*) DESC
LIMIT {EVIDENCE_ROWS}
"""


def device_islands(rules: FlagRules, is_sqlite: bool) -> str:
    """Both device flags from one pass over the month's hall ratings, sorted once per device:
    `burst` islands (5-star ratings, each soon after the previous 5-star one) and `run` islands
    (the same level again and again). Answers the islands long enough, with `flag` naming which."""
    gap = int(rules.device_burst_gap_seconds)
    order = "PARTITION BY s.k ORDER BY s.received_at, s.id"

    def part(flag: str, island: str, minimum: int, five_only: bool) -> str:
        only = "WHERE x.level = 5" if five_only else ""
        return f"""
SELECT * FROM (
    SELECT '{flag}' AS flag, x.k AS k, MIN(x.level) AS level, COUNT(*) AS ratings,
           MIN(x.received_at) AS first_at, MAX(x.received_at) AS last_at,
           {_ids(is_sqlite)} AS ids
    FROM x JOIN (
        SELECT x.k AS k, x.{island} AS island FROM x {only}
        GROUP BY x.k, x.{island} HAVING COUNT(*) >= {int(minimum)}
    ) big ON big.k = x.k AND big.island = x.{island}
    {only}
    GROUP BY x.k, x.{island}
    ORDER BY COUNT(*) DESC
    LIMIT {EVIDENCE_ROWS}
) {flag}s"""

    return f"""
WITH s AS (
    SELECT e.id AS id, {_HALL_KEY} AS k, e.level AS level, e.received_at AS received_at,
           {_epoch(is_sqlite, "e.received_at")} AS at_s
    FROM evaluation e
    WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT} AND {_HALL}
),
g AS (
    SELECT s.*, LAG(s.level) OVER ({order}) AS prev_level,
           MAX(CASE WHEN s.level = 5 THEN s.at_s END) OVER (
               {order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_five_at
    FROM s
),
x AS (
    SELECT s.*,
           SUM(CASE WHEN s.prev_level IS NULL OR s.level <> s.prev_level THEN 1 ELSE 0 END)
               OVER ({order} ROWS UNBOUNDED PRECEDING) AS run_island,
           SUM(CASE WHEN s.level = 5 AND (s.prev_five_at IS NULL OR s.at_s - s.prev_five_at > {gap})
                    THEN 1 ELSE 0 END)
               OVER ({order} ROWS UNBOUNDED PRECEDING) AS burst_island
    FROM g s
)
{part("burst", "burst_island", rules.device_burst_count, True)}
UNION ALL
{part("run", "run_island", rules.run_length, False)}
"""


def phone_bursts(rules: FlagRules, is_sqlite: bool) -> str:
    """5-star ratings of one applicant phone, each soon after the one before, of several
    transactions. Only phones with enough 5-star ratings in the month reach the window pass."""
    n = int(rules.phone_burst_count)
    inner = f"""
WITH p AS (
    SELECT e.id AS id, t.applicant_phone AS k, e.level AS level, e.received_at AS received_at,
           {_epoch(is_sqlite, "e.received_at")} AS at_s, t.id AS txn
    FROM evaluation e {_JOIN_RECORD}
    WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT} AND e.level = 5
      AND t.applicant_phone <> ''
),
suspects AS (SELECT p.k AS k FROM p GROUP BY p.k HAVING COUNT(*) >= {n})
SELECT p.* FROM p JOIN suspects ON suspects.k = p.k
"""
    gap = f"s.prev_at IS NULL OR s.at_s - s.prev_at > {int(rules.phone_burst_gap_seconds)}"
    return _islands(inner, gap, n, is_sqlite, extra=", COUNT(DISTINCT x.txn) AS transactions")


# A rating given from the phone of the staff member who served the record.
# A staff phone is 11 digits (load-catalog checks); an applicant's may carry dashes or the country
# code (+86, 0086): its last 11 characters once dashes are gone. substr(x, length(x) - 10) means
# the same in PostgreSQL and SQLite for every phone of 11 characters or more; a shorter one never
# equals an 11-digit number in either.
_DIGITS = "replace(t.applicant_phone, '-', '')"
_LAST_11_DIGITS = f"substr({_DIGITS}, length({_DIGITS}) - 10)"

STAFF_OWN_PHONE = f"""
SELECT e.id AS id, r.staff_no AS staff_no, r.window_no AS window_no, e.level AS level,
       e.channel AS channel, e.received_at AS received_at
FROM evaluation e {_JOIN_RECORD}
JOIN staff s ON s.staff_no = r.staff_no
WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT}
  AND r.staff_no <> '' AND s.phone <> '' AND s.phone = {_LAST_11_DIGITS}
ORDER BY e.id
LIMIT {EVIDENCE_ROWS}
"""


def _local_minute(is_sqlite: bool) -> str:
    """Minute of the day on the county's clock; the parameter is the zone (PostgreSQL) or its
    offset as '+480 minutes' (SQLite, which knows no zones: the offset at the month's start)."""
    if is_sqlite:
        return (
            "(CAST(strftime('%H', e.received_at, {}) AS INTEGER) * 60"
            " + CAST(strftime('%M', e.received_at, {}) AS INTEGER))"
        )
    return (
        "(CAST(EXTRACT(HOUR FROM timezone({}, e.received_at)) AS INTEGER) * 60"
        " + CAST(EXTRACT(MINUTE FROM timezone({}, e.received_at)) AS INTEGER))"
    )


def closed_hours(rules: FlagRules, is_sqlite: bool) -> str:
    """Hall ratings (at a device) given while the hall is closed."""
    opens, closes = (int(m) for m in rules.hall_hours)
    return f"""
SELECT y.id AS id, y.k AS k, y.level AS level, y.received_at AS received_at, y.minute AS minute
FROM (
    SELECT e.id AS id, {_HALL_KEY} AS k, e.level AS level, e.received_at AS received_at,
           {_local_minute(is_sqlite)} AS minute
    FROM evaluation e
    WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT} AND {_HALL}
) y
WHERE y.minute < {opens} OR y.minute >= {closes}
ORDER BY y.id
LIMIT {EVIDENCE_ROWS}
"""


# A window's first ratings over an earlier month that has no archived report (the history of the
# 5-star jump flag; archived months are read from their metrics instead, at no scan).
WINDOW_HISTORY = f"""
SELECT r.window_no AS window_no, COUNT(*) AS ratings,
       SUM(CASE WHEN e.level = 5 THEN 1 ELSE 0 END) AS five
FROM evaluation e JOIN service_record r ON r.id = e.service_record
WHERE e.received_at >= {{}} AND e.received_at < {{}} AND {_NOT_DEFAULT} AND e.assess_number = 1
  AND r.window_no <> ''
GROUP BY r.window_no
"""


@dataclass(frozen=True)
class FlagQuery:
    """What the flag queries need besides the month: rules, zone, and the window history: rows
    (window_no, ratings, five) of the earlier months already archived, and the bounds of those
    that are not, to be counted here."""

    rules: FlagRules
    timezone: str
    offset_minutes: int  # the zone's offset at the month's start (SQLite's local clock)
    archived_history: Rows = field(default_factory=list)
    unarchived_months: list[tuple[datetime, datetime]] = field(default_factory=list)


@dataclass
class RawReport:
    """What the database said about one month, grouped; the input of `frames.build`."""

    month: ReportMonth
    start: datetime
    end: datetime
    as_of: datetime
    departments: Rows = field(default_factory=list)
    items: Rows = field(default_factory=list)
    ratings: Rows = field(default_factory=list)
    previous_ratings: Rows = field(default_factory=list)  # the month before, same shape
    ratings_by_window_staff: Rows = field(default_factory=list)
    bad_tags: Rows = field(default_factory=list)
    indicators: Rows = field(default_factory=list)
    records: Rows = field(default_factory=list)
    records_by_window_staff: Rows = field(default_factory=list)
    tickets: Rows = field(default_factory=list)
    tickets_by_window_staff: Rows = field(default_factory=list)
    closed_tickets: Rows = field(default_factory=list)
    forwarding: Rows = field(default_factory=list)
    trend_months: list[ReportMonth] = field(default_factory=list)
    trend_ratings: Rows = field(default_factory=list)
    trend_records: Rows = field(default_factory=list)
    trend_tickets: Rows = field(default_factory=list)
    bad_comments: Rows = field(default_factory=list)
    devices: Rows = field(default_factory=list)
    device_bursts: Rows = field(default_factory=list)
    phone_bursts: Rows = field(default_factory=list)
    staff_own_phone: Rows = field(default_factory=list)
    closed_hours: Rows = field(default_factory=list)
    window_history: Rows = field(default_factory=list)  # earlier months, per window
    identical_runs: Rows = field(default_factory=list)


async def _raw(sql: str, *params: Any) -> Rows:
    rows: Rows = await Evaluation.raw(sql, *params)
    return rows


async def fetch(
    month: ReportMonth,
    bounds: tuple[datetime, datetime],
    trend_bounds: list[datetime],
    as_of: datetime,
    is_sqlite: bool,
    progress: Progress | None = None,
    previous: tuple[datetime, datetime] | None = None,
    flags: FlagQuery | None = None,
    with_comments: bool = True,
) -> RawReport:
    """Run the month's queries; on PostgreSQL they run side by side on the pool's connections.

    `trend_bounds` are the starts of the trend's months plus the end of the last one (13 for 12
    months); the last month of the trend is the report's month itself and is taken from the
    month's own numbers, so the trend queries cover only the months before it.
    """
    start, end = bounds
    earlier = trend_bounds[:-1]  # starts of the earlier months, then the start of this month
    n_earlier = len(earlier) - 1
    raw = RawReport(
        month=month,
        start=start,
        end=end,
        as_of=as_of,
        trend_months=[month.shifted(i - n_earlier) for i in range(n_earlier + 1)],
    )
    jobs: dict[str, Awaitable[Rows]] = {
        "departments": _raw(CATALOG_DEPARTMENTS),
        "items": _raw(CATALOG_ITEMS),
        "indicators": _raw("SELECT DISTINCT code, text FROM indicator"),
        "ratings": _raw(RATINGS_BY_DEPARTMENT_ITEM_CHANNEL, start, end),
        "ratings_by_window_staff": _raw(RATINGS_BY_WINDOW_STAFF, start, end),
        "previous_ratings": _raw(RATINGS_BY_DEPARTMENT_ITEM_CHANNEL, *(previous or (start, start))),
        "bad_tags": _raw(BAD_TAGS, start, end),
        "records": _raw(RECORDS_BY_DEPARTMENT_ITEM, start, end),
        "records_by_window_staff": _raw(RECORDS_BY_WINDOW_STAFF, start, end),
        "tickets": _raw(TICKETS_BY_DEPARTMENT_ITEM_CHANNEL, as_of, start, end),
        "tickets_by_window_staff": _raw(TICKETS_BY_WINDOW_STAFF, as_of, start, end),
        "closed_tickets": _raw(CLOSED_TICKETS, start, end),
        "forwarding": _raw(_forwarding(is_sqlite), start, end),
    }
    if with_comments:  # else the caller fetches them itself (`bad_comments`), to segment early
        jobs["bad_comments"] = bad_comments(start, end)
    if flags is not None:
        rules = flags.rules
        zone: tuple[str, ...] = (
            (f"{flags.offset_minutes:+d} minutes",) * 2 if is_sqlite else (flags.timezone,) * 2
        )
        jobs.update(
            {
                "devices": _raw(DEVICES),
                "device_islands": _raw(device_islands(rules, is_sqlite), start, end),
                "phone_bursts": _raw(phone_bursts(rules, is_sqlite), start, end),
                "staff_own_phone": _raw(STAFF_OWN_PHONE, start, end),
                "closed_hours": _raw(closed_hours(rules, is_sqlite), *zone, start, end),
            }
        )
    if n_earlier:
        inner = earlier[1:]  # the upper bound of each earlier month, in order
        window = (earlier[0], earlier[-1])
        jobs["trend_ratings"] = _raw(_trend_ratings(n_earlier), *inner, *window)
        jobs["trend_records"] = _raw(_trend_records(n_earlier), *inner, *window)
        jobs["trend_tickets"] = _raw(_trend_tickets(n_earlier), *inner, *window)

    async def run(name: str, job: Awaitable[Rows]) -> None:
        if name == "device_islands":
            split_device_islands(raw, await job)
        else:
            setattr(raw, name, await job)
        if progress is not None:
            progress(name)

    if flags is not None:
        # Adjacent months without an archive are counted by one query over their span.
        spans: list[tuple[datetime, datetime]] = []
        for a, b in sorted(flags.unarchived_months):
            if spans and spans[-1][1] == a:
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
        history = [_raw(WINDOW_HISTORY, a, b) for a, b in spans]

        async def window_history() -> Rows:
            counted = [row for rows in await asyncio.gather(*history) for row in rows]
            return list(flags.archived_history) + counted

        jobs["window_history"] = window_history()
    await asyncio.gather(*(run(name, job) for name, job in jobs.items()))
    return raw


def split_device_islands(raw: RawReport, rows: Rows) -> None:
    raw.device_bursts = [r for r in rows if r["flag"] == "burst"]
    raw.identical_runs = [r for r in rows if r["flag"] == "run"]


def bad_comments(start: datetime, end: datetime) -> Awaitable[Rows]:
    return _raw(BAD_COMMENTS, start, end)


def query_count(trend: bool = True, flags: bool = True) -> int:
    """How many queries `fetch` runs: the progress bar's length."""
    return 14 + (3 if trend else 0) + (6 if flags else 0)
