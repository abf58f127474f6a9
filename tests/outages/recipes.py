"""For every route of the app, a plausible request that gets as far into its handler as it can:
the right browser (cookies), CSRF token, bearer token or client credentials, a valid-looking form
or JSON body, path parameters that name live things of the world (tests/outages/world.py).

One recipe per (method, route template): `@recipe(method, template, kind)` on a function of the
world that returns the requests (`req(path, browser, **httpx_kwargs)`), or `simple(...)` for a
bare GET. A route the app serves without a recipe is still swept (calls.fallback), and
test_every_route_has_a_recipe names it. `ok`: a status >= 400 that is the request's right answer
while every backend is up (test_every_recipe_works_while_all_is_up holds the others to < 400).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

import pyotp

from tests.admin.conftest_registration import app_metadata
from tests.oauth.flow import REDIRECT, pkce_pair
from tests.outages.calls import API, CAS, OAUTH, PAGE, PROBE, Recipe, Req, bearer, req
from tests.outages.world import BYE, World

RECIPES: dict[tuple[str, str], Recipe] = {}


def recipe(method: str, template: str, kind: str, *, last: bool = False
           ) -> Callable[[Callable[[World], Iterable[Req]]], Callable[[World], Iterable[Req]]]:
    def declare(make: Callable[[World], Iterable[Req]]) -> Callable[[World], Iterable[Req]]:
        key = (method, template)
        assert key not in RECIPES, f"two recipes for {key}"
        RECIPES[key] = Recipe(kind, make, last)
        return make

    return declare


def simple(method: str, template: str, kind: str, path: Callable[[World], str],
           browser: str | None = None) -> None:
    """A request with nothing but its path and (optionally) a world browser's cookies."""
    recipe(method, template, kind)(
        lambda w: [req(path(w), w.browsers[browser] if browser else None)])


def _fixed(path: str) -> Callable[[World], str]:
    return lambda _w: path


# --- the protocol endpoints ------------------------------------------------------------------

for _path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
              "/jwks"):
    simple("GET", _path, API, _fixed(_path))


@recipe("GET", "/authorize", PAGE)
def _authorize(w: World) -> list[Req]:
    params = {"response_type": "code", "client_id": w.clients["first_party"].client_id,
              "redirect_uri": REDIRECT, "scope": "openid profile", "state": "st", "nonce": "n"}
    # signed in: straight to a code; a stranger: a new interaction and the login page
    return [req("/authorize", w.browsers["student"], params=params),
            req("/authorize", params=params)]


@recipe("POST", "/authorize", PAGE)
def _authorize_post(w: World) -> list[Req]:
    _, challenge = pkce_pair()
    data = {"response_type": "code", "client_id": w.clients["public"].client_id,
            "redirect_uri": REDIRECT, "scope": "openid", "state": "st",
            "code_challenge": challenge, "code_challenge_method": "S256"}
    return [req("/authorize", w.browsers["student"], data=data)]


@recipe("GET", "/authorize/resume/{signin_id}", PAGE)
def _resume(w: World) -> list[Req]:
    paused = w.paused["resume"]
    return [req(f"/authorize/resume/{paused.id}", paused.browser)]


@recipe("POST", "/token", OAUTH)
def _token(w: World) -> list[Req]:
    confidential, public = w.clients["confidential"], w.clients["public"]
    return [
        req("/token", data={"grant_type": "authorization_code", "code": w.codes["confidential"],
                            "redirect_uri": REDIRECT}, auth=confidential.basic),
        req("/token", data={"grant_type": "refresh_token",
                            "refresh_token": w.tokens["refresh_token"]}, auth=confidential.basic),
        req("/token", data={"grant_type": "authorization_code", "code": w.codes["public"],
                            "redirect_uri": REDIRECT, "client_id": public.client_id,
                            "code_verifier": w.codes["public_verifier"]}),
        # a device polling before the person answered: authorization_pending is its answer
        req("/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                            "device_code": w.values["device_code"]},
            auth=w.clients["device"].basic, ok=(400,)),
    ]


@recipe("POST", "/device_authorization", OAUTH)
def _device_authorization(w: World) -> list[Req]:
    return [req("/device_authorization", data={"scope": "openid profile"},
                auth=w.clients["device"].basic)]


@recipe("GET", "/userinfo", OAUTH)
def _userinfo(w: World) -> list[Req]:
    return [req("/userinfo", headers=bearer(w.tokens["access_token"]))]


@recipe("POST", "/userinfo", OAUTH)
def _userinfo_post(w: World) -> list[Req]:
    return [req("/userinfo", headers=bearer(w.tokens["access_token"]))]


@recipe("POST", "/introspect", OAUTH)
def _introspect(w: World) -> list[Req]:
    auth = w.clients["confidential"].basic
    return [req("/introspect", data={"token": w.tokens["access_token"]}, auth=auth),
            req("/introspect", data={"token": w.tokens["refresh_token"],
                                     "token_type_hint": "refresh_token"}, auth=auth)]


@recipe("POST", "/revoke", OAUTH, last=True)
def _revoke(w: World) -> list[Req]:
    return [req("/revoke", data={"token": w.tokens["refresh_token"],
                                 "token_type_hint": "refresh_token"},
                auth=w.clients["confidential"].basic)]


# --- the sign-in pages -----------------------------------------------------------------------

simple("GET", "/device", PAGE, _fixed("/device"), "student")
simple("GET", "/device/done", PAGE, _fixed("/device/done?outcome=approved"))
simple("GET", "/device/qr.svg", PAGE, _fixed("/device/qr.svg?user_code=BCDF-GHJK"))


@recipe("POST", "/device", PAGE)
def _device_code(w: World) -> list[Req]:
    # a signed-in person enters a live code: on to the confirmation page
    return [req("/device", w.browsers["student"], data={
        "csrf": w.browser_csrf("student"), "user_code": w.values["device_user_code"]})]


@recipe("GET", "/device/resume/{signin_id}", PAGE)
def _device_resume(w: World) -> list[Req]:
    paused = w.paused["device"]
    return [req(f"/device/resume/{paused.id}", paused.browser)]



def _interaction(name: str, page: str) -> Callable[[World], list[Req]]:
    """A GET of the page where the sign-in `name` is paused, in its own browser."""

    def make(w: World) -> list[Req]:
        paused = w.paused[name]
        return [req(page.format(id=paused.id), paused.browser)]

    return make


recipe("GET", "/login/{signin_id}", PAGE)(_interaction("login", "/login/{id}"))
recipe("GET", "/consent/{signin_id}", PAGE)(_interaction("consent", "/consent/{id}"))
recipe("GET", "/mfa/{signin_id}", PAGE)(_interaction("mfa", "/mfa/{id}"))
recipe("GET", "/identity/{signin_id}", PAGE)(_interaction("identity", "/identity/{id}"))
recipe("GET", "/password/{signin_id}", PAGE)(_interaction("password", "/password/{id}"))
recipe("GET", "/password/{signin_id}/notice", PAGE)(
    _interaction("notice", "/password/{id}/notice"))


@recipe("POST", "/login/{signin_id}", PAGE)
def _login_post(w: World) -> list[Req]:
    paused, person = w.paused["login"], w.people["student"]
    return [req(f"/login/{paused.id}", paused.browser, data={
        "csrf": paused.csrf, "username": person.username, "password": person.password})]


@recipe("POST", "/consent/{signin_id}", PAGE)
def _consent_post(w: World) -> list[Req]:
    paused = w.paused["consent"]
    return [req(f"/consent/{paused.id}", paused.browser,
                data={"csrf": paused.csrf, "decision": "allow"})]


@recipe("POST", "/identity/{signin_id}", PAGE)
def _identity_post(w: World) -> list[Req]:
    paused = w.paused["identity"]
    return [req(f"/identity/{paused.id}", paused.browser,
                data={"csrf": paused.csrf, "identity": w.values["identity_subject"]})]


@recipe("POST", "/mfa/{signin_id}", PAGE)
def _mfa_post(w: World) -> list[Req]:
    paused = w.paused["mfa"]
    return [req(f"/mfa/{paused.id}", paused.browser, data={
        "csrf": paused.csrf, "method": "enrol", "code": pyotp.TOTP(paused.secret).now()})]


@recipe("POST", "/password/{signin_id}", PAGE)
def _password_post(w: World) -> list[Req]:
    paused, person = w.paused["password"], w.people["mustchange"]
    new = "Changed-" + secrets.token_urlsafe(9)
    return [req(f"/password/{paused.id}", paused.browser, data={
        "csrf": paused.csrf, "current_password": person.password, "new_password": new,
        "new_password_again": new})]


@recipe("GET", "/logout", PAGE, last=True)
def _logout(w: World) -> list[Req]:
    return [req("/logout", w.browsers["leaver"], params={
        "id_token_hint": w.values["leaver_id_token"], "post_logout_redirect_uri": BYE,
        "state": "bye"})]


@recipe("POST", "/logout", PAGE, last=True)
def _logout_post(w: World) -> list[Req]:
    return [req("/logout", w.browsers["confirmer"], data={
        "confirm_id": w.values["confirm_id"], "csrf": w.browser_csrf("confirmer")})]


simple("GET", "/logout/done", PAGE, _fixed("/logout/done"))


# --- QR sign-in: the PC's tab, long poll and redemption; the phone's confirmation -------------


@recipe("GET", "/login/{signin_id}/qr", PAGE)
def _qr_tab(w: World) -> list[Req]:
    pc = w.paused["qr"]
    return [req(f"/login/{pc.id}/qr", pc.browser)]


@recipe("POST", "/login/{signin_id}/qr/new", API)
def _qr_new(w: World) -> list[Req]:
    pc = w.paused["qr"]
    return [req(f"/login/{pc.id}/qr/new", pc.browser, data={"csrf": pc.csrf})]


@recipe("GET", "/qr/{code}/wait", API)
def _qr_wait(w: World) -> list[Req]:
    # the code was scanned: a poll that saw it waiting answers at once (no 25 s hold)
    return [req(f"/qr/{w.values['qr_code']}/wait", w.paused["qr"].browser,
                params={"seen": "waiting"})]


@recipe("POST", "/qr/{code}/redeem", PAGE)
def _qr_redeem(w: World) -> list[Req]:
    pc = w.paused["qr"]  # not confirmed yet: back to the tab
    return [req(f"/qr/{w.values['qr_code']}/redeem", pc.browser, data={"csrf": pc.csrf})]


simple("GET", "/qr/{code}", PAGE, lambda w: f"/qr/{w.values['qr_code']}", "qr-phone")
simple("GET", "/qr/{code}/back/{signin_id}", PAGE,
       lambda w: f"/qr/{w.values['qr_code']}/back/none", "qr-phone")


@recipe("POST", "/qr/{code}", PAGE, last=True)
def _qr_answer(w: World) -> list[Req]:
    return [req(f"/qr/{w.values['qr_code']}", w.browsers["qr-phone"],
                data={"csrf": w.values["qr_phone_csrf"], "action": "refuse"})]
simple("GET", "/static/{name}", PAGE, _fixed("/static/site.css"))

# --- the account pages (the student's browser) -------------------------------------------------

for _path in ("/account", "/account/password", "/account/mfa/totp", "/account/mfa/passkey"):
    simple("GET", _path, PAGE, _fixed(_path), "student")
simple("GET", "/account/callback", PAGE, lambda w: w.callbacks["account"], "account-cb")
simple("GET", "/account/forgot", PAGE, _fixed("/account/forgot"))


def _account_form(path: str, *, last: bool = False, ok: tuple[int, ...] = (),
                  **fields: Callable[[World], str]) -> None:
    @recipe("POST", path, PAGE, last=last)
    def make(w: World) -> list[Req]:
        data = {"csrf": w.browser_csrf("student")} | {k: f(w) for k, f in fields.items()}
        return [req(path, w.browsers["student"], data=data, ok=ok)]


_NEW_PASSWORD = "Account-new-pass-1"
_account_form("/account/password", last=True, old=lambda w: w.people["student"].password,
              new=lambda _w: _NEW_PASSWORD, confirm=lambda _w: _NEW_PASSWORD)
_account_form("/account/sessions/end", last=True, sid=lambda w: w.values["spare_sid"])
_account_form("/account/consents/revoke", last=True,
              client_id=lambda w: w.clients["confidential"].client_id)
_account_form("/account/mfa/totp",
              code=lambda w: pyotp.TOTP(w.values["account_totp_secret"]).now())
_account_form("/account/mfa/totp/remove", last=True)
_account_form("/account/identities", client_id=lambda w: w.clients["first_party"].client_id,
              identity=lambda w: w.values["identity_subject"])
# no authenticator to sign a real attestation: refused (400) after the challenge is looked up
_account_form("/account/mfa/passkey", ok=(400,), credential=lambda _w: '{"id": "x"}',
              label=lambda _w: "outage key")
_account_form("/account/mfa/passkey/remove", last=True, id=lambda _w: "1")
_account_form("/account/mfa/recovery", last=True)
# the step-up before those changes (account_step_up.py): the explanation, parking the sign-in
# that proves the factor or password again, and where it resumes (an id nobody parked: the
# handler still reads the session and takes from the Store)
simple("GET", "/account/confirm", PAGE, _fixed("/account/confirm?next=/account"), "student")
_account_form("/account/confirm", next=lambda _w: "/account")
simple("GET", "/account/confirm/{signin_id}", PAGE,
       _fixed("/account/confirm/no-such-sign-in-" + "x" * 20), "student")


@recipe("POST", "/account/forgot", PAGE)
def _forgot(w: World) -> list[Req]:
    return [req("/account/forgot", w.browsers["forgetful"], data={
        "csrf": w.browser_csrf("forgetful"), "who": w.people["target"].username})]


simple("GET", "/account/reset/{token}", PAGE, lambda w: f"/account/reset/{w.values['reset_token']}",
       "resetter")


@recipe("POST", "/account/reset/{token}", PAGE)
def _reset(w: World) -> list[Req]:
    new = "Reset-" + secrets.token_urlsafe(9)
    return [req(f"/account/reset/{w.values['reset_token']}", w.browsers["resetter"], data={
        "csrf": w.browser_csrf("resetter"), "new": new, "confirm": new})]


# --- activation (a browser that proved the newcomer's facts, world.py) ---------------------------

simple("GET", "/activate", PAGE, _fixed("/activate"), "activator")


@recipe("POST", "/activate", PAGE)
def _activate(w: World) -> list[Req]:
    newcomer = w.people["newcomer"].username
    return [req("/activate", w.browsers["activator"], data={
        "csrf": w.browser_csrf("activator"), "username": newcomer, "fact_0": newcomer,
        "fact_1": f"{newcomer}@example.edu"})]


@recipe("POST", "/activate/password", PAGE, last=True)
def _activate_password(w: World) -> list[Req]:
    new = "Activated-" + secrets.token_urlsafe(9)
    return [req("/activate/password", w.browsers["activator"], data={
        "csrf": w.browser_csrf("activator"), "ticket": w.values["activation_ticket"],
        "new": new, "confirm": new, "email": "newcomer@example.cn"})]


# --- the app portal at / (the student's browser) ---------------------------------------------

simple("GET", "/", PAGE, _fixed("/"), "student")
simple("GET", "/apps", PAGE, _fixed("/apps?q=a"), "student")
simple("GET", "/apps/login", PAGE, _fixed("/apps/login?next=%2Fapps"))
simple("GET", "/apps/callback", PAGE, lambda w: w.callbacks["apps"], "apps-cb")
simple("GET", "/favicon.ico", PAGE, _fixed("/favicon.ico"))


# --- the developer portal (the developer's browser) --------------------------------------------


def _app(w: World, suffix: str = "") -> str:
    return f"/portal/apps/{w.values['portal_app']}{suffix}"


simple("GET", "/portal", PAGE, _fixed("/portal"), "developer")
simple("GET", "/portal/apps/new", PAGE, _fixed("/portal/apps/new"), "developer")
simple("GET", "/portal/apps/{client_id}", PAGE, _app, "developer")
simple("GET", "/portal/apps/{client_id}/edit", PAGE, lambda w: _app(w, "/edit"), "developer")
simple("GET", "/portal/portal.css", PAGE, _fixed("/portal/portal.css"))
simple("GET", "/portal/login", PAGE, _fixed("/portal/login?next=%2Fportal"))
simple("GET", "/portal/callback", PAGE, lambda w: w.callbacks["portal"], "portal-cb")


def _app_form(w: World) -> dict[str, Any]:
    return {"csrf": w.browser_csrf("developer"), "name": "Outage app " + secrets.token_hex(3),
            "app_type": "confidential", "redirect_uris": REDIRECT,
            "post_logout_redirect_uris": BYE, "scope": ["openid", "profile", "email"]}


@recipe("POST", "/portal/apps/new", PAGE)
def _portal_new(w: World) -> list[Req]:
    return [req("/portal/apps/new", w.browsers["developer"], data=_app_form(w))]


@recipe("POST", "/portal/apps/{client_id}/edit", PAGE)
def _portal_edit(w: World) -> list[Req]:
    return [req(_app(w, "/edit"), w.browsers["developer"], data=_app_form(w))]


@recipe("POST", "/portal/apps/{client_id}/secret", PAGE)
def _portal_secret(w: World) -> list[Req]:
    return [req(_app(w, "/secret"), w.browsers["developer"],
                data={"csrf": w.browser_csrf("developer")})]


@recipe("POST", "/portal/apps/{client_id}/preview", PAGE)
def _portal_preview(w: World) -> list[Req]:
    # the developer previews themself (anyone else is refused before the claims are read)
    return [req(_app(w, "/preview"), w.browsers["developer"], data={
        "csrf": w.browser_csrf("developer"), "username": "developer"})]


def _cas(w: World, suffix: str = "") -> str:
    return f"/portal/cas/{w.values['portal_cas']}{suffix}"


simple("GET", "/portal/cas/new", PAGE, _fixed("/portal/cas/new"), "developer")
simple("GET", "/portal/cas/{client_id}", PAGE, _cas, "developer")
simple("GET", "/portal/cas/{client_id}/edit", PAGE, lambda w: _cas(w, "/edit"), "developer")


def _cas_form(w: World) -> dict[str, Any]:
    return {"csrf": w.browser_csrf("developer"), "name": "Outage CAS " + secrets.token_hex(3),
            "services": f"https://cas-{secrets.token_hex(4)}.example.edu/login",
            "attribute": ["uid"], "reason": "the outage drill"}


@recipe("POST", "/portal/cas/new", PAGE)
def _portal_cas_new(w: World) -> list[Req]:
    return [req("/portal/cas/new", w.browsers["developer"], data=_cas_form(w))]


@recipe("POST", "/portal/cas/{client_id}/edit", PAGE)
def _portal_cas_edit(w: World) -> list[Req]:
    return [req(_cas(w, "/edit"), w.browsers["developer"], data=_cas_form(w))]


@recipe("POST", "/portal/apps/{client_id}/access", PAGE)
def _portal_access(w: World) -> list[Req]:
    # a first rule on an open app narrows it: applied at once (no admin in the way)
    return [req(_app(w, "/access"), w.browsers["developer"], data={
        "csrf": w.browser_csrf("developer"), "allow_groups": "staff"})]


# --- the admin console (the admin's browser) ---------------------------------------------------

for _path in ("/admin", "/admin/audit", "/admin/audit.csv", "/admin/clients", "/admin/groups",
              "/admin/import", "/admin/people", "/admin/people/new", "/admin/releases.csv"):
    simple("GET", _path, PAGE, _fixed(_path), "admin")
simple("GET", "/admin/clients/{client_id}", PAGE,
       lambda w: f"/admin/clients/{w.clients['confidential'].client_id}", "admin")
simple("GET", "/admin/import/{job_id}", PAGE,
       lambda w: f"/admin/import/{w.values['console_job']}", "admin")
simple("GET", "/admin/import/{job_id}/result.csv", PAGE,
       lambda w: f"/admin/import/{w.values['console_job']}/result.csv", "admin")
# by a person: the directory is asked for their subject, then the database for the rows
simple("GET", "/admin/releases", PAGE,
       lambda w: f"/admin/releases?person={w.people['clerk'].username}", "admin")
simple("GET", "/admin/people/{username}", PAGE,
       lambda w: f"/admin/people/{w.people['clerk'].username}", "admin")
simple("GET", "/admin/static/admin.css", PAGE, _fixed("/admin/static/admin.css"))
simple("GET", "/admin/static/{name}", PAGE, _fixed("/admin/static/console-charts.js"))
simple("GET", "/admin/login", PAGE, _fixed("/admin/login?next=%2Fadmin"))
simple("GET", "/admin/callback", PAGE, lambda w: w.callbacks["admin"], "admin-cb")


def _console(w: World, path: str, ok: tuple[int, ...] = (), **data: Any) -> Req:
    return req(path, w.browsers["admin"], data={"csrf": w.browser_csrf("admin"), **data}, ok=ok)


@recipe("POST", "/admin/clients/{client_id}/{action}", PAGE)
def _console_client(w: World) -> list[Req]:
    victim = w.clients["console_victim"].client_id
    return [_console(w, f"/admin/clients/{victim}/rotate"),
            _console(w, f"/admin/clients/{victim}/disable")]


@recipe("POST", "/admin/groups/join", PAGE)
def _console_join(w: World) -> list[Req]:
    return [_console(w, "/admin/groups/join", group="faculty",
                     username=w.people["clerk"].username)]


@recipe("POST", "/admin/groups/{group}/remove", PAGE)
def _console_leave(w: World) -> list[Req]:
    return [_console(w, "/admin/groups/students/remove", username=w.people["clerk"].username)]


def intake_csv() -> bytes:
    username = "onew" + secrets.token_hex(4)
    return f"username,name,email\n{username},New {username},{username}@example.edu\n".encode()


@recipe("POST", "/admin/import", PAGE)
def _console_import(w: World) -> list[Req]:
    return [req("/admin/import", w.browsers["admin"], data={"csrf": w.browser_csrf("admin")},
                files={"file": ("intake.csv", intake_csv(), "text/csv")})]


@recipe("POST", "/admin/people/new", PAGE)
def _console_new_person(w: World) -> list[Req]:
    username = "onew" + secrets.token_hex(4)
    return [_console(w, "/admin/people/new", username=username, name=f"New {username}",
                     family_name="New", email=f"{username}@example.edu",
                     password="Console-pass-" + secrets.token_hex(4))]


@recipe("POST", "/admin/people/{username}/{action}", PAGE)
def _console_person(w: World) -> list[Req]:
    clerk = w.people["clerk"].username
    return [_console(w, f"/admin/people/{clerk}/reset-password", mode="link"),
            _console(w, f"/admin/people/{clerk}/disable")]


@recipe("POST", "/admin/people/{username}/sessions/{action}", PAGE, last=True)
def _console_sessions(w: World) -> list[Req]:
    holder = w.people["holder"].username
    return [_console(w, f"/admin/people/{holder}/sessions/revoke", sid=w.values["held_sid"])]


# --- the admin API (an admin's bearer token) ---------------------------------------------------


def _api(w: World, path: str, ok: tuple[int, ...] = (), **kwargs: Any) -> Req:
    headers = bearer(w.admin_token) | kwargs.pop("headers", {})
    return req("/admin/api" + path, headers=headers, ok=ok, **kwargs)


def api_get(template: str, path: Callable[[World], str]) -> None:
    recipe("GET", "/admin/api" + template, API)(lambda w: [_api(w, path(w))])


for _path in ("/audit", "/audit.csv", "/stats/sign-ins", "/stats/dashboard", "/clients", "/groups",
              "/people?q=o", "/releases.csv"):
    api_get(_path.split("?")[0], _fixed(_path))
api_get("/clients/{client_id}", lambda w: f"/clients/{w.clients['confidential'].client_id}")
api_get("/imports/{job_id}", lambda w: f"/imports/{w.values['api_job']}")
api_get("/imports/{job_id}/result", lambda w: f"/imports/{w.values['api_job']}/result")
api_get("/people/{username}", lambda w: f"/people/{w.people['target'].username}")
api_get("/releases", lambda w: f"/releases?person={w.people['target'].username}")
api_get("/people/{username}/sessions", lambda w: f"/people/{w.people['target'].username}/sessions")


def _api_client(method: str, action: str, *, last: bool = False, victim: str = "api_victim",
                ok: tuple[int, ...] = (), **kwargs: Any) -> None:
    template = "/admin/api/clients/{client_id}" + (f"/{action}" if action else "")

    @recipe(method, template, API, last=last)
    def make(w: World) -> list[Req]:
        client_id = w.clients[victim].client_id
        return [_api(w, f"/clients/{client_id}" + (f"/{action}" if action else ""), ok=ok,
                     **kwargs)]


_api_client("PATCH", "", json={"name": "Renamed in an outage"})
_api_client("POST", "approve", victim="pending")
_api_client("POST", "disable")
_api_client("POST", "enable")
_api_client("POST", "rotate-secret")
_api_client("DELETE", "", last=True, victim="api_deleted")


@recipe("POST", "/admin/api/people", API)
def _api_new_person(w: World) -> list[Req]:
    username = "onew" + secrets.token_hex(4)
    return [_api(w, "/people", json={"username": username, "name": f"New {username}",
                                     "family_name": "New", "email": f"{username}@example.edu"})]


@recipe("PATCH", "/admin/api/people/{username}", API)
def _api_edit_person(w: World) -> list[Req]:
    return [_api(w, f"/people/{w.people['target'].username}", json={"phone": "+86 10 6275 0000"})]


def _api_person_action(action: str, **kwargs: Any) -> None:
    @recipe("POST", "/admin/api/people/{username}/" + action, API)
    def make(w: World) -> list[Req]:
        return [_api(w, f"/people/{w.people['target'].username}/{action}", **kwargs)]


for _action in ("disable", "enable", "unlock", "force-password-change"):
    _api_person_action(_action)
_api_person_action("reset-password", json={"mode": "link"})


@recipe("PUT", "/admin/api/people/{username}/to-activate", API)
def _api_mark(w: World) -> list[Req]:
    return [_api(w, f"/people/{w.people['target'].username}/to-activate")]


@recipe("DELETE", "/admin/api/people/{username}/to-activate", API)
def _api_unmark(w: World) -> list[Req]:
    return [_api(w, f"/people/{w.people['target'].username}/to-activate")]


@recipe("PUT", "/admin/api/groups/{group}/members/{username}", API)
def _api_join(w: World) -> list[Req]:
    return [_api(w, f"/groups/faculty/members/{w.people['target'].username}")]


@recipe("DELETE", "/admin/api/groups/{group}/members/{username}", API)
def _api_leave(w: World) -> list[Req]:
    return [_api(w, f"/groups/students/members/{w.people['target'].username}")]


@recipe("DELETE", "/admin/api/people/{username}/sessions/{sid}", API, last=True)
def _api_end_session(w: World) -> list[Req]:
    holder = w.people["holder"].username
    return [_api(w, f"/people/{holder}/sessions/{w.values['held-too_sid']}")]


@recipe("DELETE", "/admin/api/people/{username}/sessions", API, last=True)
def _api_end_sessions(w: World) -> list[Req]:
    return [_api(w, f"/people/{w.people['target'].username}/sessions")]


@recipe("POST", "/admin/api/imports", API)
def _api_import(w: World) -> list[Req]:
    return [_api(w, "/imports", content=intake_csv(), headers={"Content-Type": "text/csv"})]


# --- dynamic client registration (RFC 7591 / 7592) ---------------------------------------------


@recipe("POST", "/register", OAUTH)
def _register(w: World) -> list[Req]:
    return [req("/register", json=app_metadata(), headers=bearer(w.values["initial_token"]))]


def _registered(w: World) -> str:
    return f"/register/{w.values['registered_client']}"


@recipe("GET", "/register/{client_id}", OAUTH)
def _register_read(w: World) -> list[Req]:
    return [req(_registered(w), headers=bearer(w.values["registration_token"]))]


@recipe("PUT", "/register/{client_id}", OAUTH)
def _register_update(w: World) -> list[Req]:
    metadata = app_metadata(client_name="Updated in an outage")
    metadata["client_id"] = w.values["registered_client"]
    return [req(_registered(w), json=metadata, headers=bearer(w.values["registration_token"]))]


@recipe("DELETE", "/register/{client_id}", OAUTH, last=True)
def _register_delete(w: World) -> list[Req]:
    return [req(_registered(w), headers=bearer(w.values["registration_token"]))]


# --- operations and documentation --------------------------------------------------------------

simple("GET", "/healthz", API, _fixed("/healthz"))
simple("GET", "/readyz", PROBE, _fixed("/readyz"))
simple("GET", "/metrics", API, _fixed("/metrics"))
for _method in ("GET", "HEAD"):
    simple(_method, "/openapi.json", API, _fixed("/openapi.json"))
    for _path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        simple(_method, _path, PAGE, _fixed(_path))


# --- CAS ----------------------------------------------------------------------------------------

@recipe("GET", "/cas/login", PAGE)
def _cas_login(w: World) -> list[Req]:
    service = w.values["cas_service"]
    # signed in: straight to a ticket; a stranger: a new sign-in and the login page
    return [req("/cas/login", w.browsers["student"], params={"service": service}),
            req("/cas/login", params={"service": service, "renew": "true"})]


@recipe("POST", "/cas/login", PAGE)
def _cas_login_post(w: World) -> list[Req]:
    return [req("/cas/login", w.browsers["student"],
                data={"service": w.values["cas_service"], "method": "POST"})]


@recipe("GET", "/cas/login/resume/{signin_id}", PAGE)
def _cas_resume(w: World) -> list[Req]:
    paused = w.paused["cas"]
    return [req(f"/cas/login/resume/{paused.id}", paused.browser)]


@recipe("GET", "/cas/logout", PAGE, last=True)
def _cas_logout(w: World) -> list[Req]:
    return [req("/cas/logout", w.browsers["spare"], params={"service": w.values["cas_service"]})]


for _path in ("/cas/validate", "/cas/serviceValidate", "/cas/proxyValidate",
              "/cas/p3/serviceValidate", "/cas/p3/proxyValidate"):
    recipe("GET", _path, CAS)(
        lambda w, path=_path: [req(path, params={
            "service": w.values["cas_service"], "ticket": "ST-" + secrets.token_hex(20),
            **({"format": "JSON"} if path.endswith("proxyValidate") else {})})])


@recipe("GET", "/cas/proxy", CAS)
def _cas_proxy(w: World) -> list[Req]:
    return [req("/cas/proxy", params={"pgt": "PGT-" + secrets.token_hex(20),
                                      "targetService": w.values["cas_service"]})]


# --- upstream accounts (this world configures no upstream provider: each answers "no such
# provider" or "nothing to remove" once it has read what it reads) -----------------------------


@recipe("GET", "/upstream/{name}/start/{signin_id}", PAGE)
def _upstream_start(w: World) -> list[Req]:
    paused = w.paused["login"]
    return [req(f"/upstream/nope/start/{paused.id}", paused.browser, ok=(404,))]


@recipe("GET", "/upstream/{name}/callback", PAGE)
def _upstream_callback(w: World) -> list[Req]:
    return [req("/upstream/nope/callback", w.browsers["student"], ok=(400,),
                params={"state": "s" * 43, "code": "c"})]


@recipe("POST", "/upstream/{name}/mini-program/code", OAUTH)
def _mini_program_code(w: World) -> list[Req]:
    return [req("/upstream/nope/mini-program/code", ok=(404,), json={"js_code": "c"})]


_account_form("/account/bindings/remove", binding=lambda _w: "999999")


@recipe("POST", "/admin/people/{username}/bindings/remove", PAGE)
def _console_unbind(w: World) -> list[Req]:
    return [_console(w, f"/admin/people/{w.people['clerk'].username}/bindings/remove",
                     ok=(404,), binding="999999")]


api_get("/people/{username}/bindings", lambda w: f"/people/{w.people['target'].username}/bindings")


@recipe("DELETE", "/admin/api/people/{username}/bindings/{binding_id}", API)
def _api_unbind(w: World) -> list[Req]:
    return [_api(w, f"/people/{w.people['target'].username}/bindings/999999", ok=(404,))]


@recipe("POST", "/admin/api/upstream-bindings/{provider}", API)
def _api_bind_bulk(w: World) -> list[Req]:
    return [_api(w, "/upstream-bindings/nope", ok=(404,), content=b"number,userid\n",
                 headers={"Content-Type": "text/csv"})]
