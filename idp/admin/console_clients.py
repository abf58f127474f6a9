"""Console pages for groups (add and remove members) and clients (approve, edit, disable,
enable, rotate the secret, delete)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from idp.admin import service_audit, service_clients, service_groups
from idp.admin.console_people import person_path
from idp.admin.console_render import Console, ConsoleRoute, field, open_console, open_form
from idp.admin.service_common import Invalid
from idp.db.models import Client
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="page", route_class=ConsoleRoute)


@router.get("/admin/groups")
async def groups(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    return console.render("admin_groups.html", section="groups", done=console.done_message(),
                          groups=await service_groups.list_groups(services))


def _back(console: Console, form: FormData, username: str, done: str) -> Response:
    if form.get("back") == "person":
        return console.redirect(person_path(username), done)
    return console.redirect("/admin/groups", done)


@router.post("/admin/groups/join")
async def join(request: Request, services: ServicesDep) -> Response:
    opened = await open_form(request, services)
    if isinstance(opened, Response):
        return opened
    console, form = opened
    username = field(form, "username", 200)
    await service_groups.add_member(services, console.actor, field(form, "group", 200), username)
    return _back(console, form, username, "done_joined")


@router.post("/admin/groups/{group}/remove")
async def leave(group: str, request: Request, services: ServicesDep) -> Response:
    opened = await open_form(request, services)
    if isinstance(opened, Response):
        return opened
    console, form = opened
    username = field(form, "username", 200)
    await service_groups.remove_member(services, console.actor, group, username)
    return _back(console, form, username, "done_left")


def client_path(client_id: str) -> str:
    return "/admin/clients/" + quote(client_id, safe="")


@router.get("/admin/clients")
async def clients(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    status = request.query_params.get("status") or None
    listed = await service_clients.list_clients(services, status)
    owners = await service_audit.actor_names(services, {c.owner for c in listed if c.owner})
    return console.render("admin_clients.html", section="clients", shown_status=status or "",
                          clients=listed, registered_by={
                              c.client_id: registered_by(c, owners, console.t) for c in listed},
                          done=console.done_message())


def registered_by(client: Client, owners: dict[str, str], t: Callable[..., str]) -> str:
    """Who registered the app: the developer's username (the portal keeps it beside the
    owner's subject; an older registration has the subject only), else how it came in."""
    extra = client.extra or {}
    origin = extra.get("origin") if isinstance(extra.get("origin"), dict) else {}
    username = extra.get("owner_username") or origin.get("owner_username")
    if isinstance(username, str) and username:
        return username
    if client.owner:
        return owners.get(client.owner, client.owner)
    if extra.get("registered_via") == "rfc7591":
        return t("d_via_rfc7591")
    if extra.get("internal"):
        return t("c_internal")  # campus-idp's own (the console), made at start
    return t("d_via_cli")


# the grants an OIDC client may be given, and how the form names them
GRANT_CHOICES = (("authorization_code", "c_grant_code"), ("refresh_token", "c_grant_refresh"),
                 ("client_credentials", "c_grant_machine"),
                 ("urn:ietf:params:oauth:grant-type:device_code", "c_grant_device"))


def _grant_types(form: FormData) -> dict[str, list[str]]:
    """The ticked grants; only from a form that showed the boxes (none ticked is a choice the
    service refuses, and a form without them changes nothing)."""
    if form.get("grant_types_shown") != "1":
        return {}
    return {"grant_types": [g for g in form.getlist("grant_types") if isinstance(g, str)]}


async def _client_page(console: Console, client_id: str, *, status: int = 200,
                       error: str | None = None) -> Response:
    client = await service_clients.get_client(console.services, client_id)
    reasons = {str(k): str(v) for k, v in ((client.extra or {}).get("scope_reasons") or {}).items()}
    return console.render("admin_client.html", section="clients", status=status, error=error,
                          client=client, pending=service_clients.pending_scopes(client),
                          reasons=reasons, done=console.done_message(),
                          grant_choices=GRANT_CHOICES,
                          issuer=console.services.settings.issuer,
                          tokens=await service_clients.active_refresh_tokens(console.services, client_id))


@router.get("/admin/clients/{client_id}")
async def client(client_id: str, request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    return await _client_page(console, client_id)


def _lines(form: FormData, name: str) -> list[str]:
    return [line.strip() for line in field(form, name, 40_000).splitlines() if line.strip()]


@router.post("/admin/clients/{client_id}/{action}")
async def client_action(client_id: str, action: str, request: Request,
                        services: ServicesDep) -> Response:
    opened = await open_form(request, services)
    if isinstance(opened, Response):
        return opened
    console, form = opened
    actor, back = console.actor, client_path(client_id)
    try:
        if action == "approve":
            await service_clients.approve(services, actor, client_id)
            return console.redirect(back, "done_approved")
        if action in ("approve_access", "decline_access"):
            await service_clients.answer_access_request(services, actor, client_id,
                                                        action == "approve_access")
            return console.redirect(back, f"done_{action}")
        if action in ("disable", "enable"):
            await service_clients.set_status(services, actor, client_id, action == "disable")
            return console.redirect(back, f"done_client_{action}d")
        rule = {"allow_groups": _lines(form, "allow_groups"),
                "allow_affiliations": _lines(form, "allow_affiliations"),
                # the app's card in the app portal at / (not a rule, but edited with it)
                "home_url": field(form, "home_url", 2000), "icon_url": field(form, "icon_url", 2000),
                "description": field(form, "description", 200)}
        if action == "edit" and form.get("protocol") == "cas":
            await service_clients.edit(services, actor, client_id, {
                "name": field(form, "name", 200), "services": _lines(form, "services"),
                "slo_url": field(form, "slo_url") or None,
                "attributes": field(form, "attributes").split(),
                "proxy_callbacks": _lines(form, "proxy_callbacks"), **rule})
            return console.redirect(back, "done_client_saved")
        if action == "edit":
            await service_clients.edit(services, actor, client_id, {**rule,
                "name": field(form, "name", 200), "redirect_uris": _lines(form, "redirect_uris"),
                "post_logout_redirect_uris": _lines(form, "post_logout_redirect_uris"),
                "backchannel_logout_uri": field(form, "backchannel_logout_uri") or None,
                "scopes": field(form, "scopes").split(), "skip_consent": form.get("skip_consent") == "1",
                "required_scopes": [s for s in field(form, "required_scopes").split()
                                    if s != "openid"],
                **_grant_types(form)})
            return console.redirect(back, "done_client_saved")
        if action == "rotate":
            secret = await service_clients.rotate_secret(services, actor, client_id)
            row = await service_clients.get_client(services, client_id)
            until = row.previous_secret_expires
            return console.render("admin_secret.html", section="clients", heading=row.name,
                                  label=console.t("c_new_secret"), secret=secret, back=back,
                                  note=console.t("c_old_secret_until", time=until.strftime(
                                      "%Y-%m-%d %H:%M UTC")) if until else None)
        if action == "delete":
            if form.get("confirm") != "1":
                raise Invalid(console.t("c_delete_confirm"))
            await service_clients.delete(services, actor, client_id)
            return console.redirect("/admin/clients", "done_client_deleted")
    except Invalid as exc:
        return await _client_page(console, client_id, status=422, error=exc.message)
    raise Invalid(f"unknown action {action!r}")
