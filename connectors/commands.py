"""Command-line entry points of forwarding (called from `python -m evaluation_service`)."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.model import ProvinceCallFailed
from connectors.province.client import ProvinceClient
from connectors.reconcile import reconcile_day
from evaluation_service.kernel.settings import Settings


async def reconcile_command(
    client: ProvinceClient, settings: Settings, day_text: str | None
) -> int:
    """Runs inside a database the root started; closes the client it is given."""
    zone = ZoneInfo(settings.timezone)
    day = (
        date.fromisoformat(day_text) if day_text else datetime.now(zone).date() - timedelta(days=1)
    )
    try:
        difference = await reconcile_day(day, client, zone)
    except ProvinceCallFailed as exc:
        print(f"reconcile {day}: province unavailable: {exc}", file=sys.stderr)
        return 2
    finally:
        await client.close()
    print("\n".join(difference.lines()))
    return 0 if difference.matches else 1
