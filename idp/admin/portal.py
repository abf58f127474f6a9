"""The developer portal (/portal): members of the developer group (and admins) register and
manage their own apps, rotate secrets, preview claims and copy quick-start snippets.

Each route is a short pipeline: who (portal_auth.current_developer) -> which app (owned by
them) -> CSRF on POST -> act (registration_store, the same code as RFC 7591/7592) -> audit ->
render. Every developer action lands in the audit log as kind "developer".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from idp.admin import portal_auth, portal_preview
from idp.admin.portal_auth import Developer
from idp.admin.portal_forms import AppForm, read_form, scope_choices, to_metadata
from idp.admin.portal_i18n import text as portal_text
from idp.admin.portal_render import PORTAL_CSS, portal_error, portal_locale, render
from idp.admin.portal_snippets import snippets
from idp.db.models import Client
from idp.http.routing import Router
from idp.protocols.oidc import registration_store as store
from idp.protocols.oidc.registration_metadata import MetadataError
from idp.services import Services, ServicesDep
from idp.sso.apps import get_client
from idp.sso.cookie import client_ip
from idp.web import csrf, login_area

router = Router(audience="page", include_in_schema=False)


@router.get("/portal/portal.css")
async def portal_css() -> Response:
    return Response(PORTAL_CSS, media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600"})


@router.get("/portal/login")
async def portal_login(request: Request, services: ServicesDep) -> Response:
    return await login_area.start_login(request, services, portal_auth.PORTAL,
                                        request.query_params.get("next"))


@router.get("/portal/callback")
async def portal_callback(request: Request, services: ServicesDep) -> Response:
    return await login_area.finish_login(request, services, portal_auth.PORTAL)


async def page(request: Request, services: Services, developer: Developer, template: str, *,
                status: int = 200, **context: Any) -> Response:
    """Render a portal page with the chrome every page shares and a CSRF token for its forms."""
    locale = portal_locale(request, services.settings)
    token, new = await portal_auth.csrf_token(request, services, developer)
    client = context.get("client")
    page_path = f"/portal/apps/{client.client_id}" if client is not None else "/portal/apps/new"
    response = render(request, services.settings, template, locale=locale, status=status,
                      page_path=page_path, developer=developer, csrf_token=token,
                      issuer=services.settings.issuer,
                      access_notice=request.query_params.get("access"), **context)
    if new:
        csrf.set_cookie(response, token, services.settings)
    return response


async def audit(services: Services, request: Request, developer: Developer, action: str, *,
                 client_id: str | None = None, outcome: str = "success", **detail: Any) -> None:
    await services.audit.record("developer", outcome, actor=developer.person.username,
                                client_id=client_id, ip=client_ip(request), action=action,
                                via="portal", subject=developer.subject, **detail)


async def own_app(request: Request, services: Services,
                   client_id: str) -> tuple[Developer, Client] | Response:
    """Who is signed in (else the sign-in) and their app `client_id` (else 404)."""
    developer = await portal_auth.current_developer(request, services)
    if not isinstance(developer, Developer):
        return developer
    client = await get_client(services.db, client_id)
    if client is None or client.owner != developer.subject:
        return portal_error(request, services.settings, status=404,
                            title="portal_not_found_title", detail="portal_not_found")
    return developer, client


async def csrf_failed(request: Request, services: Services, developer: Developer,
                       form: Any) -> Response | None:
    if await portal_auth.csrf_ok(request, services, developer, form.get("csrf")):
        return None
    await audit(services, request, developer, "form", outcome="csrf_failed")
    return portal_error(request, services.settings, status=403, title="csrf_title",
                        detail="csrf_detail")

@dataclass(frozen=True)
class OwnedAppPost:
    """A form posted about one of the signed-in developer's own apps, its CSRF token checked."""

    developer: Developer
    client: Client
    form: Any


async def owned_app_post(request: Request, services: Services,
                          client_id: str) -> OwnedAppPost | Response:
    """The preamble of every POST about an app: who is signed in (else the sign-in), that the app
    is theirs (else 404), the form, and its CSRF token (else 403)."""
    owned = await own_app(request, services, client_id)
    if isinstance(owned, Response):
        return owned
    developer, client = owned
    form = await request.form()
    if (refused := await csrf_failed(request, services, developer, form)) is not None:
        return refused
    return OwnedAppPost(developer, client, form)



@router.get("/portal")
async def portal_home(request: Request, services: ServicesDep) -> Response:
    developer = await portal_auth.current_developer(request, services)
    if not isinstance(developer, Developer):
        return developer
    apps = await store.clients_of_owner(services.db, developer.subject)
    return await page(request, services, developer, "portal_home.html", apps=apps)


async def _form_page(request: Request, services: Services, developer: Developer, app: AppForm, *,
                     client: Client | None = None, error: str | None = None,
                     status: int = 200) -> Response:
    locale = portal_locale(request, services.settings)
    return await page(request, services, developer, "portal_app_form.html", status=status,
                       form=app, choices=scope_choices(app, locale), client=client, error=error)


def _form_error(exc: Exception, locale_text: Any) -> str:
    if isinstance(exc, MetadataError):
        return locale_text("err_form", problem=exc.description)
    return locale_text("err_reason_missing", scope=str(exc))


@router.get("/portal/apps/new")
async def new_app_page(request: Request, services: ServicesDep) -> Response:
    developer = await portal_auth.current_developer(request, services)
    if not isinstance(developer, Developer):
        return developer
    return await _form_page(request, services, developer, AppForm())


def _translator(request: Request, services: Services) -> Any:
    locale = portal_locale(request, services.settings)
    return lambda key, **values: portal_text(key, locale, **values)


@router.post("/portal/apps/new")
async def register_app(request: Request, services: ServicesDep) -> Response:
    developer = await portal_auth.current_developer(request, services)
    if not isinstance(developer, Developer):
        return developer
    form = await request.form()
    if (refused := await csrf_failed(request, services, developer, form)) is not None:
        return refused
    app = read_form(form)
    try:
        metadata = to_metadata(app)
    except ValueError as exc:  # MetadataError included
        return await _form_page(request, services, developer, app, status=400,
                                error=_form_error(exc, _translator(request, services)))
    registered = await store.create_registered_client(
        services.db, metadata, owner=developer.subject, via="portal", scope_reasons=app.reasons,
        registration_token=False, origin={"owner_username": developer.person.username},
    )
    client = registered.client
    await audit(services, request, developer, "register", client_id=client.client_id,
                 status=client.status, scopes=client.scopes, reasons=app.reasons)
    return await page(request, services, developer, "portal_secret.html", status=201,
                       client=client, secret=registered.secret, heading="app_registered",
                       grace_until=None)


async def _app_page(request: Request, services: Services, developer: Developer, client: Client,
                    **context: Any) -> Response:
    context.setdefault("preview", None)
    return await page(request, services, developer, "portal_app.html", client=client,
                       preview_scopes=portal_preview.preview_scopes(client),
                       preview_group=services.settings.access.preview_group,
                       snippets=snippets(services.settings.issuer, client),
                       grace_days=services.settings.access.secret_rotation_grace // 86400,
                       saved=request.query_params.get("saved") == "1", **context)


@router.get("/portal/apps/{client_id}")
async def app_page(client_id: str, request: Request, services: ServicesDep) -> Response:
    owned = await own_app(request, services, client_id)
    if isinstance(owned, Response):
        return owned
    developer, client = owned
    if client.protocol == "cas":  # a CAS service's own pages (portal_cas.py)
        return RedirectResponse(f"/portal/cas/{client_id}", status_code=303)
    return await _app_page(request, services, developer, client)


@router.get("/portal/apps/{client_id}/edit")
async def edit_app_page(client_id: str, request: Request, services: ServicesDep) -> Response:
    owned = await own_app(request, services, client_id)
    if isinstance(owned, Response):
        return owned
    developer, client = owned
    if client.protocol == "cas":
        return RedirectResponse(f"/portal/cas/{client_id}/edit", status_code=303)
    return await _form_page(request, services, developer, AppForm.of_client(client), client=client)


@router.post("/portal/apps/{client_id}/edit")
async def edit_app(client_id: str, request: Request, services: ServicesDep) -> Response:
    post = await owned_app_post(request, services, client_id)
    if not isinstance(post, OwnedAppPost):
        return post
    developer, client, form = post.developer, post.client, post.form
    if client.protocol == "cas":  # 307: the form goes on to the CAS service's own handler
        return RedirectResponse(f"/portal/cas/{client_id}/edit", status_code=307)
    app = read_form(form)
    app.public = client.token_endpoint_auth_method == "none"  # the type is fixed at creation
    try:
        metadata = to_metadata(app, client, store.approved_scopes(client))
        updated = await store.update_registered_client(services.db, client_id, metadata,
                                                       scope_reasons=app.reasons)
    except ValueError as exc:  # MetadataError included
        return await _form_page(request, services, developer, app, client=client, status=400,
                                error=_form_error(exc, _translator(request, services)))
    except LookupError:  # deleted (by an admin) while the form was open
        return portal_error(request, services.settings, status=404,
                            title="portal_not_found_title", detail="portal_not_found")
    await audit(services, request, developer, "update", client_id=client_id,
                 status=updated.status, scopes=updated.scopes)
    return RedirectResponse(f"/portal/apps/{client_id}?saved=1", status_code=303)


@router.post("/portal/apps/{client_id}/secret")
async def rotate_app_secret(client_id: str, request: Request, services: ServicesDep) -> Response:
    post = await owned_app_post(request, services, client_id)
    if not isinstance(post, OwnedAppPost):
        return post
    developer, client = post.developer, post.client
    try:
        secret = await store.rotate_secret(
            services.db, client_id,
            grace=timedelta(seconds=services.settings.access.secret_rotation_grace))
    except (ValueError, LookupError):
        return portal_error(request, services.settings, status=400, title="bad_request_title",
                            detail="err_no_secret")
    grace_until = datetime.now(UTC) + timedelta(seconds=services.settings.access.secret_rotation_grace)
    await audit(services, request, developer, "rotate_secret", client_id=client_id,
                 previous_valid_until=grace_until.isoformat())
    return await page(request, services, developer, "portal_secret.html", client=client,
                       secret=secret, heading="secret_rotated",
                       grace_until=grace_until.strftime("%Y-%m-%d %H:%M UTC"))


@router.post("/portal/apps/{client_id}/preview")
async def preview_claims(client_id: str, request: Request, services: ServicesDep) -> Response:
    """What the engine would release for this app's approved scopes, for the developer or a
    designated test person (portal_preview.py); every preview is audited, shown or refused."""
    post = await owned_app_post(request, services, client_id)
    if not isinstance(post, OwnedAppPost):
        return post
    developer, client, form = post.developer, post.client, post.form
    raw = form.get("username")
    preview = await portal_preview.preview_claims(services, developer.subject, client,
                                                  raw if isinstance(raw, str) else "")
    await audit(services, request, developer, "claims_preview", client_id=client_id,
                 outcome="success" if preview.allowed else "refused", target=preview.username,
                 scopes=portal_preview.preview_scopes(client).shown if preview.allowed else [])
    return await _app_page(request, services, developer, client, preview=preview,
                           status=200 if preview.allowed else 403)
