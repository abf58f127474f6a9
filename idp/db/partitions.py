"""The audit log by month on PostgreSQL: `audit_events` is partitioned by range of `at`, one
partition per calendar month (UTC), so a month past its retention is dropped in an instant
instead of deleted row by row (migration 0012_retention converts the table; SQLite keeps one
table and the purge's batched delete).

- Months are made ahead: the migration and every purge create the partitions of the current
  month and the next MONTHS_AHEAD. A DEFAULT partition takes any row outside them (a clock far
  off, or no purge for months), so an insert never fails for want of a partition; its rows are
  purged by the batched delete like SQLite's.
- A month is dropped once it ended before the cutoff of every kind of audit row it can hold
  (people's and machines'; a kind kept forever keeps every month). With
  IDP_RETENTION_EXPORT_DIR set it is first written there as gzip-compressed JSON lines with a
  SHA-256 checksum file beside it; the month is dropped only after both are on disk.
- Making or dropping a partition takes a lock on the whole table for an instant. While it waits
  for that lock, every insert into the audit log (a login waits for its row) queues behind it,
  so it waits at most DROP_LOCK_TIMEOUT at a time: a drop is tried DROP_ATTEMPTS times,
  DROP_RETRY_PAUSE apart, then left for the next purge, as is a month that cannot be made. (With
  a one-second timeout, sign-ins under load stalled behind a waiting drop: p99 twice as long
  while the purge ran, tests/db/test_purge_under_load.py.)
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger("idp.purge")

PARENT = "audit_events"
EXPORT_CHUNK = 1000
DEFAULT = "audit_events_default"
MONTHS_AHEAD = 3
_MONTH_NAME = re.compile(r"^audit_events_y(\d{4})m(\d{2})$")
# how long a drop (or the making of a month) may wait for its lock at a time: the longest that
# inserts queue behind it; in-flight inserts commit within milliseconds
DROP_LOCK_TIMEOUT = "50ms"
# a drop that did not get its lock is tried again this many times in all, this far apart, and
# then at the next purge
DROP_ATTEMPTS = 8
DROP_RETRY_PAUSE = 0.25

IS_PARTITIONED = "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('audit_events')"
MONTHS = ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
          " WHERE i.inhparent = to_regclass('audit_events') ORDER BY c.relname")


def month_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def month_name(start: datetime) -> str:
    return f"{PARENT}_y{start.year:04d}m{start.month:02d}"


def month_of_name(name: str) -> datetime | None:
    found = _MONTH_NAME.match(name)
    return datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC) if found else None


def is_partition(name: str | None) -> bool:
    """A month (or the default) of the audit log: part of `audit_events`, not a table of the
    models (for schema comparisons: Alembic's autogenerate, the migration tests)."""
    return name is not None and (name == DEFAULT or month_of_name(name) is not None)


def create_month(start: datetime) -> str:
    """The statement that makes the month's partition (nothing if it is there already)."""
    return (f"CREATE TABLE IF NOT EXISTS {month_name(start)} PARTITION OF {PARENT} FOR VALUES "
            f"FROM ('{start.isoformat()}') TO ('{next_month(start).isoformat()}')")


def months_from(first: datetime, now: datetime) -> list[datetime]:
    """Every month from the one of `first` to MONTHS_AHEAD after the one of `now`."""
    month, last = month_start(first), month_start(now)
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    found = []
    while month <= last:
        found.append(month)
        month = next_month(month)
    return found


async def is_partitioned(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(text(IS_PARTITIONED)))


async def ensure_months(conn: AsyncConnection, now: datetime) -> list[str]:
    """Make the partitions of this month and the next ones; the names of those made. A month
    whose rows already sit in the default partition cannot be made: it is left there."""
    made = []
    existing = set((await conn.scalars(text(MONTHS))).all())
    # making a partition locks the whole table, as a drop does: inserts queue behind it while it
    # waits, so it waits briefly (a month not made now is made by a later purge, three ahead)
    await conn.execute(text(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
    for month in months_from(now, now):
        name = month_name(month)
        if name in existing:
            continue
        try:
            async with conn.begin_nested():
                await conn.execute(text(create_month(month)))
        except Exception as exc:  # noqa: BLE001 - its lock not had, or rows of it in the default
            log.warning("audit partition %s not made this time (rows of that month go to %s "
                        "meanwhile): %s", name, DEFAULT, exc)
            continue
        made.append(name)
    return made


async def months_ended_before(conn: AsyncConnection, cutoff: datetime) -> list[str]:
    """The month partitions whose whole month ended before `cutoff`, oldest first."""
    names = (await conn.scalars(text(MONTHS))).all()
    return [name for name in names
            if (start := month_of_name(name)) is not None and next_month(start) <= cutoff]


async def count_rows(conn: AsyncConnection, name: str) -> int:
    query = f"SELECT count(*) FROM {_checked(name)}"  # noqa: S608 - our own partition's name
    return int(await conn.scalar(text(query)) or 0)


async def export_month(conn: AsyncConnection, name: str, directory: Path) -> tuple[Path, int]:
    """Write the month's rows as gzip-compressed JSON lines, then its checksum file (the
    `sha256sum -c` format); (the file, rows written). Written under a temporary name and renamed
    once complete and synced, so a file with the final name is always whole."""
    target = directory / f"{name}.jsonl.gz"
    query = (f"SELECT id, at, kind, outcome, actor, client_id, ip, detail "  # noqa: S608
             f"FROM {_checked(name)} ORDER BY at, id")  # our own partition's name
    rows = 0
    writer = await asyncio.to_thread(_ExportFile, target)
    try:
        result = await conn.stream(text(query))
        async for chunk in result.partitions(EXPORT_CHUNK):
            # compressing and writing off the event loop, a chunk at a time
            await asyncio.to_thread(writer.write, b"".join(_line(row._mapping) for row in chunk))
            rows += len(chunk)
        await asyncio.to_thread(writer.finish)
    except BaseException:
        await asyncio.to_thread(writer.abandon)
        raise
    return target, rows


class _ExportFile:
    """One month's export being written: .partial until finished, then renamed, then its
    checksum file written (blocking file work: called in a thread)."""

    def __init__(self, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self.target = target
        self.partial = target.with_name(target.name + ".partial")
        self.raw = open(self.partial, "wb")  # noqa: SIM115 - closed by finish or abandon
        self.packed = gzip.GzipFile(fileobj=self.raw, mode="wb", mtime=0)
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.packed.write(data)

    def finish(self) -> None:
        self.packed.close()
        self.raw.flush()
        os.fsync(self.raw.fileno())
        self.raw.close()
        with open(self.partial, "rb") as done:
            for block in iter(lambda: done.read(1 << 20), b""):
                self.digest.update(block)
        os.replace(self.partial, self.target)
        checksum = self.target.with_name(self.target.name + ".sha256")
        checksum.write_text(f"{self.digest.hexdigest()}  {self.target.name}\n", encoding="ascii")

    def abandon(self) -> None:
        self.packed.close()
        self.raw.close()
        self.partial.unlink(missing_ok=True)


def _line(row: Any) -> bytes:
    values = dict(row)
    at = values["at"]
    values["at"] = at.astimezone(UTC).isoformat() if isinstance(at, datetime) else str(at)
    if isinstance(values["detail"], str):  # json columns come back decoded or as text
        values["detail"] = json.loads(values["detail"])
    return (json.dumps(values, ensure_ascii=False, sort_keys=True, default=str) + "\n").encode()


async def drop_month(conn: AsyncConnection, name: str) -> DBAPIError | None:
    """Drop the partition, each try in a transaction of its own with a short lock_timeout
    (DROP_LOCK_TIMEOUT, DROP_ATTEMPTS tries DROP_RETRY_PAUSE apart: the module docstring);
    None once dropped, else the last try's failure."""
    failure: DBAPIError | None = None
    for attempt in range(DROP_ATTEMPTS):
        if attempt:
            await asyncio.sleep(DROP_RETRY_PAUSE)
        try:
            async with conn.begin():
                await conn.execute(text(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
                await conn.execute(text(f"DROP TABLE {_checked(name)}"))  # our own partition
        except DBAPIError as exc:
            failure = exc
            continue
        return None
    return failure


def _checked(name: str) -> str:
    """Only our own partition names reach SQL text."""
    if not is_partition(name):
        raise ValueError(f"not an audit partition: {name!r}")
    return name
