"""The developer portal's CAS services: the older systems a developer brings to single sign-on
through CAS 3.0 (idp/protocols/cas) register here beside the OIDC apps (idp/admin/portal.py).

A registration waits for an admin (status "pending": the registry serves only active services,
so until then the CAS server answers the service as unregistered); an edit that adds a service
URL or an attribute the admin has not approved waits again. The form's own rules are in
portal_cas_form.py. Every action is audited as kind "developer", like the OIDC apps'.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.admin import portal_auth
from idp.admin.app_cards import with_card
from idp.admin.portal import OwnedAppPost, audit, csrf_failed, own_app, owned_app_post, page
from idp.admin.portal_auth import Developer
from idp.admin.portal_cas_form import (
    CasFields,
    CasForm,
    check_cas_form,
    needs_approval,
    read_cas_form,
    taken,
)
from idp.admin.portal_i18n import text as portal_text
from idp.admin.portal_render import portal_error, portal_locale
from idp.db.models import Client
from idp.http.routing import Router
from idp.protocols.cas.attributes import ATTRIBUTE_NAMES, DEFAULT_ATTRIBUTES
from idp.protocols.cas.registry import create_service
from idp.protocols.cas.registry import registry as cas_registry
from idp.services import Services, ServicesDep
from idp.sso.apps import invalidate_client

router = Router(audience="page", include_in_schema=False)


async def _form_page(request: Request, services: Services, developer: Developer, app: CasForm, *,
                     client: Client | None = None, error: str | None = None,
                     status: int = 200) -> Response:
    return await page(request, services, developer, "portal_cas_form.html", status=status,
                       form=app, client=client, error=error, attribute_names=ATTRIBUTE_NAMES,
                       default_attributes=DEFAULT_ATTRIBUTES)


async def _checked(request: Request, services: Services, app: CasForm,
                   own_id: str | None) -> CasFields | str:
    """The form's fields, or the message the form is shown again with."""
    locale = portal_locale(request, services.settings)
    try:
        fields = check_cas_form(app)
    except ValueError as exc:
        return portal_text("err_form", locale, problem=str(exc))
    clash = await taken(services.db, fields.services, own_id)
    if clash:
        return portal_text("err_cas_taken", locale, entries=", ".join(clash))
    return fields


@router.get("/portal/cas/new")
async def new_service_page(request: Request, services: ServicesDep) -> Response:
    developer = await portal_auth.current_developer(request, services)
    if not isinstance(developer, Developer):
        return developer
    return await _form_page(request, services, developer, CasForm())


@router.post("/portal/cas/new")
async def register_service(request: Request, services: ServicesDep) -> Response:
    developer = await portal_auth.current_developer(request, services)
    if not isinstance(developer, Developer):
        return developer
    form = await request.form()
    if (refused := await csrf_failed(request, services, developer, form)) is not None:
        return refused
    app = read_cas_form(form)
    fields = await _checked(request, services, app, None)
    if isinstance(fields, str):
        return await _form_page(request, services, developer, app, status=400, error=fields)
    client = await create_service(
        services.db, name=fields.name, services=fields.services, slo_url=fields.slo_url,
        attributes=fields.attributes, status="pending", owner=developer.subject,
        extra=with_card({"cas_reason": fields.reason,
                         "origin": {"via": "portal", "owner_username": developer.person.username}},
                        fields.card))
    await audit(services, request, developer, "register", client_id=client.client_id,
                 status=client.status, protocol="cas", service_urls=fields.services,
                 attributes=fields.attributes)
    return RedirectResponse(f"/portal/cas/{client.client_id}?saved=1", status_code=303)


async def _own_service(request: Request, services: Services,
                       client_id: str) -> tuple[Developer, Client] | Response:
    owned = await own_app(request, services, client_id)
    if isinstance(owned, Response):
        return owned
    if owned[1].protocol != "cas":
        return RedirectResponse(f"/portal/apps/{client_id}", status_code=303)
    return owned


@router.get("/portal/cas/{client_id}")
async def service_page(client_id: str, request: Request, services: ServicesDep) -> Response:
    owned = await _own_service(request, services, client_id)
    if isinstance(owned, Response):
        return owned
    developer, client = owned
    return await page(request, services, developer, "portal_cas_app.html", client=client,
                       cas=(client.extra or {}).get("cas") or {},
                       saved=request.query_params.get("saved") == "1")


@router.get("/portal/cas/{client_id}/edit")
async def edit_service_page(client_id: str, request: Request, services: ServicesDep) -> Response:
    owned = await _own_service(request, services, client_id)
    if isinstance(owned, Response):
        return owned
    developer, client = owned
    return await _form_page(request, services, developer, CasForm.of_client(client), client=client)


def _edited(client: Client, fields: CasFields) -> dict[str, Any]:
    extra = dict(client.extra or {})  # a new dict, so the JSON column is seen as changed
    extra["cas"] = {**(extra.get("cas") or {}), "services": fields.services,
                    "slo_url": fields.slo_url, "attributes": fields.attributes}
    extra["cas_reason"] = fields.reason
    return with_card(extra, fields.card)


@router.post("/portal/cas/{client_id}/edit")
async def edit_service(client_id: str, request: Request, services: ServicesDep) -> Response:
    post = await owned_app_post(request, services, client_id)
    if not isinstance(post, OwnedAppPost):
        return post
    developer, client, form = post.developer, post.client, post.form
    if client.protocol != "cas":
        return RedirectResponse(f"/portal/apps/{client_id}/edit", status_code=303)
    app = read_cas_form(form)
    fields = await _checked(request, services, app, client_id)
    if isinstance(fields, str):
        return await _form_page(request, services, developer, app, client=client, status=400,
                                error=fields)
    async with services.db() as db, db.begin():
        row = await db.get(Client, client_id, with_for_update=True)
        if row is None or row.owner != developer.subject:  # deleted while the form was open
            return portal_error(request, services.settings, status=404,
                                title="portal_not_found_title", detail="portal_not_found")
        row.name = fields.name
        row.extra = _edited(row, fields)
        if row.status == "active" and needs_approval(row, fields):
            row.status = "pending"
        status = row.status
    invalidate_client(services.db, client_id)
    cas_registry(services.db).invalidate()
    await audit(services, request, developer, "update", client_id=client_id, status=status,
                 protocol="cas", service_urls=fields.services, attributes=fields.attributes)
    return RedirectResponse(f"/portal/cas/{client_id}?saved=1", status_code=303)



