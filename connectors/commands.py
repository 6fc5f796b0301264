"""Command-line entry points of forwarding (called from `python -m evaluation_service`)."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.actors import province_client
from connectors.model import ProvinceUnavailable
from connectors.reconcile import reconcile_day
from evaluation_service.database import Database, registered_tables
from evaluation_service.settings import Settings


async def reconcile_command(settings: Settings, day_text: str | None) -> int:
    zone = ZoneInfo(settings.timezone)
    day = (
        date.fromisoformat(day_text) if day_text else datetime.now(zone).date() - timedelta(days=1)
    )
    db = Database(settings.database_url, 2)
    db.bind(registered_tables())
    await db.start()
    client = province_client(settings)
    try:
        difference = await reconcile_day(day, client, zone)
    except ProvinceUnavailable as exc:
        print(f"reconcile {day}: province unavailable: {exc}", file=sys.stderr)
        return 2
    finally:
        await client.close()
        await db.close()
    print("\n".join(difference.lines()))
    return 0 if difference.matches else 1
