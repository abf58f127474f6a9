"""What every `idp` command shares: the one settings loader, failing with a message, and running
a coroutine. Command modules import this, never idp/cli/main.py (which imports them)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from idp.settings import SettingsError, load_settings

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def needs_settings(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Load and validate the settings once (`--config` of the root command, else IDP_CONFIG, then
    the environment); a bad setting ends the command with its message and exit code 2."""

    @click.pass_context
    @wraps(fn)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        try:
            settings = load_settings((ctx.find_root().obj or {}).get("config"))
        except SettingsError as exc:
            fail(str(exc), 2)
        return fn(settings, *args, **kwargs)

    return wrapper
