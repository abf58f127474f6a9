"""What every admin service shares: who acts (Actor), the errors the API and the console turn into
responses, the directory writer, and the audit record of every admin action.

The service layer is the one place admin actions are implemented; the REST API, the console and
the `idp users` commands are thin shells over it, so an action behaves (and is audited) the same
whichever door it came through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from directory.base import (
    AlreadyExists,
    DirectoryError,
    DirectoryUnavailable,
    NoSuchEntry,
)
from directory.writes import DirectoryWriter, WriteRejected

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger("idp.admin")
T = TypeVar("T")


class AdminError(Exception):
    """A refused admin request; `code` is stable and machine-readable, `status` its HTTP status."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AdminError):
    status, code = 404, "not_found"


class Invalid(AdminError):
    status, code = 422, "invalid"


class Conflict(AdminError):
    status, code = 409, "conflict"


class Unavailable(AdminError):
    status, code = 503, "unavailable"


@dataclass(frozen=True)
class Actor:
    """Who performs an admin action, and through which door (api, console, cli)."""

    username: str
    via: str
    ip: str | None = None
    client_id: str | None = None  # the app holding the API token


CLI_ACTOR = Actor(username="cli", via="cli")


@contextmanager
def directory_errors() -> Iterator[None]:
    """Directory errors as admin errors: each names what went wrong in words an admin can act on."""
    try:
        yield
    except NoSuchEntry as exc:
        raise NotFound(str(exc)) from exc
    except AlreadyExists as exc:
        raise Conflict(str(exc)) from exc
    except WriteRejected as exc:
        raise Invalid(str(exc)) from exc
    except DirectoryUnavailable as exc:
        log.warning("directory unavailable for an admin action: %s (%s)", exc, exc.detail)
        raise Unavailable(str(exc) if str(exc) != exc.default_message else
                          "the directory cannot be reached; try again shortly") from exc
    except DirectoryError as exc:
        raise Invalid(str(exc)) from exc
    except ValueError as exc:
        raise Invalid(str(exc)) from exc


def writer_of(services: Services) -> DirectoryWriter:
    """The directory writer opened with the services (one LDAP admin pool per process)."""
    return services.writer


async def record(services: Services, actor: Actor, action: str, outcome: str = "success", *,
                 client_id: str | None = None, **detail: Any) -> None:
    """One audit event of kind "admin" per admin action, successful or not."""
    await services.audit.record("admin", outcome, actor=actor.username, ip=actor.ip,
                                client_id=client_id or actor.client_id, action=action,
                                via=actor.via, **detail)


async def audited(services: Services, actor: Actor, action: str, work: Awaitable[T], *,
                  client_id: str | None = None, **detail: Any) -> T:
    """Await `work` with directory errors turned into admin errors, and audit the outcome
    (success, or the error code and message), then return its result or re-raise."""
    try:
        with directory_errors():
            result = await work
    except AdminError as exc:
        await record(services, actor, action, exc.code, client_id=client_id, error=exc.message,
                     **detail)
        raise
    await record(services, actor, action, client_id=client_id, **detail)
    return result
