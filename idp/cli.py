"""The `idp` command: serve | demo | check | migrate | users … | clients … | keys …"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from idp.settings import Settings, SettingsError, config_file_from_env, load_settings

T = TypeVar("T")


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def needs_settings(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Load and validate settings once; a bad setting ends the command with its message."""

    @click.pass_context
    @wraps(fn)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        try:
            settings = load_settings(ctx.obj.get("config"))
        except SettingsError as exc:
            _fail(str(exc), 2)
        return fn(settings, *args, **kwargs)

    return wrapper


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
        _fail("--workers > 1 needs a shared store: set IDP_REDIS_URL (the embedded store "
              "lives inside one process, so sessions and codes would be lost between workers)", 2)
    if workers > 1 and settings.database_url.startswith("sqlite"):
        _fail("--workers > 1 needs PostgreSQL: set IDP_DATABASE_URL=postgresql://… "
              "(SQLite allows one writer process)", 2)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@needs_settings
def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve the identity provider."""
    import uvicorn

    from idp.db.migrate import upgrade
    from idp.http_protocol import IdpHttpProtocol
    from idp.logging_setup import server_log_config

    _refuse_unsafe_scaling(settings, workers)
    _run(upgrade(settings.database_url))  # once, before the workers start
    # uvicorn with httptools and uvloop: make bench's servers check (same workers, same logging)
    # found granian no faster (bench/README.md); each response goes out in one write
    # (idp/http_protocol.py). The app applies the proxy headers itself (app.py,
    # trusted_proxies); the access log is idp/edge.py's.
    uvicorn.run("idp.asgi:app", host=host, port=port, workers=workers, loop="uvloop",
                http=IdpHttpProtocol, proxy_headers=False, access_log=False,
                log_level=settings.log_level, log_config=server_log_config(settings.log_level))


@main.command()
@needs_settings
def migrate(settings: Settings) -> None:
    """Apply the database schema migrations."""
    from idp.db.migrate import current, upgrade

    _run(upgrade(settings.database_url))
    click.echo(f"database at revision {_run(current(settings.database_url))}")


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
    from idp.demo import prepare_demo, run_demo

    if settings.issuer == "http://localhost:8000" and port != 8000:
        settings = settings.model_copy(update={"issuer": f"http://localhost:{port}"})
    plan = _run(prepare_demo(settings, app_port=app_port))
    click.echo("\n".join(plan.lines))
    if no_serve:
        return
    sys.exit(run_demo(settings, plan, host=host, port=port, with_apps=not no_apps,
                      config_file=click.get_current_context().obj.get("config")))


@main.command()
@needs_settings
def check(settings: Settings) -> None:
    """Check settings, database, store and directory; exit non-zero naming what failed."""
    from idp.checks import run_checks

    results = _run(run_checks(settings))
    width = max(len(name) for name, _, _ in results)
    for name, ok, detail in results:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name.ljust(width)}  {detail}")
    failed = [name for name, ok, _ in results if not ok]
    if failed:
        _fail("cannot reach: " + ", ".join(failed))


# --------------------------------------------------------------------------- users

@main.group()
def users() -> None:
    """People as the identity provider sees them."""


async def _with_directory(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    from directory.factory import open_directory
    from idp.db.engine import close_engine, open_engine
    from idp.db.migrate import upgrade

    engine = open_engine(settings.database_url)
    if settings.directory == "local":
        await upgrade(settings.database_url)
    directory = open_directory(settings.directory, settings.ldap, engine)
    try:
        return await action(directory)
    finally:
        await directory.close()
        await close_engine(engine)


@users.command("show")
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@needs_settings
def users_show(settings: Settings, uid: str, as_json: bool) -> None:
    """Show a person: subject id, uid, name, email, phone, number, department, groups."""
    from directory.base import DirectoryError

    try:
        person = _run(_with_directory(settings, lambda d: d.find(uid)))
    except DirectoryError as exc:
        _fail(f"{exc.kind}: {exc}")
    if person is None:
        _fail(f"no such person: {uid}")
    data = person.as_dict()
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(value)
        click.echo(f"{key:>15}: {'' if value is None else value}")


@users.command("verify")
@click.argument("uid")
@needs_settings
def users_verify(settings: Settings, uid: str) -> None:
    """Check a password read from standard input; prints OK or the failure kind."""
    from directory.base import DirectoryError

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        person = _run(_with_directory(settings, lambda d: d.authenticate(uid, password)))
    except DirectoryError as exc:
        click.echo(f"FAILED {exc.kind}: {exc}")
        sys.exit(1)
    click.echo(f"OK {person.username} {person.subject}")


# --------------------------------------------------------------------------- clients and keys

from idp.cli_clients import clients  # noqa: E402
from idp.cli_keys import keys  # noqa: E402
from idp.cli_throttles import throttles  # noqa: E402
from idp.cli_users_admin import USER_COMMANDS  # noqa: E402

main.add_command(clients)
main.add_command(keys)
main.add_command(throttles)
for command in USER_COMMANDS:
    users.add_command(command)


@main.command("settings")
def settings_table() -> None:
    """Print every setting, its environment variable and default (Markdown)."""
    from idp.settings import documented_settings

    click.echo("| variable | default | meaning |\n|---|---|---|")
    for variable, default, description in documented_settings():
        click.echo(f"| `{variable}` | {f'`{default}`' if default else ''} | {description} |")
