"""`idp keys …`: list and rotate the signing keys."""

from __future__ import annotations

import json

import click

from idp.cli.common import needs_settings
from idp.settings import Settings


@click.group()
def keys() -> None:
    """Signing keys: current, next and retired, per algorithm."""


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@needs_settings
def keys_list(settings: Settings, as_json: bool) -> None:
    from idp.keys.ring import KeyRing

    rows = KeyRing.open(settings.keys_dir).describe()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo(f"{row['alg']:6} {row['state']:8} {row['kid']}  created {row['created_at']}")


@keys.command("rotate")
@click.option("--alg", type=click.Choice(["RS256", "ES256"]), default=None,
              help="rotate only this algorithm (default: all)")
@needs_settings
def keys_rotate(settings: Settings, alg: str | None) -> None:
    """Promote the next key to current; the old current stays in the JWKS until it retires."""
    from idp.keys.ring import KeyRing

    ring = KeyRing.open(settings.keys_dir)
    ring.rotate(alg)
    for row in ring.describe():
        if row["state"] == "current":
            click.echo(f"{row['alg']} now signs with {row['kid']}")
