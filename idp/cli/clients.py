"""`idp clients …`: register and list relying parties."""

from __future__ import annotations

import asyncio
import json

import click

from idp.cli.common import fail, needs_settings
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
@click.option("--protocol", type=click.Choice(["oidc", "cas"]), default="oidc", show_default=True,
              help="an OpenID Connect client, or a CAS service")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="OIDC: a redirect URI")
@click.option("--public", is_flag=True, help="OIDC: a public client (SPA, mobile): no secret, PKCE")
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(["authorization_code", "refresh_token", "client_credentials",
                                 "urn:ietf:params:oauth:grant-type:device_code"]),
              help="OIDC: a grant the client may use (repeatable; default: authorization_code "
                   "and refresh_token)")
@click.option("--scope", "scopes", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--skip-consent", is_flag=True, help="OIDC: first-party app, no consent page")
@click.option("--id-token-alg", type=click.Choice(["RS256", "ES256"]), default="RS256")
@click.option("--auth-method", type=click.Choice(
    ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]), default=None)
@click.option("--jwks-file", type=click.File("r"), default=None,
              help="public JWKS for private_key_jwt")
@click.option("--service", "cas_services", multiple=True,
              help="CAS: a service URL, or a regular expression anchored with ^ and $")
@click.option("--slo-url", default=None, help="CAS: where single logout POSTs its LogoutRequest")
@click.option("--attribute", "attributes", multiple=True,
              help="CAS: an attribute the service may receive (uid, cn, mail, memberOf, ...)")
@click.option("--proxy-callback", "proxy_callbacks", multiple=True,
              help="CAS: a pgtUrl the service may use (https URL or anchored pattern)")
@click.option("--allow-group", "allow_groups", multiple=True,
              help="only members of this directory group may use the app (repeatable)")
@click.option("--allow-affiliation", "allow_affiliations", multiple=True,
              help="only people with this affiliation (faculty, student, ...) may use the app")
@click.option("--require-mfa", is_flag=True, help="people must use a second factor for this app")
@click.option("--require-scope", "required_scopes", multiple=True,
              help="OIDC: a scope the app cannot work without; the consent page shows it "
                   "required (openid always is). Must be one of its --scope values")
@click.option("--home-url", default=None,
              help="the app's home page: its card in the app portal at / links there")
@click.option("--icon-url", default=None, help="the app's icon in the app portal")
@click.option("--description", default=None, help="one line about the app, for the app portal")
@click.option("--json", "as_json", is_flag=True)
@needs_settings
def clients_add(settings: Settings, protocol: str, name: str, redirect_uris: tuple[str, ...],
                public: bool, grant_types: tuple[str, ...], scopes: tuple[str, ...],
                post_logout: tuple[str, ...], backchannel_logout_uri: str | None,
                skip_consent: bool, id_token_alg: str, auth_method: str | None, jwks_file,
                cas_services: tuple[str, ...], slo_url: str | None, attributes: tuple[str, ...],
                proxy_callbacks: tuple[str, ...], allow_groups: tuple[str, ...],
                allow_affiliations: tuple[str, ...], require_mfa: bool,
                required_scopes: tuple[str, ...], home_url: str | None,
                icon_url: str | None, description: str | None,
                as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Register an app: an OIDC client (its secret is printed once and stored only as a digest)
    or, with --protocol cas, a CAS service."""
    oidc_only = {"--redirect-uri": redirect_uris, "--public": public, "--grant-type": grant_types,
                 "--scope": scopes, "--post-logout-redirect-uri": post_logout,
                 "--backchannel-logout-uri": backchannel_logout_uri,
                 "--skip-consent": skip_consent, "--auth-method": auth_method,
                 "--jwks-file": jwks_file, "--require-scope": required_scopes}
    cas_only = {"--service": cas_services, "--slo-url": slo_url, "--attribute": attributes,
                "--proxy-callback": proxy_callbacks}
    wrong = [flag for flag, value in (oidc_only if protocol == "cas" else cas_only).items()
             if value]
    if wrong:
        fail(f"{', '.join(wrong)} cannot be used with --protocol {protocol}", 2)
    if protocol == "oidc" and not redirect_uris and not {
            "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"} & set(grant_types):
        fail("an OIDC client needs --redirect-uri (or only --grant-type client_credentials or "
             "urn:ietf:params:oauth:grant-type:device_code)", 2)
    jwks = json.load(jwks_file) if jwks_file else None
    from idp.admin.app_cards import checked_card
    from idp.sso.access import checked_rule

    try:
        rule = checked_rule(allow_groups, allow_affiliations)
        card = checked_card({k: v for k, v in (("home_url", home_url), ("icon_url", icon_url),
                                               ("description", description)) if v is not None})
    except ValueError as exc:
        fail(str(exc), 2)
    from idp.protocols.oidc.clients import DEFAULT_SCOPES
    from idp.protocols.oidc.required_scopes import checked

    try:  # checked before anything is written: a refused option leaves no half-made app
        required = checked(required_scopes, scopes or DEFAULT_SCOPES)
    except ValueError as exc:
        fail(str(exc), 2)

    async def create(db):  # type: ignore[no-untyped-def]
        if protocol == "cas":
            from idp.protocols.cas.registry import create_service

            return await create_service(
                db, name=name, services=list(cas_services), slo_url=slo_url,
                attributes=list(attributes) or None, proxy_callbacks=list(proxy_callbacks)), None
        from idp.protocols.oidc.clients import create_client

        return await create_client(
            db, name=name, redirect_uris=list(redirect_uris), public=public,
            grant_types=list(grant_types) or None, scopes=list(scopes) or None,
            post_logout_redirect_uris=list(post_logout),
            backchannel_logout_uri=backchannel_logout_uri, skip_consent=skip_consent,
            token_endpoint_auth_method=auth_method, id_token_signed_response_alg=id_token_alg,
            jwks=jwks)

    async def run():  # type: ignore[no-untyped-def]
        engine, db = await _open_db(settings)
        try:
            created = await create(db)
            if not rule.open:
                from idp.admin.service_clients import set_access_rule

                await set_access_rule(db, created[0].client_id, rule)
            if card:
                from idp.admin.service_clients import set_card

                await set_card(db, created[0].client_id, card)
            if require_mfa:
                from idp.mfa.client_flag import set_require_mfa

                await set_require_mfa(db, created[0].client_id)
            if required:
                from idp.protocols.oidc.required_scopes import set_required_scopes

                await set_required_scopes(db, created[0].client_id, required)
            return created
        finally:
            await _close_db(engine)

    try:
        client, secret = asyncio.run(run())
    except ValueError as exc:
        fail(str(exc), 2)
    data = _described(client, secret, settings, require_mfa) | {
        "allow_groups": list(rule.groups), "allow_affiliations": list(rule.affiliations),
        "home_url": card.get("client_uri"), "icon_url": card.get("logo_uri"),
        "description": card.get("description")}
    if protocol == "oidc":
        data["required_scopes"] = ["openid", *required]
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"client_id:     {client.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}   (shown once: store it now)")
    if protocol == "cas":
        click.echo(f"CAS server:    {settings.issuer}/cas")
    click.echo(f"issuer:        {settings.issuer}")


def _described(client, secret: str | None, settings: Settings,  # type: ignore[no-untyped-def]
               require_mfa: bool) -> dict[str, object]:
    if client.protocol == "cas":
        cas = client.extra["cas"]
        return {"client_id": client.client_id, "protocol": "cas", "name": client.name,
                "services": cas["services"], "slo_url": cas["slo_url"],
                "attributes": cas["attributes"], "proxy_callbacks": cas["proxy_callbacks"],
                "require_mfa": require_mfa, "cas_server": f"{settings.issuer}/cas",
                "issuer": settings.issuer}
    return {
        "client_id": client.client_id, "protocol": "oidc", "client_secret": secret,
        "name": client.name, "redirect_uris": client.redirect_uris,
        "grant_types": client.grant_types, "scopes": client.scopes,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "require_mfa": require_mfa, "issuer": settings.issuer,
    }


@clients.command("update")
@click.argument("client_id")
@click.option("--require-scope", "required_scopes", multiple=True,
              help="a scope the app cannot work without (repeatable; replaces the list)")
@click.option("--no-required-scopes", is_flag=True,
              help="every scope but openid becomes the person's choice again")
@click.option("--json", "as_json", is_flag=True)
@needs_settings
def clients_update(settings: Settings, client_id: str, required_scopes: tuple[str, ...],
                   no_required_scopes: bool, as_json: bool) -> None:
    """Change an OIDC client's required scopes (what its consent page marks required)."""
    if bool(required_scopes) == no_required_scopes:
        fail("give --require-scope (one or more) or --no-required-scopes", 2)
    from idp.protocols.oidc.required_scopes import set_required_scopes

    async def run():  # type: ignore[no-untyped-def]
        engine, db = await _open_db(settings)
        try:
            return await set_required_scopes(db, client_id, required_scopes)
        finally:
            await _close_db(engine)

    try:
        kept = asyncio.run(run())
    except LookupError as exc:
        fail(str(exc), 1)
    except ValueError as exc:
        fail(str(exc), 2)
    required = ["openid", *kept]
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "required_scopes": required},
                              ensure_ascii=False))
        return
    click.echo(f"required scopes of {client_id}: {' '.join(required)}")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@needs_settings
def clients_list(settings: Settings, as_json: bool) -> None:
    from idp.sso.apps import list_clients

    async def run():  # type: ignore[no-untyped-def]
        engine, db = await _open_db(settings)
        try:
            return await list_clients(db)
        finally:
            await _close_db(engine)

    rows = [
        {"client_id": c.client_id, "protocol": c.protocol, "name": c.name, "status": c.status,
         "auth_method": c.token_endpoint_auth_method, "redirect_uris": c.redirect_uris,
         **({"services": (c.extra or {}).get("cas", {}).get("services", [])}
            if c.protocol == "cas" else {})}
        for c in asyncio.run(run())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        kind = "cas" if row["protocol"] == "cas" else row["auth_method"]
        click.echo(f"{row['client_id']}  {row['status']:8} {kind:20} {row['name']}")


clients.add_command(token)
