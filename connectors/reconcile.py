"""Daily reconciliation: per day, what we delivered against what the province says it holds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from connectors.delivery import _utc, rated_at
from connectors.province.client import ProvinceClient, province_key
from evaluation_service.model import OutboxKind, OutboxState
from evaluation_service.tables import Evaluation, Outbox, ServiceRecord

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
        return out


async def _delivered_refs(kind: OutboxKind, ref_ids: list[int]) -> set[int]:
    if not ref_ids:
        return set()
    rows = await Outbox.select(Outbox.ref_id).where(
        (Outbox.kind == kind)
        & (Outbox.state == OutboxState.delivered)
        & Outbox.ref_id.is_in(ref_ids)
    )
    return {r["ref_id"] for r in rows}


async def delivered_on(
    day: date, zone: ZoneInfo
) -> tuple[set[tuple[str, int]], set[tuple[str, int, int]]]:
    """Our delivered keys of one local day, spelled as the province spells them."""
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
    delivered = await _delivered_refs(OutboxKind.service_record, [r["id"] for r in records])
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
        Evaluation.service_record.service_transaction.project_no.as_alias("project_no"),
    ).where((Evaluation.received_at >= window[0]) & (Evaluation.received_at < window[1]))
    on_day = [r for r in ratings if start <= rated_at(r["client_time"], r["received_at"]) < end]
    delivered = await _delivered_refs(OutboxKind.evaluation, [r["id"] for r in on_day])
    rating_keys = {
        (province_key(r["project_no"]), r["service_number"], r["assess_number"])
        for r in on_day
        if r["id"] in delivered
    }
    _ = _utc
    return record_keys, rating_keys


async def reconcile_day(day: date, client: ProvinceClient, zone: ZoneInfo) -> DayDifference:
    records, ratings = await delivered_on(day, zone)
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
    )
