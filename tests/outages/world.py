"""What must exist before a backend is cut, so that a request really reaches that backend: signed-in
browsers (admin, developer, student), clients and their tokens, paused sign-ins at every page of
the login, an import job, a reset link, a dynamically registered client...

Built fresh for each outage (a request the outage does not stop may change things: a logout, a
disabled client), through the real pages and APIs, with the shared test helpers. People are new
each time too, in the outage suite's own slapd, so nothing here changes the demo people.
"""

from __future__ import annotations

import asyncio
import html
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from idp.db.activation import ActivationMarks
from idp.protocols.cas.registry import create_service
from idp.protocols.oidc.registration_store import issue_initial_access_token
from idp.sso.identities import choice_extra
from tests.admin.conftest_registration import app_metadata, csrf_of, portal_login
from tests.admin.console_support import console_browser
from tests.admin.support import PASSWORDS, mint_admin_backend
from tests.mfa.browser import attribute
from tests.mfa.helpers import mfa_client
from tests.mfa.people import Someone
from tests.oauth.flow import (
    REDIRECT,
    Browser,
    RegisteredClient,
    exchange,
    form_field,
    pkce_pair,
    query_of,
    register,
)
from tests.security.support import add_people, person_ldif, policy
from tests.support.server import LiveIdp
from tests.support.slapd import SUFFIX

BYE = "https://rp.example.edu/bye"  # a registered post-logout redirect URI
TOKEN_SCOPE = "openid profile email offline_access"
GROUPS = f"ou=groups,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"


@dataclass
class Paused:
    """A sign-in paused at one of the interaction pages, in the browser that started it."""

    browser: Browser
    id: str
    csrf: str = ""
    secret: str = ""  # the enrolment page's TOTP secret (second-factor page)


@dataclass
class World:
    live: LiveIdp
    people: dict[str, Someone]  # by role (_new_people): new ones each time
    clients: dict[str, RegisteredClient]  # confidential, first_party, public, consent, mfa, victims
    browsers: dict[str, Browser]  # admin, developer, student, spare, leaver, confirmer, ...
    admin_token: str
    tokens: dict[str, Any]  # the student's tokens from the confidential client
    codes: dict[str, str]  # unredeemed authorization codes (and the public one's verifier)
    paused: dict[str, Paused]  # login, consent, resume, password, notice, mfa
    callbacks: dict[str, str]  # area -> a pending /{area}/callback?code&state, in browsers[area+"-cb"]
    values: dict[str, str] = field(default_factory=dict)  # ids: portal app, jobs, sids, tokens...

    def browser_csrf(self, name: str) -> str:
        """The CSRF token a browser's forms carry (its idp_csrf cookie, repeated in the forms)."""
        jar = self.browsers[name].http.cookies
        for cookie in jar.jar:
            if cookie.name.endswith("idp_csrf"):
                return cookie.value or ""
        raise AssertionError(f"the {name} browser has no CSRF cookie: open one of its pages first")

    async def close(self) -> None:
        https = {id(b.http): b.http for b in [*self.browsers.values(),
                                              *(p.browser for p in self.paused.values())]}
        for http in https.values():
            await http.aclose()


# --- steps ------------------------------------------------------------------------------------


async def _new_people(live: LiveIdp) -> dict[str, Someone]:
    """Fresh people in the suite's slapd: a student; the admin API's target and the admin
    console's (apart, so that their requests never race each other); one whose sessions an
    admin ends one by one; one who resets the password with a link; one who must change it
    (pwdReset); one warned that it expires soon; one who will meet a second factor."""
    tag = secrets.token_hex(3)
    roles = {"student": "", "target": "", "clerk": "", "holder": "", "resetting": "",
             "mustchange": "pwdReset: TRUE", "warned": policy("warned"), "mfa": "",
             "newcomer": ""}
    people = {role: Someone(f"o{role[:4]}{tag}", f"Outage-{role}-{tag}-1", f"o{role}{tag}@example.edu")
              for role in roles}
    slapd = live.slapd
    ldif = [person_ldif(p.username, p.password, *([roles[r]] if roles[r] else []))
            for r, p in people.items()]
    members = "".join(f"member: uid={people[r].username},{PEOPLE}\n"
                      for r in ("student", "target", "clerk"))
    # ldapadd and ldapmodify are subprocesses: off the loop that serves the IdP
    await asyncio.to_thread(add_people, slapd, *ldif)
    await asyncio.to_thread(slapd.ldapmodify, f"dn: cn=students,{GROUPS}\nchangetype: modify\n"
                                              f"add: member\n{members}")
    return people


async def code_flow(browser: Browser, client: RegisteredClient, person: Someone, *,
                    scope: str = "openid profile", **extra: str) -> str:
    """A code flow through the real pages, to the redirect; the (unredeemed) code."""
    state = secrets.token_urlsafe(8)
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
              "scope": scope, "state": state, **extra}
    response = await browser.authorize(params, username=person.username, password=person.password)
    assert response.status_code == 302, response.text[:1000]
    result = query_of(response.headers["location"])
    assert result.get("state") == state and "code" in result, result
    return result["code"]


async def _paused(live: LiveIdp, client: RegisteredClient, person: Someone | None,
                  expect: str) -> Paused:
    """A new browser's sign-in, stopped where the IdP sends it to `expect` (/login, /password,
    /mfa, ...); the page itself opened once, so its form's CSRF token is remembered."""
    browser = Browser.open(live)
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
              "scope": "openid profile", "state": secrets.token_urlsafe(8)}
    response = await browser.http.get("/authorize", params=params)
    location = response.headers.get("location", "")
    assert response.status_code in (302, 303) and location.startswith("/login/"), response.text
    if person is not None:
        page = await browser.http.get(location)
        assert page.status_code == 200, page.text[:1000]
        response = await browser.http.post(location, data={
            "csrf": form_field(page.text, "csrf"), "username": person.username,
            "password": person.password})
        location = response.headers.get("location", "")
    assert response.status_code == 303 and location.startswith(expect), \
        f"{expect}: {response.status_code} {location} {response.text[:500]}"
    interaction_id = location.removeprefix(expect).split("/")[0].split("?")[0]
    paused = Paused(browser, interaction_id)
    if expect != "/authorize/resume/":
        page = await browser.http.get(location)
        assert page.status_code == 200, page.text[:1000]
        if 'name="csrf"' in page.text:
            paused.csrf = form_field(page.text, "csrf")
        if "data-secret" in page.text:
            paused.secret = attribute(page.text, "data-secret")
    return paused


async def _area_callback(live: LiveIdp, start: str, person: Someone) -> tuple[Browser, str]:
    """A sign-in to an area (/account, /portal, /admin) stopped at the area's callback, with its
    state cookie: the path and query to GET."""
    browser = Browser.open(live)
    first = await browser.http.get(start)
    assert first.status_code == 303, first.text[:500]
    arrived = await browser.walk(first, username=person.username, password=person.password)
    assert arrived.status_code == 302, arrived.text[:500]
    callback = arrived.headers["location"]
    assert callback.startswith(f"{live.settings.issuer}{start}/callback?"), callback
    parts = urlsplit(callback)
    return browser, f"{parts.path}?{parts.query}"


async def _signed_in(live: LiveIdp, client: RegisteredClient, person: Someone) -> Browser:
    browser = Browser.open(live)
    await code_flow(browser, client, person)
    return browser


async def _portal_app(developer: Browser) -> str:
    """The developer registers an app through the portal's form; its client id."""
    form = await developer.http.get("/portal/apps/new")
    assert form.status_code == 200, form.text[:1000]
    created = await developer.http.post("/portal/apps/new", data={
        "csrf": csrf_of(form.text), "name": "Outage drill " + secrets.token_hex(3),
        "app_type": "confidential", "redirect_uris": REDIRECT, "post_logout_redirect_uris": BYE,
        "scope": ["openid", "profile", "email"]})
    assert created.status_code == 201, created.text[:1000]
    match = re.search(r'id="client_id">([^<]+)<', created.text)
    assert match, created.text[:2000]
    return html.unescape(match.group(1)).strip()


async def _import_job(live: LiveIdp, token: str) -> str:
    """An import of one new person through the admin API, waited for; the job id."""
    username = "oimp" + secrets.token_hex(4)
    csv = f"username,name,email\n{username},Imported {username},{username}@example.edu\n"
    async with live.client() as http:
        started = await http.post("/admin/api/imports", content=csv.encode(),
                                  headers={"Authorization": f"Bearer {token}",
                                           "Content-Type": "text/csv"})
        assert started.status_code == 202, started.text
        job = started.json()["id"]
        for _ in range(100):
            state = (await http.get(f"/admin/api/imports/{job}",
                                    headers={"Authorization": f"Bearer {token}"})).json()
            if state["state"] != "running":
                break
            await asyncio.sleep(0.05)
    assert state["state"] == "done", state
    return job


async def _registration(live: LiveIdp) -> dict[str, str]:
    """An RFC 7591 registration (its RFC 7592 access token) and an unused initial token."""
    first, _ = await issue_initial_access_token(live.services.db, ttl=timedelta(hours=1),
                                                issued_by="outage tests")
    spare, _ = await issue_initial_access_token(live.services.db, ttl=timedelta(hours=1),
                                                issued_by="outage tests")
    async with live.client() as http:
        response = await http.post("/register", json=app_metadata(),
                                   headers={"Authorization": f"Bearer {first}"})
    assert response.status_code == 201, response.text
    info = response.json()
    return {"registered_client": info["client_id"],
            "registration_token": info["registration_access_token"], "initial_token": spare}


# --- the whole world ---------------------------------------------------------------------------


async def _activation(live: LiveIdp, people: dict[str, Someone]) -> tuple[Browser, str]:
    """The newcomer marked to activate, and a browser that proved their facts (sn and mail:
    IDP_ACTIVATION_FACTS of the outage IdP; person_ldif makes them uid and uid@example.edu):
    the ticket of its password step."""
    newcomer = people["newcomer"]
    found = await live.services.directory.find(newcomer.username)
    assert found is not None
    await ActivationMarks(live.services.db).mark(found.subject, found.username, by="outages")
    browser = Browser.open(live)
    page = await browser.http.get("/activate")
    assert page.status_code == 200, page.text[:1000]
    step = await browser.http.post("/activate", data={
        "csrf": form_field(page.text, "csrf"), "username": newcomer.username,
        "fact_0": newcomer.username, "fact_1": f"{newcomer.username}@example.edu"})
    assert step.status_code == 200, step.text[:1000]
    return browser, form_field(step.text, "ticket")


async def build_world(live: LiveIdp) -> World:
    people = await _new_people(live)
    student, target = people["student"], people["target"]

    clients = {
        "confidential": await register(live, post_logout_redirect_uris=[BYE]),
        "first_party": await register(live, skip_consent=True, post_logout_redirect_uris=[BYE]),
        "public": await register(live, public=True, skip_consent=True),
        "consent": await register(live),  # nobody consented yet: /authorize asks
        "mfa": await mfa_client(live),
        "api_victim": await register(live), "api_deleted": await register(live),
        "console_victim": await register(live),
        "pending": await register(live, status="pending"),
    }
    admin_backend = await mint_admin_backend("ldap", live)
    admin_token = await admin_backend.token()
    admin, landing = await console_browser(admin_backend)
    assert landing.status_code == 200, landing.text[:1000]
    developer = await portal_login(live, "developer", PASSWORDS["developer"])

    browsers: dict[str, Browser] = {"admin": admin, "developer": developer}
    values: dict[str, str] = {"portal_app": await _portal_app(developer)}
    page = await developer.http.get(f"/portal/apps/{values['portal_app']}")
    assert page.status_code == 200, page.text[:1000]

    # the student: tokens, codes not yet redeemed, the account page, more sessions
    browsers["student"] = browser = Browser.open(live)
    first = await code_flow(browser, clients["confidential"], student, scope=TOKEN_SCOPE)
    tokens = await exchange(live, clients["confidential"], first)
    assert tokens.status_code == 200, tokens.text
    verifier, challenge = pkce_pair()
    codes = {
        "confidential": await code_flow(browser, clients["confidential"], student, scope=TOKEN_SCOPE),
        "public": await code_flow(browser, clients["public"], student,
                                  code_challenge=challenge, code_challenge_method="S256"),
        "public_verifier": verifier,
    }
    page = await browser.http.get("/account")
    assert page.status_code == 200, page.text[:1000]
    enrol = await browser.http.get("/account/mfa/totp")
    assert enrol.status_code == 200, enrol.text[:1000]
    values["account_totp_secret"] = attribute(enrol.text, "data-secret")
    for name in ("spare", "confirmer"):
        browsers[name] = await _signed_in(live, clients["first_party"], student)
    browsers["leaver"] = leaver = Browser.open(live)
    leaving = await exchange(live, clients["confidential"], await code_flow(
        leaver, clients["confidential"], student))
    assert leaving.status_code == 200, leaving.text
    values["leaver_id_token"] = leaving.json()["id_token"]
    confirm = await browsers["confirmer"].http.get("/logout")
    assert confirm.status_code == 200, confirm.text[:1000]
    values["confirm_id"] = form_field(confirm.text, "confirm_id")
    cookie = live.settings.session.cookie_name
    values["spare_sid"] = browsers["spare"].http.cookies[cookie]

    # sign-ins paused at each page of the login
    paused = {
        "login": await _paused(live, clients["first_party"], None, "/login/"),
        "resume": await _paused(live, clients["first_party"], student, "/authorize/resume/"),
        "password": await _paused(live, clients["first_party"], people["mustchange"],
                                  "/password/"),
        "notice": await _paused(live, clients["first_party"], people["warned"], "/password/"),
        "mfa": await _paused(live, clients["mfa"], people["mfa"], "/mfa/"),
    }
    asked = await browser.http.get("/authorize", params={
        "response_type": "code", "client_id": clients["consent"].client_id,
        "redirect_uri": REDIRECT, "scope": "openid profile", "state": "s"})
    location = asked.headers.get("location", "")
    assert location.startswith("/consent/"), (asked.status_code, location, asked.text[:500])
    consent_page = await browser.http.get(location)
    assert consent_page.status_code == 200, consent_page.text[:1000]
    # asked in the student's own browser: the consent belongs to that session
    paused["consent"] = Paused(browser, location.split("/")[2],
                               form_field(consent_page.text, "csrf"))
    # a choice of identity, parked as a protocol parks one for the student's session (the
    # world's people have one entry each: the one candidate is what the page needs)
    student_entry = await live.services.directory.find(student.username)
    assert student_entry is not None
    values["identity_subject"] = student_entry.subject
    choice = await live.services.signins.start(
        protocol="oidc", resume="/authorize/resume/{id}", page="identity", request={},
        app_id=clients["first_party"].client_id, app_name="first party", scopes=["openid"],
        sid=browser.http.cookies[cookie], extra=choice_extra([student_entry]))
    choice_page = await browser.http.get(f"/identity/{choice.id}")
    assert choice_page.status_code == 200, choice_page.text[:1000]
    paused["identity"] = Paused(browser, choice.id, form_field(choice_page.text, "csrf"))

    # CAS: a registered service, and a sign-in to it paused at the login page
    values["cas_service"] = cas_service = "https://cas-app.example.edu/login"
    await create_service(live.services.db, name="CAS app", services=[cas_service])
    cas_browser = Browser.open(live)
    parked = await cas_browser.http.get("/cas/login", params={"service": cas_service})
    assert parked.headers.get("location", "").startswith("/login/"), parked.text[:500]
    paused["cas"] = Paused(cas_browser, parked.headers["location"].split("/")[2])

    callbacks: dict[str, str] = {}
    for area, person in (("account", student),
                         ("portal", Someone("developer", PASSWORDS["developer"], "")),
                         ("admin", Someone("itadmin", PASSWORDS["itadmin"], ""))):
        browsers[f"{area}-cb"], callbacks[area] = await _area_callback(live, f"/{area}", person)

    # what the admin surfaces act on: the target has a session for the API to end
    browsers["target"] = await _signed_in(live, clients["first_party"], target)
    for name in ("held", "held-too"):  # the holder's sessions, each ended by another route
        browsers[name] = await _signed_in(live, clients["first_party"], people["holder"])
        values[f"{name}_sid"] = browsers[name].http.cookies[cookie]
    async with live.client() as http:
        reset = await http.post(f"/admin/api/people/{people['resetting'].username}/reset-password",
                                json={"mode": "link"},
                                headers={"Authorization": f"Bearer {admin_token}"})
    assert reset.status_code == 200, reset.text
    values["reset_token"] = reset.json()["link"].rsplit("/", 1)[1].split("?")[0]
    browsers["resetter"] = resetter = Browser.open(live)
    shown = await resetter.http.get(f"/account/reset/{values['reset_token']}")
    assert shown.status_code == 200, shown.text[:1000]
    browsers["forgetful"] = forgetful = Browser.open(live)
    shown = await forgetful.http.get("/account/forgot")
    assert shown.status_code == 200, shown.text[:1000]
    values["api_job"] = await _import_job(live, admin_token)
    values["console_job"] = await _import_job(live, admin_token)
    values.update(await _registration(live))
    browsers["activator"], values["activation_ticket"] = await _activation(live, people)

    return World(live=live, people=people, clients=clients, browsers=browsers,
                 admin_token=admin_token, tokens=tokens.json(), codes=codes, paused=paused,
                 callbacks=callbacks, values=values)
