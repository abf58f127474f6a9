"""Scopes an app cannot work without: shown on the consent page as required, never untickable.

`openid` is required of every OpenID request: without it there is no sign-in to consent to. An
app may name more in its registration, kept in `extra["required_scopes"]` (no schema change) and
set by `idp clients add/update --require-scope`, the admin console and API, and the developer
portal; each must be a scope the client may request. A required scope is required only when the
request asks for it: an app that does not ask for the e-mail address today is not sent it.
Every other scope the app asks for is the person's to untick (idp/protocols/oidc/policy.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.db.models import Client
from idp.sso.apps import invalidate_client

KEY = "required_scopes"
ALWAYS = frozenset({"openid"})
MAX_REQUIRED = 20


def registered(extra: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The scopes the app's registration marks required (openid, always required, not kept)."""
    values = (extra or {}).get(KEY) or ()
    return tuple(v for v in values if isinstance(v, str))


def required_for(extra: Mapping[str, Any] | None, requested: Iterable[str]) -> list[str]:
    """Of the scopes a request asks for, those the person may not untick."""
    marked = set(registered(extra)) | ALWAYS
    return [scope for scope in requested if scope in marked]


def checked(scopes: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """What an admin or developer typed, as it is kept; ValueError saying what is wrong."""
    may = set(allowed)
    cleaned: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or not scope.strip():
            raise ValueError("a required scope must be a scope name")
        scope = scope.strip()
        if scope in ALWAYS or scope in cleaned:
            continue  # openid is always required; a repeat changes nothing
        if scope not in may:
            raise ValueError(f"required scope {scope!r} is not one of the app's scopes "
                             f"({' '.join(sorted(may)) or 'none'})")
        cleaned.append(scope)
    if len(cleaned) > MAX_REQUIRED:
        raise ValueError(f"at most {MAX_REQUIRED} required scopes")
    return cleaned


def with_required(extra: Mapping[str, Any] | None, scopes: list[str]) -> dict[str, Any]:
    """The app's `extra` with these required scopes (none kept when the list is empty)."""
    result = dict(extra or {})  # a new dict, so the JSON column is seen as changed
    if scopes:
        result[KEY] = list(scopes)
    else:
        result.pop(KEY, None)
    return result


def pruned(extra: Mapping[str, Any] | None, scopes: Iterable[str]) -> dict[str, Any]:
    """After the app's scopes changed: a scope it may no longer ask for is no longer required."""
    may = set(scopes)
    return with_required(extra, [s for s in registered(extra) if s in may])


async def set_required_scopes(db: async_sessionmaker, client_id: str,
                              scopes: Iterable[str]) -> list[str]:
    """Replace the app's required scopes (`idp clients add/update --require-scope`); returns them
    as kept. LookupError: no such OIDC client; ValueError: a scope the app may not ask for."""
    async with db() as session, session.begin():
        client = await session.get(Client, client_id, with_for_update=True)
        if client is None or client.protocol != "oidc":
            raise LookupError(f"no OIDC client {client_id!r}")
        cleaned = checked(scopes, client.scopes or [])
        client.extra = with_required(client.extra, cleaned)
    invalidate_client(db, client_id)
    return cleaned
