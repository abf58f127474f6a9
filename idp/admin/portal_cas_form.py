"""The portal's CAS service form: what the developer typed -> a CAS service's fields, checked by
the registry's own rules (idp/protocols/cas/registry.py) and by two more that only the portal
applies, because a developer is not an admin:

- a pattern must name its host literally (`^https://jw\\.example\\.edu/.*$`) and may not branch at
  its top level (`^https://a\\.edu/.*|.*$` matches every URL), so it says where tickets go;
- no service URL or pattern may reach into another app's: the registry hands a URL to the first
  service that serves it, and a second one would read like an attempt to stand in for the first.

Every portal registration, and every edit that adds a URL or an attribute an admin has not seen,
waits for an admin's approval (status "pending"): attributes are personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.datastructures import FormData

from idp.admin.app_cards import checked_card
from idp.admin.portal_forms import form_text
from idp.db.models import Client
from idp.protocols.cas.attributes import ATTRIBUTE_NAMES, DEFAULT_ATTRIBUTES, check_names
from idp.protocols.cas.registry import CasService, check_entry, is_pattern

MAX_REASON = 500
MAX_SERVICES = 20
# ^https:// then the host spelled out (letters, digits, hyphens, escaped dots), an optional port,
# then a path, query or the end
_LITERAL_HOST = re.compile(r"^\^https://(?:[A-Za-z0-9-]+|\\\.)+(?::[0-9]{1,5})?(?:/|\\/|\\\?|\$)")


@dataclass
class CasForm:
    """The form's values, as typed (for redisplay)."""

    name: str = ""
    services: str = ""
    slo_url: str = ""
    attributes: list[str] = field(default_factory=lambda: list(DEFAULT_ATTRIBUTES))
    reason: str = ""
    home_url: str = ""
    icon_url: str = ""
    description: str = ""

    @classmethod
    def of_client(cls, client: Client) -> CasForm:
        cas = (client.extra or {}).get("cas") or {}
        return cls(name=client.name, services="\n".join(cas.get("services") or []),
                   slo_url=cas.get("slo_url") or "", attributes=list(cas.get("attributes") or []),
                   reason=str((client.extra or {}).get("cas_reason") or ""),
                   home_url=str((client.extra or {}).get("client_uri") or ""),
                   icon_url=str((client.extra or {}).get("logo_uri") or ""),
                   description=str((client.extra or {}).get("description") or ""))


@dataclass(frozen=True)
class CasFields:
    """Checked values, ready for the registry."""

    name: str
    services: list[str]
    slo_url: str | None
    attributes: list[str]
    reason: str
    card: dict[str, str | None]  # the app portal's card, as checked_card gives it


def read_cas_form(form: FormData) -> CasForm:
    wanted = {a for a in form.getlist("attribute") if isinstance(a, str)}
    return CasForm(name=form_text(form, "name", 200), services=form_text(form, "services"),
                   slo_url=form_text(form, "slo_url"),
                   attributes=[a for a in ATTRIBUTE_NAMES if a in wanted],
                   reason=form_text(form, "reason", MAX_REASON), home_url=form_text(form, "home_url"),
                   icon_url=form_text(form, "icon_url"), description=form_text(form, "description", 200))


def _branches_at_top(pattern: str) -> bool:
    """Whether `|` occurs outside every group and character class."""
    depth, in_class, escaped = 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


def _checked_entry(entry: str) -> str:
    checked = check_entry(entry, "service")
    if is_pattern(checked):
        if not _LITERAL_HOST.match(checked):
            raise ValueError(f"pattern {checked!r} must begin with ^https:// and the host spelled "
                             "out, e.g. ^https://jw\\.example\\.edu/.*$")
        if _branches_at_top(checked):
            raise ValueError(f"pattern {checked!r} must not use | outside a group: put the "
                             "alternatives in ( )")
    return checked


def check_cas_form(app: CasForm) -> CasFields:
    """The checked fields, or ValueError with a message for the developer."""
    if not app.name:
        raise ValueError("the app needs a name")
    lines = list(dict.fromkeys(line.strip() for line in app.services.splitlines() if line.strip()))
    if not lines:
        raise ValueError("a CAS service needs at least one service URL or pattern")
    if len(lines) > MAX_SERVICES:
        raise ValueError(f"at most {MAX_SERVICES} service URLs or patterns")
    services = [_checked_entry(line) for line in lines]
    slo = app.slo_url or None
    if slo is not None:
        if is_pattern(slo):
            raise ValueError("the single logout URL must be a URL, not a pattern")
        check_entry(slo, "single logout URL")
    attributes = check_names(app.attributes)
    if not app.reason:
        raise ValueError("say what the app is and why it needs the attributes it asks for")
    card = checked_card({"home_url": app.home_url, "icon_url": app.icon_url,
                         "description": app.description})
    return CasFields(app.name, services, slo, attributes, app.reason, card)


def _reaches(entry: str, other: CasService) -> bool:
    if is_pattern(entry):
        return entry in other.services or any(
            not is_pattern(theirs) and re.fullmatch(entry, theirs) for theirs in other.services)
    return other.serves(entry)


async def taken(db: async_sessionmaker, services: list[str], own_id: str | None) -> list[str]:
    """The entries that reach a URL another CAS service (of any status) is registered for."""
    async with db() as session:
        rows = (await session.execute(select(Client).where(Client.protocol == "cas"))).scalars()
        others = [CasService.of(row) for row in rows if row.client_id != own_id]
    return [entry for entry in services if any(_reaches(entry, other) for other in others)]


def needs_approval(client: Client, fields: CasFields) -> bool:
    """Whether an edit asks for a service URL or an attribute the last approval did not cover."""
    approved: dict[str, Any] = (client.extra or {}).get("cas_approved") or {}
    return bool(set(fields.services) - set(approved.get("services") or [])
                or set(fields.attributes) - set(approved.get("attributes") or []))
