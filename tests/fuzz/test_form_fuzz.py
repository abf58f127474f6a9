"""hypothesis over the form endpoints: login, consent, identity choice, logout, change password,
activation, token, introspection, revocation, authorization. Each gets real state to push against (a live
signin, its CSRF token, a session, a registered client) mixed with junk. Zero 500s; a
refused request changes no stored record (clients, consents, refresh tokens)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.checks import BUDGET, basic, check
from tests.fuzz.forms import TEXT, XFF, bodies, send
from tests.fuzz.server import REDIRECT_URI, FuzzServer

SETTINGS = settings(**BUDGET, suppress_health_check=list(HealthCheck))
COOKIE = "idp_session"  # the fuzz server runs with the default session settings


def form_field(html: str, name: str) -> str:
    """A hidden field of the page, or a placeholder when the page has none (an error page)."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    return match.group(1) if match else f"no-{name}"


def _exchange(server: FuzzServer, http: httpx.Client, method: str, path: str,
              body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    before = server.snapshot()
    response = send(http, method, path, body, headers or {})
    check(server, before, f"{method} {path}", response.status_code, response.text)


def _interaction(server: FuzzServer, **fields: Any) -> str:
    values: dict[str, Any] = {
        "protocol": "oidc", "resume": "/authorize/resume/{id}", "page": "login",
        "app_id": server.client_id, "app_name": "Fuzz",
        "scopes": ["openid", "profile"], "request": {
            "response_type": "code", "client_id": server.client_id, "redirect_uri": REDIRECT_URI,
            "scope": "openid profile"}}
    values.update(fields)
    assert server.services is not None
    return server.run(server.services.signins.start(**values)).id


def _session(server: FuzzServer) -> str:
    assert server.services is not None
    services = server.services
    student = server.run(services.directory.find("student"))
    assert student is not None
    return server.run(services.sessions.create(subject=student.subject,
                                               username=student.username)).sid


# --- the signin pages -----------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_login_form(fuzz_server: FuzzServer, client: httpx.Client, data: st.DataObject) -> None:
    signin = _interaction(fuzz_server)
    token = form_field(client.get(f"/login/{signin}").text, "csrf")
    path_id = data.draw(st.sampled_from([signin, signin, "", "x" * 300]) | TEXT)
    body = data.draw(bodies(["csrf", "username", "password", "ui_locales"],
                            token, "student", "student123", "teacher", "en", "zh"))
    _exchange(fuzz_server, client, "POST", f"/login/{quote(path_id, safe='')}", body,
              {"x-forwarded-for": data.draw(XFF)})


@SETTINGS
@given(data=st.data())
def test_consent_form(fuzz_server: FuzzServer, client: httpx.Client, data: st.DataObject) -> None:
    sid = _session(fuzz_server)
    signin = _interaction(fuzz_server, page="consent", sid=sid)
    client.cookies.set(COOKIE, data.draw(st.sampled_from([sid, "", "nonsense"])))
    token = form_field(client.get(f"/consent/{signin}").text, "csrf") if data.draw(
        st.booleans()) else "no-page-seen"
    body = data.draw(bodies(["csrf", "decision", "ui_locales"], token, "allow", "deny"))
    _exchange(fuzz_server, client, "POST", f"/consent/{signin}", body)


@SETTINGS
@given(data=st.data())
def test_identity_form(fuzz_server: FuzzServer, client: httpx.Client,
                       data: st.DataObject) -> None:
    assert fuzz_server.services is not None
    sid = _session(fuzz_server)
    student = fuzz_server.run(fuzz_server.services.directory.find("student"))
    assert student is not None
    signin = _interaction(fuzz_server, page="identity", sid=sid, extra={"identities": [
        {"subject": student.subject, "username": "student", "name": "张三", "affiliations": [],
         "number": "", "department": ""}]})
    client.cookies.set(COOKIE, data.draw(st.sampled_from([sid, "", "nonsense"])))
    token = form_field(client.get(f"/identity/{signin}").text, "csrf") if data.draw(
        st.booleans()) else "no-page-seen"
    path_id = data.draw(st.sampled_from([signin, signin, "", "x" * 300]) | TEXT)
    body = data.draw(bodies(["csrf", "identity", "ui_locales"], token, student.subject,
                            "someone-else", "en"))
    _exchange(fuzz_server, client, "POST", f"/identity/{quote(path_id, safe='')}", body)


@SETTINGS
@given(data=st.data())
def test_logout(fuzz_server: FuzzServer, client: httpx.Client, data: st.DataObject) -> None:
    assert fuzz_server.services is not None
    sid = _session(fuzz_server)
    client.cookies.set(COOKIE, sid)
    hint = fuzz_server.services.keys.sign({
        "iss": fuzz_server.services.settings.issuer, "sub": "someone", "aud": fuzz_server.client_id,
        "sid": sid, "iat": 1, "exp": 2})
    asked = client.get("/logout")
    real = [form_field(asked.text, "confirm_id"), form_field(asked.text, "csrf"), hint,
            fuzz_server.client_id, "https://fuzz.example.edu/bye"]
    method = data.draw(st.sampled_from(["GET", "POST"]))
    body = data.draw(bodies(["id_token_hint", "client_id", "post_logout_redirect_uri", "state",
                             "ui_locales", "confirm_id", "csrf"], *real))
    _exchange(fuzz_server, client, method, "/logout", body)


@SETTINGS
@given(data=st.data())
def test_change_password_form(fuzz_server: FuzzServer, client: httpx.Client,
                              data: st.DataObject) -> None:
    signin = _interaction(fuzz_server, extra={"password_change": {
        "username": "teacher", "reason": data.draw(st.sampled_from(
            ["password_expired", "must_change_password", "expiring", "bogus"]))}})
    token = form_field(client.get(f"/password/{signin}").text, "csrf")
    body = data.draw(bodies(["csrf", "current_password", "new_password", "new_password_again"],
                            token, "wrong-password", "A-new-password-1"))
    _exchange(fuzz_server, client, "POST", f"/password/{signin}", body)


@SETTINGS
@given(data=st.data())
def test_activation_forms(fuzz_server: FuzzServer, client: httpx.Client,
                          data: st.DataObject) -> None:
    """The facts form and the password step, with the newcomer's real facts among the junk
    (server.py); a real ticket when the facts were right."""
    page = client.get("/activate")
    token = form_field(page.text, "csrf") if data.draw(st.booleans()) else "no-page-seen"
    body = data.draw(bodies(["csrf", "username", "fact_0", "fact_1", "ui_locales"], token,
                            "fuzz-newcomer", "2026000001", "新", "student", "en"))
    before = fuzz_server.snapshot()
    proved = send(client, "POST", "/activate", body, {"x-forwarded-for": data.draw(XFF)})
    check(fuzz_server, before, "POST /activate", proved.status_code, proved.text)
    ticket = form_field(proved.text, "ticket")
    body = data.draw(bodies(["csrf", "ticket", "new", "confirm", "email", "phone"], token,
                            ticket, "A-new-password-1", "x@example.cn", "+86 138 0000 0000"))
    _exchange(fuzz_server, client, "POST", "/activate/password", body)


# --- the back channel and /authorize -----------------------------------------------------------

OAUTH_FIELDS = ["grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
                "client_id", "client_secret", "client_assertion", "client_assertion_type",
                "resource", "token", "token_type_hint"]


def _oauth_values(server: FuzzServer) -> list[str]:
    return [server.client_id, server.public_client_id, REDIRECT_URI, "authorization_code",
            "refresh_token", "client_credentials", "openid profile offline_access",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "access_token"]


def _auth_headers(server: FuzzServer) -> st.SearchStrategy[dict[str, str]]:
    return st.sampled_from([
        {}, {"authorization": basic(server.client_id, server.secret)},
        {"authorization": basic(server.client_id, "wrong")},
        {"authorization": basic(server.public_client_id, "")},
        {"authorization": "Basic !!!not-base64"}, {"authorization": "Bearer x.y.z"},
    ])


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
def test_back_channel_forms(fuzz_server: FuzzServer, client: httpx.Client, path: str) -> None:
    @SETTINGS
    @given(body=bodies(OAUTH_FIELDS, *_oauth_values(fuzz_server)),
           headers=_auth_headers(fuzz_server))
    def fuzz(body: dict[str, Any], headers: dict[str, str]) -> None:
        _exchange(fuzz_server, client, "POST", path, body, headers)

    fuzz()


AUTHORIZE_FIELDS = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                    "code_challenge", "code_challenge_method", "prompt", "max_age",
                    "id_token_hint", "login_hint", "ui_locales", "acr_values", "claims",
                    "request", "request_uri", "response_mode", "resource"]


def test_authorize(fuzz_server: FuzzServer, client: httpx.Client) -> None:
    real = [*_oauth_values(fuzz_server), "code", "S256", "plain", "none", "login", "consent",
            "0", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", '{"id_token":{"acr":null}}']
    session = _session(fuzz_server)

    @SETTINGS
    @given(body=bodies(AUTHORIZE_FIELDS, *real), method=st.sampled_from(["GET", "POST"]),
           signed_in=st.booleans())
    def fuzz(body: dict[str, Any], method: str, signed_in: bool) -> None:
        client.cookies.clear()
        if signed_in:
            client.cookies.set(COOKIE, session)
        _exchange(fuzz_server, client, method, "/authorize", body)

    fuzz()
