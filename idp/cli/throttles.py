"""`idp throttles list|clear`: the login throttle's counters and refusals, for the service desk
("I typed my password wrong five times and now it says wait").

The counters live in the Store. With Redis (IDP_REDIS_URL) every replica shares them and this
command sees them; the embedded store lives inside the server process, where no other command
can reach it (restarting the server clears it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from idp.cli.common import needs_settings
from idp.settings import Settings

T = TypeVar("T")

EMBEDDED_NOTE = ("note: the embedded store lives inside the server process; this command cannot "
                 "see or clear its throttles (set IDP_REDIS_URL, or restart the server)")


def _with_store(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from idp.store import open_store

    async def run() -> T:
        store = open_store(settings)
        try:
            return await work(store)
        finally:
            await store.close()

    if not settings.redis_url:
        click.echo(EMBEDDED_NOTE, err=True)
    return asyncio.run(run())


@click.group()
def throttles() -> None:
    """Login throttles: accounts and addresses refused after failed sign-ins."""


@throttles.command("list")
@click.option("--account", default=None, help="only this username (any case or width)")
@click.option("--ip", default=None, help="only this client address")
@click.option("--json", "as_json", is_flag=True)
@needs_settings
def throttles_list(settings: Settings, account: str | None, ip: str | None, as_json: bool) -> None:
    """Accounts and addresses with failed sign-ins in the current window, refused ones first."""
    from directory.base import username_key
    from idp.sso.throttle import list_throttles

    records = _with_store(settings, list_throttles)
    if account is not None:
        wanted = username_key(account)
        records = [r for r in records if r.kind == "account" and username_key(r.name) == wanted]
    if ip is not None:
        records = [r for r in records if r.kind == "ip" and r.name == ip]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        click.echo("no throttles")
    for r in records:
        state = f"refused for {r.blocked_for} s" if r.blocked_for is not None else "counting"
        what = "password checks" if r.kind == "account" else "failures"
        click.echo(f"{r.kind:8} {r.name:32} {r.count:4} {what:15} {state:20} strikes {r.strikes}")


@throttles.command("clear")
@click.option("--account", default=None, help="username whose counters to forget")
@click.option("--ip", default=None, help="client address whose counters to forget")
@click.option("--all", "everything", is_flag=True, help="forget every login throttle")
@needs_settings
def throttles_clear(settings: Settings, account: str | None, ip: str | None,
                    everything: bool) -> None:
    """Let an account or an address sign in again at once."""
    from idp.sso.throttle import clear_throttles

    if not (account or ip or everything):
        raise click.UsageError("give --account, --ip or --all")
    removed = _with_store(settings, lambda store: clear_throttles(
        store, account=account, ip=ip, everything=everything))
    click.echo(f"cleared {removed} throttle record(s)")
