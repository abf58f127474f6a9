"""`idp clients token`: issue an initial access token for dynamic registration (RFC 7591 §3).

Attached to the `clients` group (idp/cli/clients.py).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import sys
from datetime import datetime, timedelta

import click

from idp.cli.common import needs_settings
from idp.settings import Settings

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str) -> timedelta:
    """'90' or '90s', '30m', '12h', '7d', '2w' -> a timedelta. Raises ValueError."""
    match = _DURATION.match(value.lower())
    if not match:
        raise ValueError(f"{value!r} is not a duration such as 30m, 12h, 7d or 2w")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


async def _issue(settings: Settings, ttl: timedelta, issued_by: str) -> tuple[str, datetime]:
    from idp.db.audit import Audit
    from idp.db.engine import close_engine, open_engine, sessionmaker
    from idp.db.migrate import upgrade
    from idp.protocols.oidc.registration_store import issue_initial_access_token

    await upgrade(settings.database_url)
    engine = open_engine(settings.database_url, pool_size=1)
    try:
        db = sessionmaker(engine)
        token, expires_at = await issue_initial_access_token(db, ttl=ttl, issued_by=issued_by)
        await Audit(db).record("admin", "success", actor=issued_by,
                               action="initial_access_token_issued",
                               expires_at=expires_at.isoformat())
        return token, expires_at
    finally:
        await close_engine(engine)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli"


@click.command("token")
@click.option("--expires", "ttl", type=Duration(), default="7d", show_default=True,
              help="how long the token may be used: 30m, 12h, 7d, 2w")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@needs_settings
def token(settings: Settings, ttl: timedelta, as_json: bool) -> None:
    """Issue an initial access token for POST /register (RFC 7591). Shown once; stored as a
    digest. It may register several clients until it expires."""
    from idp.db.migrate import DatabaseUnreachable

    try:
        value, expires_at = asyncio.run(_issue(settings, ttl, _operator()))
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except DatabaseUnreachable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    expires = expires_at.isoformat().replace("+00:00", "Z")
    if as_json:
        click.echo(json.dumps({"initial_access_token": value, "expires_at": expires,
                               "registration_endpoint": f"{settings.issuer}/register"}))
        return
    click.echo(f"initial access token: {value}   (shown once: hand it to the developer now)")
    click.echo(f"expires:              {expires}")
    click.echo(f"use it with:          POST {settings.issuer}/register "
               "(Authorization: Bearer <token>)")
