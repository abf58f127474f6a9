"""`idp maintenance purge`: the purge the server runs on its own (idp/db/purge.py), by hand:
after lowering a retention, before a backup, or to see what the next one would remove.

It takes the same one-at-a-time lock as the replicas (PostgreSQL's advisory lock, or the
Store's lease with IDP_REDIS_URL), so it never purges beside a replica; when one is purging it
says so and exits 3 (try again later). With SQLite and the embedded store there is nothing to
share a lock through: a purge by hand may run beside the server's, and as both delete only
rows that have ended, in small transactions, they only share the work.
"""

from __future__ import annotations

import json
from typing import Any

import click

from idp.cli.common import fail, needs_settings, run
from idp.settings import Settings

SKIPPED_EXIT = 3


@click.group()
def maintenance() -> None:
    """Database upkeep: the purge of records past their retention."""


@maintenance.command("purge")
@click.option("--dry-run", is_flag=True, help="count what would be removed; remove nothing")
@click.option("--older-than", "older_than", type=click.IntRange(1, 36500), default=None,
              metavar="DAYS",
              help="remove what ended more than DAYS days ago, for every kind not kept forever "
                   "(instead of each kind's IDP_RETENTION_* days)")
@click.option("--json", "as_json", is_flag=True, help="the report as one JSON object")
@needs_settings
def purge(settings: Settings, dry_run: bool, older_than: int | None, as_json: bool) -> None:
    """Remove the records that have outlived their retention, and say how many per kind."""
    from sqlalchemy.exc import DBAPIError

    from idp.db.engine import close_engine, open_engine
    from idp.db.purge import MONTHS_KIND, run_purge
    from idp.db.retention import kinds
    from idp.store import open_store

    async def purge_once() -> Any:
        engine = open_engine(settings.database_url)
        store = open_store(settings) if settings.redis_url else None
        try:
            return await run_purge(engine, settings.retention, store=store, dry_run=dry_run,
                                   older_than=older_than)
        finally:
            if store is not None:
                await store.close()
            await close_engine(engine)

    try:
        report = run(purge_once())
    except DBAPIError as exc:
        fail(f"the database could not be purged ({type(exc.orig).__name__}): is it reachable, "
             "and migrated (`idp migrate`)?")
    except OSError as exc:  # the database or the store unreachable, or the export not written
        fail(f"the purge stopped: {exc}")
    if as_json:
        click.echo(json.dumps(report.as_dict(), sort_keys=True))
    elif report.skipped:
        click.echo("another replica is purging now; nothing done (try again later)")
    else:
        verb = "would remove" if dry_run else "removed"
        for kind in kinds(settings.retention):
            if kind.name not in report.cutoffs:
                click.echo(f"{kind.name:34} not reached this time")
                continue
            kept = report.cutoffs[kind.name]
            if kept is None:
                click.echo(f"{kind.name:34} kept forever (0 days)")
                continue
            click.echo(f"{kind.name:34} {verb} {report.removed.get(kind.name, 0):>9}  "
                       f"(ended before {kept[:19].replace('T', ' ')} UTC)")
        if MONTHS_KIND in report.removed:
            months = ", ".join(report.months) or "none"
            click.echo(f"{MONTHS_KIND:34} {verb} {report.removed[MONTHS_KIND]:>9}  "
                       f"(whole months dropped: {months})")
        if not report.finished:
            click.echo("stopped after its time budget; run it again to remove the rest")
    if report.skipped:
        raise SystemExit(SKIPPED_EXIT)
