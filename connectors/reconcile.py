"""Daily reconciliation: per day, what we delivered against what the province says it holds."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connectors.delivery import rated_at
from connectors.province.client import ProvinceClient, province_key
from evaluation_service.kernel.tables import Evaluation, Outbox, ServiceRecord
from evaluation_service.kernel.vocabulary import OutboxKind, OutboxState

log = logging.getLogger("haochaping.reconcile")


@dataclass(frozen=True)
class DayDifference:
    day: date
    delivered_records: int
    delivered_ratings: int
    held_records: int
    held_ratings: int
    records_missing_at_province: list[tuple[str, int]]
    ratings_missing_at_province: list[tuple[str, int, int]]
    records_unknown_here: list[tuple[str, int]]
    ratings_unknown_here: list[tuple[str, int, int]]
    # Follow-ups of the day the province refused as 评价数据不可重复, and whether it holds the key:
    # never counted delivered, listed so a supervisor can check them (DESIGN §3 rule 5).
    followups_refused: list[tuple[str, int, int, bool]] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not (
            self.records_missing_at_province
            or self.ratings_missing_at_province
            or self.records_unknown_here
            or self.ratings_unknown_here
        )

    def lines(self) -> list[str]:
        out = [
            f"{self.day}: delivered records={self.delivered_records}"
            f" ratings={self.delivered_ratings}"
            f"; province holds records={self.held_records} ratings={self.held_ratings}"
            f" — {'一致 match' if self.matches else '存在差异 DIFFERENCES'}"
        ]
        out += [
            f"  record delivered but not held by province: {k}"
            for k in self.records_missing_at_province
        ]
        out += [
            f"  rating delivered but not held by province: {k}"
            for k in self.ratings_missing_at_province
        ]
        out += [
            f"  record held by province, not delivered by us: {k}"
            for k in self.records_unknown_here
        ]
        out += [
            f"  rating held by province, not delivered by us: {k}"
            for k in self.ratings_unknown_here
        ]
        out += [
            f"  follow-up refused by province (评价数据不可重复): {k[:3]}"
            f" — {'held there' if k[3] else 'NOT held there'}"
            for k in self.followups_refused
        ]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "day": self.day.isoformat(), "matches": self.matches}


async def _refs_in_state(
    kind: OutboxKind, ref_ids: list[int], state: OutboxState = OutboxState.delivered
) -> set[int]:
    if not ref_ids:
        return set()
    rows = await Outbox.select(Outbox.ref_id).where(
        (Outbox.kind == kind) & (Outbox.state == state) & Outbox.ref_id.is_in(ref_ids)
    )
    return {r["ref_id"] for r in rows}


async def delivered_on(
    day: date, zone: ZoneInfo
) -> tuple[set[tuple[str, int]], set[tuple[str, int, int]], set[tuple[str, int, int]]]:
    """Our delivered keys of one local day, spelled as the province spells them, and the keys of
    that day's follow-ups the province refused."""
    start = datetime.combine(day, time.min, zone)
    end = start + timedelta(days=1)
    # Ratings buffered offline carry the device time; look a little wider, then filter exactly.
    window = (start - timedelta(days=2), end + timedelta(days=2))
    records = await ServiceRecord.select(
        ServiceRecord.id,
        ServiceRecord.service_number,
        ServiceRecord.occurred_at,
        ServiceRecord.service_transaction.project_no.as_alias("project_no"),
    ).where((ServiceRecord.occurred_at >= start) & (ServiceRecord.occurred_at < end))
    delivered = await _refs_in_state(OutboxKind.service_record, [r["id"] for r in records])
    record_keys = {
        (province_key(r["project_no"]), r["service_number"])
        for r in records
        if r["id"] in delivered
    }
    ratings = await Evaluation.select(
        Evaluation.id,
        Evaluation.assess_number,
        Evaluation.client_time,
        Evaluation.received_at,
        Evaluation.service_record.service_number.as_alias("service_number"),
        Evaluation.service_record.service_transaction.project_no.as_alias("project_no"),  # type: ignore[union-attr]
    ).where((Evaluation.received_at >= window[0]) & (Evaluation.received_at < window[1]))
    on_day = [r for r in ratings if start <= rated_at(r["client_time"], r["received_at"]) < end]
    delivered = await _refs_in_state(OutboxKind.evaluation, [r["id"] for r in on_day])
    refused = await _refs_in_state(
        OutboxKind.evaluation, [r["id"] for r in on_day], OutboxState.followup_refused
    )

    def key(r: dict[str, Any]) -> tuple[str, int, int]:
        return (province_key(r["project_no"]), r["service_number"], r["assess_number"])

    rating_keys = {key(r) for r in on_day if r["id"] in delivered}
    refused_keys = {key(r) for r in on_day if r["id"] in refused}
    return record_keys, rating_keys, refused_keys


async def reconcile_day(day: date, client: ProvinceClient, zone: ZoneInfo) -> DayDifference:
    records, ratings, refused = await delivered_on(day, zone)
    held = await client.holdings(day)
    return DayDifference(
        day=day,
        delivered_records=len(records),
        delivered_ratings=len(ratings),
        held_records=len(held.records),
        held_ratings=len(held.ratings),
        records_missing_at_province=sorted(records - held.records),
        ratings_missing_at_province=sorted(ratings - held.ratings),
        records_unknown_here=sorted(held.records - records),
        ratings_unknown_here=sorted(held.ratings - ratings),
        followups_refused=sorted((*k, k in held.ratings) for k in refused),
    )


# The last result is a convenience for operators (GET /api/v1/forwarding/reconciliation), not a
# record: it can be recomputed any time with `python -m evaluation_service reconcile --day …`, and
# the WARNING log is where differences are kept. A file under var/ is shared by the processes of
# one host; connectors have no table of their own to put it in.
LAST_RESULT_FILE = "reconcile_last.json"


def save_last(var_dir: Path, difference: DayDifference, at: datetime) -> None:
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / LAST_RESULT_FILE
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(
        json.dumps({**difference.as_dict(), "checked_at": at.isoformat()}, ensure_ascii=False)
    )
    partial.replace(path)  # atomic: a reader sees the old result or the new one, never half


def load_last(var_dir: Path) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = json.loads((var_dir / LAST_RESULT_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return result


async def reconcile_and_record(
    day: date, client: ProvinceClient, zone: ZoneInfo, var_dir: Path
) -> DayDifference:
    """Reconcile one day, log it (differences at WARNING) and keep it as the last result."""
    difference = await reconcile_day(day, client, zone)
    if difference.matches:
        log.info("%s", difference.lines()[0])
    else:
        log.warning("reconciliation found differences:\n%s", "\n".join(difference.lines()))
    save_last(var_dir, difference, datetime.now(UTC))
    return difference
