"""网上服务大厅 — the online service hall: a server-side web app signing people in with the
campus IdP. A confidential client: authorization code flow with PKCE (S256), authlib's Starlette
client, the signed-in person kept in a signed session cookie.

Run:  HALL_CLIENT_ID=… HALL_CLIENT_SECRET=… uvicorn clients.service_hall.app:app --port 9001

Register it with:
  idp clients add --name "Online Service Hall" --redirect-uri http://localhost:9001/callback \
      --post-logout-redirect-uri http://localhost:9001/ \
      --backchannel-logout-uri http://localhost:9001/backchannel-logout --skip-consent
"""

from __future__ import annotations

import os
import secrets
import time
from html import escape
from urllib.parse import urlencode

from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from clients.backchannel import LogoutTokenVerifier, logout_error
from clients.jwks import JwksCache, TokenRejected
from clients.pages import claims_table, links, page

# --- settings: everything this app needs to know, in one place -------------------------------
ISSUER = os.environ.get("HALL_ISSUER", "http://localhost:8000").rstrip("/")
CLIENT_ID = os.environ.get("HALL_CLIENT_ID", "")
CLIENT_SECRET = os.environ.get("HALL_CLIENT_SECRET", "")
BASE_URL = os.environ.get("HALL_BASE_URL", "http://localhost:9001").rstrip("/")
SCOPE = os.environ.get("HALL_SCOPE", "openid profile email campus groups eduperson")
# signs the session cookie; a random one means sessions end when the app restarts
SESSION_SECRET = os.environ.get("HALL_SESSION_SECRET") or secrets.token_urlsafe(32)
CA_FILE = os.environ.get("HALL_CA_FILE")  # a private CA in front of the IdP, if any
OA_URL = os.environ.get("HALL_OA_URL")  # links to the other campus apps
DATA_URL = os.environ.get("HALL_DATA_URL")
ACADEMIC_URL = os.environ.get("HALL_ACADEMIC_URL")  # a CAS app: the same single sign-on
# -----------------------------------------------------------------------------------------------

TITLE = "网上服务大厅 Online Service Hall"
ACCENT = "#1f6feb"
TLS_VERIFY: bool | str = CA_FILE or True
SESSION_MAX_AGE = 8 * 3600

app = FastAPI(title=TITLE, docs_url=None, redoc_url=None)
app.add_middleware(
    SessionMiddleware, secret_key=SESSION_SECRET, session_cookie="hall_session",
    same_site="lax", https_only=BASE_URL.startswith("https://"), max_age=SESSION_MAX_AGE,
)

oauth = OAuth()
oauth.register(
    "campus",
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    # authlib makes the PKCE verifier and the nonce, and checks state, nonce and the ID token
    client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "verify": TLS_VERIFY},
)

# Back-channel logout with a cookie session: the cookie cannot be reached from here, so the app
# remembers which IdP sessions (sid) ended and refuses cookies that belong to one. In memory:
# one process. With several, keep these in Redis.
keys = JwksCache(ISSUER, verify=TLS_VERIFY)
logout_tokens = LogoutTokenVerifier(keys, CLIENT_ID)
ended_sids: dict[str, float] = {}
ended_subjects: dict[str, float] = {}  # sub -> time: sessions signed in before it are over


def signed_in_user(request: Request) -> dict | None:
    user = request.session.get("user")
    if not user:
        return None
    sid, sub = user.get("sid"), user.get("sub")
    if (sid and sid in ended_sids) or user.get("login_at", 0) <= ended_subjects.get(sub, -1):
        request.session.clear()  # logged out elsewhere
        return None
    return user


@app.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    user = signed_in_user(request)
    nav = links({"OA 办公系统": OA_URL, "数据平台 Data platform": DATA_URL,
                 "教务系统 Academic affairs": ACADEMIC_URL})
    if user is None:
        body = ("<p id=\"status\">您尚未登录。 You are not signed in.</p>"
                "<a class=\"button\" id=\"login\" href=\"/login\">统一身份认证登录 Sign in</a>" + nav)
        return HTMLResponse(page(TITLE, body, accent=ACCENT))
    claims = user["claims"]
    body = (
        f"<p id=\"status\">欢迎，<strong id=\"name\">{escape(claims.get('name', ''))}</strong>"
        f" — signed in as <code id=\"username\">{escape(claims.get('preferred_username', ''))}"
        "</code></p>" + nav + "<h2>ID token claims</h2>" + claims_table(claims)
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
    except OAuthError as exc:  # access_denied, a bad state, an ID token that fails its checks
        body = f"<p id=\"error\">登录失败 Sign-in failed: {escape(exc.error or '')} " \
               f"{escape(exc.description or '')}</p><a class=\"button\" href=\"/\">Back</a>"
        return HTMLResponse(page(TITLE, body, accent=ACCENT), status_code=400)
    claims = dict(token["userinfo"])  # the verified ID token's claims
    request.session["user"] = {"claims": claims, "sub": claims["sub"], "sid": claims.get("sid"),
                               "id_token": token["id_token"], "login_at": time.time()}
    return RedirectResponse("/", status_code=303)


# a POST form: a cross-site page cannot sign people out (the SameSite=Lax cookie stays home)
LOGOUT_FORM = ("<form method=\"post\" action=\"/logout\"><button id=\"logout\" type=\"submit\">"
               "退出 Sign out</button></form>")


@app.post("/logout")
async def logout(request: Request) -> Response:
    """RP-initiated logout: end our session, then ask the IdP to end the SSO session (which
    logs the person out of every other app by back-channel logout)."""
    user = request.session.pop("user", None)
    request.session.clear()
    if user is None:
        return RedirectResponse("/", status_code=303)
    metadata = await oauth.campus.load_server_metadata()
    query = urlencode({"id_token_hint": user["id_token"], "client_id": CLIENT_ID,
                       "post_logout_redirect_uri": f"{BASE_URL}/"})
    return RedirectResponse(f"{metadata['end_session_endpoint']}?{query}", status_code=303)


@app.post("/backchannel-logout")
async def backchannel_logout(request: Request) -> Response:
    form = await request.form()
    token = form.get("logout_token")
    headers = {"Cache-Control": "no-store"}
    try:
        ended = await logout_tokens.verify(token if isinstance(token, str) else "")
    except TokenRejected as exc:
        return JSONResponse(logout_error(str(exc)), status_code=400, headers=headers)
    now = time.time()
    for remembered in (ended_sids, ended_subjects):  # older than any cookie: forget
        for key in [k for k, at in remembered.items() if at < now - SESSION_MAX_AGE]:
            del remembered[key]
    if ended.sid:
        ended_sids[ended.sid] = now
    elif ended.subject:
        ended_subjects[ended.subject] = now
    return Response(status_code=200, headers=headers)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
