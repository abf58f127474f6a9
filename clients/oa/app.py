"""OA 办公系统 — the OA system: a server-side web app with back-channel logout.

Its sessions live on the server (the browser holds only a random id), so when the IdP says
"this person logged out" (OIDC Back-Channel Logout 1.0) the app can end them from here, without
the browser. Confidential client, code + PKCE, authlib's Starlette client for the login.

Run:  OA_CLIENT_ID=… OA_CLIENT_SECRET=… uvicorn clients.oa.app:app --port 9002
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from clients.backchannel import LogoutTokenVerifier, logout_error
from clients.jwks import JwksCache, TokenRejected
from clients.pages import claims_table, links, page

# --- settings ------------------------------------------------------------------------------------
ISSUER = os.environ.get("OA_ISSUER", "http://localhost:8000").rstrip("/")
CLIENT_ID = os.environ.get("OA_CLIENT_ID", "")
CLIENT_SECRET = os.environ.get("OA_CLIENT_SECRET", "")
BASE_URL = os.environ.get("OA_BASE_URL", "http://localhost:9002").rstrip("/")
SCOPE = os.environ.get("OA_SCOPE", "openid profile email campus groups")
# signs only the short-lived login state (state, nonce, PKCE verifier); sessions are server-side
LOGIN_STATE_SECRET = os.environ.get("OA_SESSION_SECRET") or secrets.token_urlsafe(32)
CA_FILE = os.environ.get("OA_CA_FILE")
HALL_URL = os.environ.get("OA_HALL_URL")
DATA_URL = os.environ.get("OA_DATA_URL")
# ---------------------------------------------------------------------------------------------------

TITLE = "OA 办公系统 OA System"
ACCENT = "#8250df"
COOKIE = "oa_session"
SESSION_TTL = 8 * 3600
TLS_VERIFY: bool | str = CA_FILE or True
HTTPS = BASE_URL.startswith("https://")


@dataclass
class LocalSession:
    subject: str
    sid: str | None  # the IdP's session id from the ID token: what a logout token names
    claims: dict[str, Any]
    id_token: str
    expires_at: float = field(default_factory=lambda: time.time() + SESSION_TTL)


class SessionStore:
    """Server-side sessions by random id. In memory, so one process; with several, the same
    three operations over Redis (a hash per session, a set per sid and per subject)."""

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

    def end_for(self, *, sid: str | None, subject: str | None) -> int:
        """Back-channel logout: end the sessions of that IdP session, or (no sid) of that person."""
        doomed = [key for key, s in self._sessions.items()
                  if (sid and s.sid == sid) or (not sid and subject and s.subject == subject)]
        for key in doomed:
            del self._sessions[key]
        return len(doomed)


sessions = SessionStore()
keys = JwksCache(ISSUER, verify=TLS_VERIFY)
logout_tokens = LogoutTokenVerifier(keys, CLIENT_ID)
# what the back-channel endpoint did, for the operator (and the demo page): newest last
backchannel_log: list[dict[str, Any]] = []

app = FastAPI(title=TITLE, docs_url=None, redoc_url=None)
app.add_middleware(SessionMiddleware, secret_key=LOGIN_STATE_SECRET, session_cookie="oa_login",
                   same_site="lax", https_only=HTTPS, max_age=600)

oauth = OAuth()
oauth.register(
    "campus", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "verify": TLS_VERIFY},
)

WORKFLOWS = ["请假审批 Leave request", "报销审批 Expense claim", "用印申请 Seal request",
             "会议室预约 Meeting room booking"]


@app.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    session = sessions.get(request.cookies.get(COOKIE))
    nav = links({"网上服务大厅 Service hall": HALL_URL, "数据平台 Data platform": DATA_URL})
    if session is None:
        body = ("<p id=\"status\">您尚未登录。 You are not signed in.</p>"
                "<a class=\"button\" id=\"login\" href=\"/login\">统一身份认证登录 Sign in</a>" + nav)
        return HTMLResponse(page(TITLE, body, accent=ACCENT))
    claims = session.claims
    todo = "".join(f"<li>{escape(w)}</li>" for w in WORKFLOWS)
    body = (
        f"<p id=\"status\">欢迎，<strong id=\"name\">{escape(claims.get('name', ''))}</strong>"
        f" — {escape(claims.get('department', ''))}</p>" + nav
        + f"<h2>待办 Workflows</h2><ul>{todo}</ul><h2>ID token claims</h2>"
        + claims_table(claims)
        + LOGOUT_FORM
    )
    return HTMLResponse(page(TITLE, body, accent=ACCENT))


@app.get("/login")
async def login(request: Request) -> Response:
    return await oauth.campus.authorize_redirect(request, f"{BASE_URL}/callback")


@app.get("/callback")
async def callback(request: Request) -> Response:
    try:
        token = await oauth.campus.authorize_access_token(request)
    except OAuthError as exc:
        body = f"<p id=\"error\">登录失败 Sign-in failed: {escape(exc.error or '')}</p>"
        return HTMLResponse(page(TITLE, body, accent=ACCENT), status_code=400)
    request.session.clear()
    claims = dict(token["userinfo"])
    sessions.delete(request.cookies.get(COOKIE))  # a new id at every login (session fixation)
    session_id = sessions.create(LocalSession(claims["sub"], claims.get("sid"), claims,
                                              token["id_token"]))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, session_id, max_age=SESSION_TTL, httponly=True, samesite="lax",
                        secure=HTTPS, path="/")
    return response


# a POST form: a cross-site page cannot sign people out (the SameSite=Lax cookie stays home)
LOGOUT_FORM = ("<form method=\"post\" action=\"/logout\"><button id=\"logout\" type=\"submit\">"
               "退出 Sign out</button></form>")


@app.post("/logout")
async def logout(request: Request) -> Response:
    session = sessions.delete(request.cookies.get(COOKIE))
    if session is None:
        response = RedirectResponse("/", status_code=303)
    else:
        metadata = await oauth.campus.load_server_metadata()
        query = urlencode({"id_token_hint": session.id_token, "client_id": CLIENT_ID,
                           "post_logout_redirect_uri": f"{BASE_URL}/"})
        response = RedirectResponse(f"{metadata['end_session_endpoint']}?{query}", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@app.post("/backchannel-logout")
async def backchannel_logout(request: Request) -> Response:
    """§2.5: the IdP's POST. 200 once our sessions are gone; 400 for a token we refuse (§2.8)."""
    form = await request.form()
    token = form.get("logout_token")
    headers = {"Cache-Control": "no-store"}
    try:
        ended = await logout_tokens.verify(token if isinstance(token, str) else "")
    except TokenRejected as exc:
        backchannel_log.append({"at": time.time(), "accepted": False, "reason": str(exc)})
        return JSONResponse(logout_error(str(exc)), status_code=400, headers=headers)
    count = sessions.end_for(sid=ended.sid, subject=ended.subject)
    backchannel_log.append({"at": time.time(), "accepted": True, "sid": ended.sid,
                            "sub": ended.subject, "sessions_ended": count})
    del backchannel_log[:-50]
    return Response(status_code=200, headers=headers)


@app.get("/backchannel-log")
async def backchannel_history(request: Request) -> JSONResponse:
    """The last back-channel logout calls (no tokens), for the demo and the tests: answered
    on the loopback interface only."""
    if request.client is None or request.client.host not in ("127.0.0.1", "::1"):
        return JSONResponse({"error": "not_found"}, status_code=404)
    return JSONResponse(backchannel_log)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
