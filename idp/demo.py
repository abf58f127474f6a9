"""`idp demo`: the embedded defaults, the demo people, a demo app, and how to log in."""

from __future__ import annotations

import json
from pathlib import Path

from idp.settings import Settings

DEMO_APP_PORT = 9001
DEMO_CLIENT_FILE = "demo-client.json"


async def prepare_demo(settings: Settings, *, app_url: str | None = None) -> list[str]:
    """Migrate, seed the demo people (local directory) and register the demo app once.
    Returns the lines to print."""
    from directory.demo_people import DEMO_PEOPLE, seed_local
    from directory.factory import open_directory
    from idp.db.engine import open_engine, sessionmaker
    from idp.db.migrate import upgrade
    from idp.oauth.clients import create_client, get_client

    await upgrade(settings.database_url)
    engine = open_engine(settings.database_url)
    db = sessionmaker(engine)
    directory = open_directory(settings, engine)
    try:
        if settings.directory == "local":
            await seed_local(directory)  # type: ignore[arg-type]
        app_url = app_url or f"http://127.0.0.1:{DEMO_APP_PORT}"
        record = Path(settings.keys_dir).parent / DEMO_CLIENT_FILE
        demo = json.loads(record.read_text()) if record.exists() else None
        if demo is None or await get_client(db, demo["client_id"]) is None:
            client, secret = await create_client(
                db, name="Online Service Hall (demo)", redirect_uris=[f"{app_url}/callback"],
                post_logout_redirect_uris=[f"{app_url}/"],
                backchannel_logout_uri=f"{app_url}/backchannel-logout", skip_consent=True,
            )
            demo = {"client_id": client.client_id, "client_secret": secret, "app_url": app_url}
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(demo))
            record.chmod(0o600)
    finally:
        await directory.close()
        await engine.dispose()

    lines = [
        "",
        f"  campus-idp is starting at {settings.issuer}",
        f"  discovery:   {settings.issuer}/.well-known/openid-configuration",
        f"  demo client: client_id={demo['client_id']} client_secret={demo['client_secret']}",
        f"               redirect_uri={demo['app_url']}/callback",
        "",
        "  demo people (username / password):",
    ]
    if settings.directory == "local":
        for person in DEMO_PEOPLE:
            lines.append(f"    {person.username:<10} {person.password:<14} {person.name}")
    else:
        lines.append("    (people come from your LDAP directory)")
    lines.append("")
    return lines
