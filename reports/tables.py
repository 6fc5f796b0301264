"""The report archive: every generated month, each version kept unchanged (DESIGN.md §5)."""

from __future__ import annotations

from piccolo.columns import Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

# (month, version) is unique: a plain CREATE UNIQUE INDEX in the second migration, as elsewhere.


class ReportVersion(Table, tablename="report_version"):
    """One generated month. Rows are only ever inserted: regenerating adds version n + 1."""

    id: Serial
    month = Varchar(length=7)  # YYYY-MM
    version = Integer()
    created_at = Timestamptz(default=TimestamptzNow())
    as_of = Timestamptz()  # the instant the numbers describe (open tickets, overdue)
    content_hash = Varchar(length=64)  # SHA-256 of the metrics JSON and the page, as stored
    metrics = Text()  # JSON, exactly as hashed
    html = Text()  # the self-contained page, exactly as hashed
    # JSON for supervisors only, archived with the version but outside its content hash (what
    # deputies are shown): the integrity flags with their evidence, example bad-review comments.
    restricted = Text(default="")


class ReportJob(Table, tablename="report_job"):
    """A generation started from the page, in the database so that any web process can answer the
    progress poll (a browser's next request may land on another process). The process running it
    writes `done` and `heartbeat_at` as it goes; a running job whose heartbeat stopped (its process
    died) is shown as interrupted."""

    id: Serial
    month = Varchar(length=7)
    total = Integer(default=0)
    done = Integer(default=0)
    state = Varchar(length=10, default="running")  # running | done | failed
    version = Integer(null=True, default=None)
    error = Text(default="")
    started_at = Timestamptz(default=TimestamptzNow())
    heartbeat_at = Timestamptz(default=TimestamptzNow())


TABLES: list[type[Table]] = [ReportVersion, ReportJob]
