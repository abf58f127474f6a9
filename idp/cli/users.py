"""`idp users show | verify | import | bind-upstream | disable | enable | unlock | reset-password |
force-change`:
people as the identity provider sees them, and the admin service layer from the command line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from idp.cli.common import T, fail, needs_settings, run
from idp.settings import Settings


@click.group()
def users() -> None:
    """People as the identity provider sees them."""


async def _with_directory(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    from directory.factory import open_directory
    from idp.db.engine import close_engine, open_engine
    from idp.db.migrate import upgrade

    engine = open_engine(settings.database_url)
    if settings.directory == "local":
        await upgrade(settings.database_url)
    directory = open_directory(settings.directory, settings.ldap, engine,
                               links=settings.identities)
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
        person = run(_with_directory(settings, lambda d: d.find(uid)))
    except DirectoryError as exc:
        fail(f"{exc.kind}: {exc}")
    if person is None:
        fail(f"no such person: {uid}")
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
        person = run(_with_directory(settings, lambda d: d.authenticate(uid, password)))
    except DirectoryError as exc:
        click.echo(f"FAILED {exc.kind}: {exc}")
        sys.exit(1)
    click.echo(f"OK {person.username} {person.subject}")




async def _open_target(settings: Settings) -> tuple[Any, Any]:
    """The import target (directory, writer, audit) without the rest of the services."""
    from directory.factory import open_directory, open_writer
    from idp.admin.service_import import ImportTarget
    from idp.db.activation import ActivationMarks
    from idp.db.audit import Audit
    from idp.db.engine import close_engine, open_engine, sessionmaker
    from idp.db.migrate import upgrade

    await upgrade(settings.database_url)
    engine = open_engine(settings.database_url)
    directory = open_directory(settings.directory, settings.ldap, engine,
                               links=settings.identities)
    db = sessionmaker(engine)
    target = ImportTarget(directory, open_writer(directory), Audit(db), ActivationMarks(db))

    async def close() -> None:
        closing = getattr(target.writer, "close", None)
        if closing is not None and target.writer is not directory:
            await closing()
        await directory.close()
        await close_engine(engine)

    return target, close


def _actor() -> Any:
    from idp.admin.service_common import Actor

    # who ran it, as far as the operating system knows: the audit log's actor
    user = os.environ.get("SUDO_USER") or os.environ.get("USER") or "unknown"
    return Actor(username=f"cli:{user}", via="cli")


def _write_result(path: Path, text: str) -> None:
    # it may hold one-time passwords: readable by its owner only
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


async def _import(settings: Settings, file: Path, data: bytes, dry_run: bool, result_path: Path,
                  activate: bool = False) -> int:
    from directory.base import DirectoryError
    from idp.admin.service_import import ImportResult, check_file, run_import

    target, close = await _open_target(settings)
    try:
        try:
            plan = await check_file(target, data)
            plan.activate = activate
        except DirectoryError as exc:
            fail(f"the directory cannot be read: {exc.detail or exc}")
        if not plan.valid:
            for error in plan.errors:
                click.echo(f"{file.name}: {error}", err=True)
            if plan.error_count > len(plan.errors):
                click.echo(f"… and {plan.error_count - len(plan.errors)} more", err=True)
            click.echo(f"{plan.error_count} error(s); nothing was written.", err=True)
            return 1
        if dry_run:
            click.echo(f"{len(plan.rows)} rows are valid; nothing was written (--dry-run).")
            return 0
        with click.progressbar(length=len(plan.rows), label="Importing",
                               show_pos=True, file=sys.stderr) as bar:
            last = [0]

            async def progress(result: ImportResult) -> None:
                bar.update(result.done - last[0])
                last[0] = result.done

            result = await run_import(target, plan, _actor(), progress=progress,
                                      filename=file.name)
        _write_result(result_path, result.result_csv())
        click.echo(f"created {len(result.created)}, updated {len(result.updated)}, "
                   f"unchanged {result.unchanged} of {result.total} rows; "
                   f"result in {result_path}"
                   + (f" ({len(result.passwords)} one-time passwords)" if result.passwords else "")
                   + (f"; {len(result.to_activate)} to activate at {settings.issuer}/activate"
                      if result.to_activate else ""))
        if result.failure is not None:
            click.echo(f"stopped at {result.failure}; that row was rolled back, the rows after it "
                       "were not imported. Fix it and run the same file again.", err=True)
            return 2
        return 0
    finally:
        await close()


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check every row and write nothing")
@click.option("--result", "result_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="result CSV (line, username, status, one-time password); "
                                 "default FILE.result.csv")
@click.option("--activate", is_flag=True,
              help="new people without a password column get no password: they are marked to "
                   "activate, and set their own at /activate (needs IDP_ACTIVATION_FACTS)")
@needs_settings
def import_(settings: Settings, file: Path, dry_run: bool, result_path: Path | None,
            activate: bool) -> None:
    """Create or update people from a CSV file (the September intake).

    Columns (header row, any order; only username is required): username, name, family_name,
    given_name, email, phone, number, department, affiliation (a;b), groups (a;b, must exist),
    password (empty: a one-time password is generated, or with --activate the person is marked
    to activate instead) or password_hash ({SSHA}…, {CRYPT}…).
    Every row is checked first; any error is reported with its line number and nothing is
    written. Running the same file again changes nothing.
    """
    target_path = result_path or file.with_name(file.stem + ".result.csv")
    data = file.read_bytes()
    if activate and not settings.activation.enabled:
        fail("--activate needs IDP_ACTIVATION_FACTS: without it nobody could activate")
    sys.exit(run(_import(settings, file, data, dry_run, target_path, activate)))


@users.command("bind-upstream")
@click.argument("provider")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@needs_settings
def bind_upstream(settings: Settings, provider: str, file: Path) -> None:
    """Bind upstream accounts to people in bulk, from a CSV file.

    PROVIDER is a name of IDP_UPSTREAM_PROVIDERS. Header row `number,upstream_id` (or
    username / userid): the campus login name or number, and the upstream account's id (a WeCom
    or DingTalk userid, a WeChat unionid, an OpenID provider's sub). Every row is checked first;
    any problem is reported with its line number and nothing is written.
    """
    data = file.read_bytes()

    async def act() -> Any:
        from idp.admin import service_bindings
        from idp.app import close_services, open_services

        services = await open_services(settings)
        try:
            return await service_bindings.bind_bulk(services, _actor(), provider, data)
        finally:
            await close_services(services)

    from idp.admin.service_common import AdminError

    try:
        result = run(act())
    except AdminError as exc:
        fail(exc.message)
    for problem in result.problems:
        click.echo(f"line {problem.line}: {problem.message}", err=True)
    if result.problems and not (result.bound or result.unchanged):
        fail(f"{len(result.problems)} problem(s); nothing was written")
    click.echo(f"bound {result.bound}, unchanged {result.unchanged}")


def _person_action(name: str, help_text: str,
                   action: Callable[[Any, Any, str], Awaitable[str]]) -> click.Command:
    @users.command(name, help=help_text)
    @click.argument("username")
    @needs_settings
    def command(settings: Settings, username: str) -> None:
        async def act() -> str:
            from idp.app import close_services, open_services

            services = await open_services(settings)
            try:
                return await action(services, _actor(), username)
            finally:
                await close_services(services)

        from idp.admin.service_common import AdminError

        try:
            click.echo(run(act()))
        except AdminError as exc:
            fail(exc.message)

    return command


async def _disable(services: Any, actor: Any, username: str) -> str:
    from idp.admin.service_people import set_disabled

    ended = await set_disabled(services, actor, username, True)
    return f"{username} disabled; {len(ended)} session(s) ended"


async def _enable(services: Any, actor: Any, username: str) -> str:
    from idp.admin.service_people import set_disabled

    await set_disabled(services, actor, username, False)
    return f"{username} enabled"


async def _unlock(services: Any, actor: Any, username: str) -> str:
    from idp.admin.service_people import unlock

    await unlock(services, actor, username)
    return f"{username} unlocked"


async def _reset(services: Any, actor: Any, username: str) -> str:
    from idp.admin.service_people import reset_password

    result = await reset_password(services, actor, username, mode="password")
    return f"one-time password for {username}: {result.password}"


async def _force(services: Any, actor: Any, username: str) -> str:
    from idp.admin.service_people import force_password_change

    await force_password_change(services, actor, username)
    return f"{username} must change the password at the next login"


disable = _person_action("disable", "Disable an account (ends its tokens and sessions).",
                         _disable)
enable = _person_action("enable", "Enable a disabled account.", _enable)
unlock = _person_action("unlock", "Lift a lockout after failed logins.", _unlock)
reset_password = _person_action("reset-password", "Set a generated one-time password (ends the "
                                "tokens and sessions the old one opened).", _reset)
force_change = _person_action("force-change", "Require a password change at the next login.",
                              _force)
