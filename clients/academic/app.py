"""教务系统 — the academic affairs system: an older campus system that speaks CAS, not OIDC.

It signs people in with python-cas (the maintained CAS client on PyPI) against the IdP's CAS
server (`/cas/`), reads the CAS 3.0 attributes of the validation response, and keeps server-side
sessions indexed by the service ticket, so that the IdP's single logout (a SAML LogoutRequest
POSTed to /cas/slo, its SessionIndex the ticket) ends the right session without the browser.

Run:  ACADEMIC_CAS_SERVER=http://localhost:8000/cas/ uvicorn clients.academic.app:app --port 9005
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any

from cas import CASClient
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from clients.pages import claims_table, links, page

# --- settings ------------------------------------------------------------------------------------
CAS_SERVER = os.environ.get("ACADEMIC_CAS_SERVER", "http://localhost:8000/cas/")
BASE_URL = os.environ.get("ACADEMIC_BASE_URL", "http://localhost:9005").rstrip("/")
HALL_URL = os.environ.get("ACADEMIC_HALL_URL")
OA_URL = os.environ.get("ACADEMIC_OA_URL")
CA_FILE = os.environ.get("ACADEMIC_CA_FILE")
# ---------------------------------------------------------------------------------------------------

TITLE = "教务系统 Academic Affairs"
ACCENT = "#bf3989"
COOKIE = "academic_session"
SESSION_TTL = 8 * 3600
HTTPS = BASE_URL.startswith("https://")
SERVICE = f"{BASE_URL}/cas/callback"  # the service URL registered with the IdP

cas = CASClient(version=3, service_url=SERVICE,
                server_url=CAS_SERVER if CAS_SERVER.endswith("/") else CAS_SERVER + "/",
                verify_ssl_certificate=CA_FILE or True)


@dataclass
class LocalSession:
    user: str
    ticket: str  # what the IdP names in its single logout request
    attributes: dict[str, Any]
    expires_at: float = field(default_factory=lambda: time.time() + SESSION_TTL)


class SessionStore:
    """Server-side sessions by random id, findable by the ticket that opened them."""

    def __init__(self) -> None:
        self._sessions: dict[str, LocalSession] = {}

    def create(self, session: LocalSession) -> str:
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = session
        return session_id

    def get(self, session_id: str | None) -> LocalSession | None:
        session = self._sessions.get(session_id or "")
        if session is not None and session.expires_at < time.time():
            self._sessions.pop(session_id or "", None)
            return None
        return session

    def delete(self, session_id: str | None) -> LocalSession | None:
        return self._sessions.pop(session_id or "", None)

    def end_ticket(self, ticket: str) -> int:
        doomed = [key for key, s in self._sessions.items() if s.ticket == ticket]
        for key in doomed:
            del self._sessions[key]
        return len(doomed)


sessions = SessionStore()
slo_log: list[dict[str, Any]] = []  # the single logout requests received (no tickets), newest last

app = FastAPI(title=TITLE, docs_url=None, redoc_url=None)

COURSES = ["高等数学 Advanced Mathematics", "数据结构 Data Structures",
           "大学英语 College English", "思想政治 Political Theory"]


@app.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    session = sessions.get(request.cookies.get(COOKIE))
    nav = links({"网上服务大厅 Service hall": HALL_URL, "OA 办公系统 OA": OA_URL})
    if session is None:
        body = ("<p id=\"status\">您尚未登录。 You are not signed in.</p>"
                "<a class=\"button\" id=\"login\" href=\"/login\">统一身份认证登录 Sign in (CAS)</a>"
                + nav)
        return HTMLResponse(page(TITLE, body, accent=ACCENT))
    name = session.attributes.get("cn") or session.user
    courses = "".join(f"<li>{escape(c)}</li>" for c in COURSES)
    body = (f"<p id=\"status\">欢迎，<strong id=\"name\">{escape(str(name))}</strong>"
            f" (<span id=\"user\">{escape(session.user)}</span>)</p>" + nav
            + f"<h2>本学期课程 This term's courses</h2><ul>{courses}</ul>"
            + "<h2>CAS attributes</h2>" + claims_table(session.attributes)
            + "<a class=\"button\" id=\"logout\" href=\"/logout\">退出 Sign out</a>")
    return HTMLResponse(page(TITLE, body, accent=ACCENT))


@app.get("/login")
async def login() -> Response:
    return RedirectResponse(cas.get_login_url(), status_code=303)


@app.get("/cas/callback")
async def callback(request: Request) -> Response:
    ticket = request.query_params.get("ticket")
    if not ticket:  # a gateway answer without a ticket: nobody signed in
        return RedirectResponse("/", status_code=303)
    # python-cas is blocking (requests): off the event loop
    user, attributes, _ = await run_in_threadpool(cas.verify_ticket, ticket)
    if not user:
        body = "<p id=\"error\">登录失败 Sign-in failed: the ticket was not accepted.</p>"
        return HTMLResponse(page(TITLE, body, accent=ACCENT), status_code=400)
    sessions.delete(request.cookies.get(COOKIE))  # a new id at every login (session fixation)
    session_id = sessions.create(LocalSession(user, ticket, dict(attributes or {})))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, session_id, max_age=SESSION_TTL, httponly=True, samesite="lax",
                        secure=HTTPS, path="/")
    return response


@app.get("/logout")
async def logout(request: Request) -> Response:
    """Ends the local session and the campus session (every other app hears of it)."""
    sessions.delete(request.cookies.get(COOKIE))
    response = RedirectResponse(cas.get_logout_url(f"{BASE_URL}/cas/callback"), status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@app.post("/cas/slo")
async def single_logout(request: Request) -> Response:
    """The IdP's single logout: end the sessions its tickets opened (CAS 3.0 Appendix C)."""
    form = await request.form()
    message = form.get("logoutRequest")
    ended = 0
    if isinstance(message, str):
        for index in cas.get_saml_slos(message) or []:
            ended += sessions.end_ticket(index.text or "")
    slo_log.append({"at": time.time(), "sessions_ended": ended})
    del slo_log[:-50]
    return Response(status_code=200)


@app.get("/slo-log")
async def slo_history(request: Request) -> JSONResponse:
    """The last single logout calls, for the demo and the tests: on the loopback only."""
    if request.client is None or request.client.host not in ("127.0.0.1", "::1"):
        return JSONResponse({"error": "not_found"}, status_code=404)
    return JSONResponse(slo_log)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
