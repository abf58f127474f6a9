"""The person's own upstream-account bindings on /account: listed, and removed one at a time.

Removing one needs no step-up: it takes a way to sign in away, never adds one (binding needs
the campus password, upstream_binding.py)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from idp.http.routing import Router
from idp.services import Services, ServicesDep
from idp.sso.cookie import client_ip
from idp.web import upstream_text  # noqa: F401  (registers the strings of the section)
from idp.web.account_common import checked_post, done
from idp.web.i18n import Locale

router = Router(audience="page")

MAX_ID = 12


def label(services: Services, provider: str, locale: Locale) -> str:
    """The provider as the login page's button calls it (a removed provider: its name)."""
    config = services.settings.upstream.by_name.get(provider)
    if config is None:
        return provider
    return (config.label_zh or config.label if locale == "zh" else config.label) or provider


async def listed(services: Services, subject: str, locale: Locale
                 ) -> list[dict[str, Any]] | None:
    """The person's bindings for the page; None (no section at all) when no provider is
    configured and the person has none."""
    found = await services.upstreams.bindings.of_subject(subject)
    if not found and not services.settings.upstream.by_name:
        return None
    return [{"id": b.id, "label": label(services, b.provider, locale),
             "name": b.display_name or b.external_id,
             "since": b.created_at.strftime("%Y-%m-%d")} for b in found]


@router.post("/account/bindings/remove")
async def remove_binding(request: Request, services: ServicesDep) -> Response:
    found, form = await checked_post(request, services)
    if isinstance(found, Response):
        return found
    raw = form.get("binding")
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > MAX_ID:
        return done()
    removed = await services.upstreams.bindings.remove(int(raw), subject=found.person.subject)
    if removed is None:
        return done()  # already gone, or never the person's: nothing to tell an attacker
    await services.audit.record("upstream", "unbound_by_person", actor=found.person.username,
                                subject=found.person.subject, ip=client_ip(request),
                                provider=removed.provider, upstream_id=removed.external_id)
    return done("account_binding_removed")
