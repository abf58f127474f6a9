"""Console pages for people: search, create, detail with every action, sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from directory.base import Person
from idp.admin import (
    service_activation,
    service_bindings,
    service_groups,
    service_people,
    service_sessions,
)
from idp.admin.console_render import Console, ConsoleRoute, field, open_console, open_form, page_links
from idp.admin.service_common import Invalid
from idp.http.routing import Router
from idp.services import ServicesDep

router = Router(audience="page", route_class=ConsoleRoute)
FIELDS = ("name", "family_name", "given_name", "email", "phone", "number", "department", "title",
          "affiliations")
PAGE_SIZE = 50


def person_path(username: str) -> str:
    return "/admin/people/" + quote(username, safe="")


def _fields(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: field(form, name, 500) or None for name in FIELDS}
    values["affiliations"] = [a.strip() for a in (values["affiliations"] or "").split(";") if a.strip()]
    return values


def _changed(person: Person, values: dict[str, Any]) -> dict[str, Any]:
    """Only what the form changed: an untouched blank field never becomes a removal."""
    changes = {}
    for name, value in values.items():
        current = getattr(person, name)
        if name == "affiliations":
            if list(current) != value:
                changes[name] = value
        elif (current or None) != value:
            changes[name] = value
    return changes


@router.get("/admin/people")
async def people(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    q = request.query_params.get("q", "")[:100]
    try:
        page = max(1, min(int(request.query_params.get("page", "1")), 10_000))
    except ValueError:
        page = 1
    found = await service_people.search_people(services, q, page, PAGE_SIZE)
    marked = await service_activation.to_activate(services, found.items)
    return console.render("admin_people.html", section="people", q=q, people=found.items,
                          to_activate=marked,
                          page=page, links=page_links("/admin/people", {"q": q}, page, found.has_more),
                          done=console.done_message())


@router.get("/admin/people/new")
async def new_person_form(request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    return console.render("admin_person_new.html", section="people", values={},
                          groups=await service_groups.list_groups(services))


@router.post("/admin/people/new")
async def new_person(request: Request, services: ServicesDep) -> Response:
    opened = await open_form(request, services)
    if isinstance(opened, Response):
        return opened
    console, form = opened
    username = field(form, "username", 200)
    groups = [g for g in form.getlist("groups") if isinstance(g, str)]
    fields = {k: v for k, v in _fields(form).items() if v not in (None, [])}
    try:
        created = await service_people.create_person(
            services, console.actor, username, fields, password=field(form, "password", 1024) or None,
            groups=groups, must_change=form.get("must_change") == "1")
    except Invalid as exc:
        return console.render("admin_person_new.html", section="people", status=422,
                              error=exc.message, groups=await service_groups.list_groups(services),
                              values={**fields, "username": username, "groups": groups,
                                      "affiliations": ";".join(fields.get("affiliations", []))})
    if created.password is None:
        return console.redirect(person_path(created.person.username), "done_updated")
    return console.render("admin_secret.html", section="people",
                          heading=console.t("a_created", user=created.person.username),
                          label=console.t("a_one_time_password"), secret=created.password,
                          back=person_path(created.person.username))


async def _detail(console: Console, username: str, *, status: int = 200,
                  error: str | None = None) -> Response:
    services = console.services
    detail = await service_people.person_detail(services, username)
    _subject, views = await service_sessions.sessions_of(services, detail.person.username)
    sessions = [{"view": view, "since": datetime.fromtimestamp(view.created_at, UTC)
                 .strftime("%Y-%m-%d %H:%M UTC")} for view in views]
    values = {name: getattr(detail.person, name) for name in FIELDS if name != "affiliations"}
    values["affiliations"] = ";".join(detail.person.affiliations)
    _person, bindings = await service_bindings.bindings_of(services, detail.person.username)
    return console.render("admin_person.html", section="people", status=status, error=error,
                          person=detail.person, state=detail.state, sessions=sessions,
                          linked=detail.linked,
                          bindings=bindings,
                          to_activate=detail.to_activate,
                          activation=services.settings.activation.enabled,
                          groups=await service_groups.list_groups(services), values=values,
                          done=console.done_message())


@router.get("/admin/people/{username}")
async def person(username: str, request: Request, services: ServicesDep) -> Response:
    console = await open_console(request, services)
    if isinstance(console, Response):
        return console
    return await _detail(console, username)


@router.post("/admin/people/{username}/{action}")
async def person_action(username: str, action: str, request: Request,
                        services: ServicesDep) -> Response:
    opened = await open_form(request, services)
    if isinstance(opened, Response):
        return opened
    console, form = opened
    actor, back = console.actor, person_path(username)
    try:
        if action == "disable":
            await service_people.set_disabled(services, actor, username, True)
            return console.redirect(back, "done_disabled")
        if action == "enable":
            await service_people.set_disabled(services, actor, username, False)
            return console.redirect(back, "done_enabled")
        if action == "unlock":
            await service_people.unlock(services, actor, username)
            return console.redirect(back, "done_unlocked")
        if action == "force-password-change":
            await service_people.force_password_change(services, actor, username)
            return console.redirect(back, "done_must_change")
        if action == "edit":
            changes = _changed(await service_people.find_person(services, username), _fields(form))
            if changes:
                await service_people.update_person(services, actor, username, changes)
            return console.redirect(back, "done_updated")
        if action == "reset-password":
            return await _reset(console, form, username)
        if action in ("mark-activation", "unmark-activation"):
            person = await service_people.find_person(services, username)
            await service_activation.set_mark(services, actor, person,
                                              action == "mark-activation")
            return console.redirect(back, "done_updated")
    except Invalid as exc:
        return await _detail(console, username, status=422, error=exc.message)
    raise Invalid(f"unknown action {action!r}")


async def _reset(console: Console, form: FormData, username: str) -> Response:
    mode = "link" if form.get("mode") == "link" else "password"
    result = await service_people.reset_password(console.services, console.actor, username,
                                                 mode=mode, must_change=form.get("must_change") == "1")
    if mode == "link":
        hours = console.services.settings.access.reset_link_ttl // 3600
        return console.render("admin_secret.html", section="people", heading=console.t("a_reset"),
                              label=console.t("a_reset_link", hours=hours), secret=result.link,
                              back=person_path(username))
    return console.render("admin_secret.html", section="people", heading=console.t("a_reset"),
                          label=console.t("a_one_time_password"), secret=result.password,
                          note=console.t("s_must_change") if result.must_change else None,
                          back=person_path(username))


@router.post("/admin/people/{username}/sessions/{action}")
async def session_action(username: str, action: str, request: Request,
                         services: ServicesDep) -> Response:
    opened = await open_form(request, services)
    if isinstance(opened, Response):
        return opened
    console, form = opened
    if action == "revoke":
        await service_sessions.revoke_session(services, console.actor, username, field(form, "sid", 128))
    elif action == "revoke-all":
        await service_sessions.revoke_all_sessions(services, console.actor, username)
    else:
        raise Invalid(f"unknown action {action!r}")
    return console.redirect(person_path(username), "done_revoked")


@router.post("/admin/people/{username}/bindings/remove")
async def binding_action(username: str, request: Request, services: ServicesDep) -> Response:
    opened = await open_form(request, services)
    if isinstance(opened, Response):
        return opened
    console, form = opened
    raw = field(form, "binding", 12)
    if not raw.isdigit():
        raise Invalid("binding: not a binding id")
    await service_bindings.remove_binding(services, console.actor, username, int(raw))
    return console.redirect(person_path(username), "done_unbound")
