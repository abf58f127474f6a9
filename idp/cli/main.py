"""The `idp` command: serve | demo | check | migrate | users … | clients … | keys …"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from idp.cli.clients import clients
from idp.cli.common import fail, needs_settings, run
from idp.cli.keys import keys
from idp.cli.maintenance import maintenance
from idp.cli.releases import releases
from idp.cli.throttles import throttles
from idp.cli.users import users
from idp.settings import Settings, config_file_from_env


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="TOML settings file (environment variables win over it).")
@click.pass_context
def main(ctx: click.Context, config: Path | None) -> None:
    """campus-idp: one login for every campus app."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config or config_file_from_env()


# --------------------------------------------------------------------------- serving

def _refuse_unsafe_scaling(settings: Settings, workers: int) -> None:
    if workers > 1 and not settings.redis_url:
        fail("--workers > 1 needs a shared store: set IDP_REDIS_URL (the embedded store "
              "lives inside one process, so sessions and codes would be lost between workers)", 2)
    if workers > 1 and settings.database_url.startswith("sqlite"):
        fail("--workers > 1 needs PostgreSQL: set IDP_DATABASE_URL=postgresql://… "
              "(SQLite allows one writer process)", 2)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@needs_settings
def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve the identity provider."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from idp.db.migrate import upgrade
    from idp.monitoring.logs import server_log_config
    from idp.server.draining import DrainingServer
    from idp.server.transport import IdpHttpProtocol

    _refuse_unsafe_scaling(settings, workers)
    run(upgrade(settings.database_url))  # once, before the workers start
    # uvicorn with httptools and uvloop: make bench's servers check (same workers, same logging)
    # found granian no faster (bench/README.md); each response goes out in one write
    # (idp/server/transport.py). The app applies the proxy headers itself (app.py,
    # trusted_proxies); the access log is idp/server/edge.py's.
    options = dict(host=host, port=port, workers=workers, loop="uvloop", http=IdpHttpProtocol,
                   proxy_headers=False, access_log=False, log_level=settings.log_level,
                   log_config=server_log_config(settings.log_level, settings.log_format,
                                                settings.log_stream))
    if workers > 1:
        uvicorn.run("idp.asgi:app", **options)  # type: ignore[arg-type]
        return
    # one worker (a container): SIGTERM drains first (idp/server/draining.py)
    server = DrainingServer(uvicorn.Config("idp.asgi:app", **options),  # type: ignore[arg-type]
                            settings.shutdown_drain_seconds)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@main.command()
@needs_settings
def migrate(settings: Settings) -> None:
    """Apply the database schema migrations."""
    from idp.db.migrate import current, upgrade

    run(upgrade(settings.database_url))
    click.echo(f"database at revision {run(current(settings.database_url))}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--app-port", default=9001, show_default=True, type=int,
              help="first of four ports for the example apps (hall, OA, data platform, API)")
@click.option("--no-apps", is_flag=True, help="serve the IdP only, not the example apps")
@click.option("--no-serve", is_flag=True, help="only seed the demo people and apps, then exit")
@needs_settings
def demo(settings: Settings, host: str, port: int, app_port: int, no_apps: bool,
         no_serve: bool) -> None:
    """Seed the demo people, register the example apps, print how to log in, and serve the IdP
    and the apps until Ctrl-C."""
    from idp.cli.demo import prepare_demo, run_demo

    if settings.issuer == "http://localhost:8000" and port != 8000:
        settings = settings.model_copy(update={"issuer": f"http://localhost:{port}"})
    plan = run(prepare_demo(settings, app_port=app_port))
    if no_serve:
        click.echo("\n".join(plan.lines))
        return
    sys.exit(run_demo(settings, plan, host=host, port=port, with_apps=not no_apps,
                      config_file=click.get_current_context().obj.get("config")))


@main.command()
@needs_settings
def check(settings: Settings) -> None:
    """Check settings, database, store and directory; exit non-zero naming what failed."""
    from idp.cli.checks import run_checks, warnings

    results = run(run_checks(settings))
    cautions = warnings(settings)
    width = max(len(name) for name in [*(r[0] for r in results), *(c[0] for c in cautions)])
    for name, ok, detail in results:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name.ljust(width)}  {detail}")
    for name, detail in cautions:  # printed, not failed: the settings do work meanwhile
        click.echo(f"WARN {name.ljust(width)}  {detail}")
    failed = [name for name, ok, _ in results if not ok]
    if failed:
        fail("cannot reach: " + ", ".join(failed))


main.add_command(users)
main.add_command(clients)
main.add_command(keys)
main.add_command(throttles)
main.add_command(releases)  # and `idp users releases`
main.add_command(maintenance)


@main.command("settings")
@click.option("--effective", is_flag=True,
              help="the value of each setting in effect and where it came from (secrets masked)")
@click.pass_context
def settings_table(ctx: click.Context, effective: bool) -> None:
    """Print every setting, its environment variable and default (Markdown); with --effective,
    the values in effect here: from the environment, the TOML file, or the default."""
    from idp.settings import SettingsError, documented_settings, effective_settings, load_settings

    if not effective:
        click.echo("| variable | default | meaning |\n|---|---|---|")
        for variable, default, description in documented_settings():
            click.echo(f"| `{variable}` | {f'`{default}`' if default else ''} | {description} |")
        return
    config = ctx.find_root().obj.get("config")
    try:
        rows = effective_settings(load_settings(config), config)
    except SettingsError as exc:
        fail(str(exc), 2)
    width = max(len(variable) for variable, _, _ in rows)
    for variable, value, origin in rows:
        click.echo(f"{variable.ljust(width)}  {origin:7}  {value}")
