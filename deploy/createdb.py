"""Create the PostgreSQL database named in DATABASE_URL when it does not exist (make prod-up)."""

from __future__ import annotations

import asyncio
import os

import asyncpg


async def main() -> None:
    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        return
    base, name = url.rsplit("/", 1)
    admin = await asyncpg.connect(f"{base}/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")
    finally:
        await admin.close()


asyncio.run(main())
