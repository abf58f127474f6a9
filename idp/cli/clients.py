"""`idp clients …`: register and list relying parties."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from idp.cli.common import needs_settings
from idp.cli.registration import token
from idp.settings import Settings


@click.group()
def clients() -> None:
    """OIDC clients (relying parties)."""


async def _open_db(settings: Settings):  # type: ignore[no-untyped-def]
    from idp.db.engine import open_engine, sessionmaker
    from idp.db.migrate import upgrade

    await upgrade(settings.database_url)
    engine = open_engine(settings.database_url)
    return engine, sessionmaker(engine)


async def _close_db(engine) -> None:  # type: ignore[no-untyped-def]
    from idp.db.engine import close_engine

    await close_engine(engine)


@clients.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--public", is_flag=True, help="a public client (SPA, mobile): no secret, PKCE")
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]))
@click.option("--scope", "scopes", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--skip-consent", is_flag=True, help="first-party app: no consent page")
@click.option("--id-token-alg", type=click.Choice(["RS256", "ES256"]), default="RS256")
@click.option("--auth-method", type=click.Choice(
    ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]), default=None)
@click.option("--jwks-file", type=click.File("r"), default=None,
              help="public JWKS for private_key_jwt")
@click.option("--require-mfa", is_flag=True, help="people must use a second factor for this app")
@click.option("--json", "as_json", is_flag=True)
@needs_settings
def clients_add(settings: Settings, name: str, redirect_uris: tuple[str, ...], public: bool,
                grant_types: tuple[str, ...], scopes: tuple[str, ...], post_logout: tuple[str, ...],
                backchannel_logout_uri: str | None, skip_consent: bool, id_token_alg: str,
                auth_method: str | None, jwks_file, require_mfa: bool,
                as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Register a client; its secret is printed once and stored only as a digest."""
    from idp.protocols.oidc.clients import create_client

    jwks = json.load(jwks_file) if jwks_file else None

    async def run():  # type: ignore[no-untyped-def]
        engine, db = await _open_db(settings)
        try:
            created = await create_client(
                db, name=name, redirect_uris=list(redirect_uris), public=public,
                grant_types=list(grant_types) or None, scopes=list(scopes) or None,
                post_logout_redirect_uris=list(post_logout),
                backchannel_logout_uri=backchannel_logout_uri, skip_consent=skip_consent,
                token_endpoint_auth_method=auth_method, id_token_signed_response_alg=id_token_alg,
                jwks=jwks,
            )
            if require_mfa:
                from idp.mfa.client_flag import set_require_mfa

                await set_require_mfa(db, created[0].client_id)
            return created
        finally:
            await _close_db(engine)

    try:
        client, secret = asyncio.run(run())
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    data = {
        "client_id": client.client_id, "client_secret": secret, "name": client.name,
        "redirect_uris": client.redirect_uris, "grant_types": client.grant_types,
        "scopes": client.scopes, "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "require_mfa": require_mfa,
        "issuer": settings.issuer,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"client_id:     {client.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}   (shown once: store it now)")
    click.echo(f"issuer:        {settings.issuer}")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@needs_settings
def clients_list(settings: Settings, as_json: bool) -> None:
    from idp.protocols.oidc.clients import list_clients

    async def run():  # type: ignore[no-untyped-def]
        engine, db = await _open_db(settings)
        try:
            return await list_clients(db)
        finally:
            await _close_db(engine)

    rows = [
        {"client_id": c.client_id, "name": c.name, "status": c.status,
         "auth_method": c.token_endpoint_auth_method, "redirect_uris": c.redirect_uris}
        for c in asyncio.run(run())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['client_id']}  {row['status']:8} {row['auth_method']:20} {row['name']}")


clients.add_command(token)
