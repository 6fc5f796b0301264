"""Backup and restore of the service's database: `pg_dump` in its custom format and `pg_restore`
for PostgreSQL, SQLite's online backup API for the embedded default (safe while the service runs:
a plain copy of a live file misses what its WAL still holds)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from evaluation_service.kernel.database import sqlite_path
from evaluation_service.kernel.settings import Settings


class BackupError(RuntimeError):
    pass


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(result.stderr.strip() or f"{command[0]} exited {result.returncode}")


def _sqlite_copy(source: Path, destination: Path) -> None:
    """Page by page through SQLite's backup API, consistent as of its end."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(destination)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def backup(settings: Settings, destination: Path) -> None:
    """The database named by DATABASE_URL into the file `destination` (not overwritten)."""
    if destination.exists():
        raise BackupError(f"{destination} exists: choose a new file name")
    destination.parent.mkdir(parents=True, exist_ok=True)
    if settings.is_sqlite:
        source = sqlite_path(settings.database_url)
        if not source.exists():
            raise BackupError(f"no database at {source}")
        _sqlite_copy(source, destination)
        return
    _run(
        [
            _tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "-d",
            settings.database_url,
            "-f",
            str(destination),
        ]
    )


def _postgres_is_empty(url: str) -> bool:
    import asyncio

    import asyncpg

    async def tables() -> int:
        connection = await asyncpg.connect(url)
        try:
            return int(
                await connection.fetchval(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                )
            )
        finally:
            await connection.close()

    return asyncio.run(tables()) == 0


def restore(settings: Settings, source: Path) -> None:
    """A backup into the database named by DATABASE_URL, which must be new and empty: a restore
    never merges into or overwrites a database in use."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    if settings.is_sqlite:
        target = sqlite_path(settings.database_url)
        if target.exists() and target.stat().st_size > 0:
            raise BackupError(
                f"{target} exists: restore into a new file, then point DATABASE_URL at it"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(source, target)
        return
    if not _postgres_is_empty(settings.database_url):
        raise BackupError("the database in DATABASE_URL has tables: restore into a new, empty one")
    _run(
        [
            _tool("pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            settings.database_url,
            str(source),
        ]
    )


def backup_command(settings: Settings, destination: str) -> int:
    try:
        backup(settings, Path(destination))
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backed up to {destination}")
    return 0


def restore_command(settings: Settings, source: str) -> int:
    try:
        restore(settings, Path(source))
    except BackupError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"restored {source}")
    return 0
