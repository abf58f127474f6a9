"""`idp users releases UID` (which apps received which of a person's information, and when) and
`idp releases purge` (delete the rows past IDP_RELEASES_RETENTION_DAYS; the server also does it
every few hours, so a cron job is only needed where no server runs)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import click

from idp.cli.common import fail, needs_settings, run
from idp.cli.users import users
from idp.settings import Settings


@click.group()
def releases() -> None:
    """The attribute-release record: which claims went to which app for whom."""


@releases.command("purge")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="keep this many days instead of IDP_RELEASES_RETENTION_DAYS")
@needs_settings
def releases_purge(settings: Settings, days: int | None) -> None:
    """Delete the release rows older than the retention (IDP_RELEASES_RETENTION_DAYS)."""
    from idp.db.engine import close_engine, open_engine
    from idp.db.migrate import upgrade
    from idp.db.releases import cutoff, purge

    keep = days if days is not None else settings.releases.retention_days
    if keep <= 0:
        click.echo("IDP_RELEASES_RETENTION_DAYS is 0: releases are kept forever; nothing deleted")
        return

    async def work() -> int:
        await upgrade(settings.database_url)
        engine = open_engine(settings.database_url)
        try:
            return await purge(engine, keep)
        finally:
            await close_engine(engine)

    removed = run(work())
    click.echo(f"{removed} release row(s) from before {cutoff(keep).isoformat()} deleted")


def _day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)") from None


@users.command("releases")
@click.argument("uid")
@click.option("--app", "client_id", default=None, help="only this app (client_id)")
@click.option("--from", "since", callback=_day, default=None, help="first day, YYYY-MM-DD (UTC)")
@click.option("--to", "until", callback=_day, default=None, help="last day, YYYY-MM-DD (UTC)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@needs_settings
def users_releases(settings: Settings, uid: str, client_id: str | None, since: date | None,
                   until: date | None, as_json: bool) -> None:
    """Which apps received which of a person's information: one row per app, claim set and day
    (claim names only), newest first."""
    from idp.admin.service_common import AdminError

    try:
        subject, rows = run(_releases_of(settings, uid, client_id, since, until))
    except AdminError as exc:
        fail(exc.message)
    if as_json:
        click.echo(json.dumps({"person": uid, "subject": subject, "releases": rows},
                              ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo(f"no releases recorded for {uid}")
        return
    for row in rows:
        click.echo(f"{row['day']}  {row['app']} ({row['client_id']})  {' '.join(row['claims'])}"
                   f"  x{row['count']}  last {row['last_at']}")


async def _releases_of(settings: Settings, uid: str, client_id: str | None, since: date | None,
                       until: date | None) -> tuple[str, list[dict[str, Any]]]:
    from idp.admin import service_releases
    from idp.admin.service_common import Actor, record
    from idp.app import close_services, open_services
    from idp.cli.users import _actor

    services = await open_services(settings)
    try:
        where = await service_releases.ReleaseQuery(
            person=uid, client_id=client_id, since=since, until=until).resolved(services)
        rows: list[dict[str, Any]] = []
        async for release in service_releases.every_release(services, where):
            rows.append(release.as_dict())
        actor: Actor = _actor()
        await record(services, actor, "view_releases", target=uid)
        assert where.subject is not None
        return where.subject, rows
    finally:
        await close_services(services)
