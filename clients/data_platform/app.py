"""数据平台 — the data platform: a single-page app (plain JavaScript + oidc-client-ts), a public
client with PKCE. This server only hands out the static files and the settings the page needs;
the sign-in happens in the browser, which then calls the campus API with the access token.

oidc-client-ts is vendored in static/ (built file from npm, see package.json): nothing is loaded
from a CDN at run time.

Run:  DATA_CLIENT_ID=… uvicorn clients.data_platform.app:app --port 9003
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response

# --- settings --------------------------------------------------------------------------------
ISSUER = os.environ.get("DATA_ISSUER", "http://localhost:8000").rstrip("/")
CLIENT_ID = os.environ.get("DATA_CLIENT_ID", "")
BASE_URL = os.environ.get("DATA_BASE_URL", "http://localhost:9003").rstrip("/")
API_URL = os.environ.get("DATA_API_URL", "http://localhost:9004").rstrip("/")
SCOPE = os.environ.get("DATA_SCOPE", "openid profile campus")
HALL_URL = os.environ.get("DATA_HALL_URL", "")
OA_URL = os.environ.get("DATA_OA_URL", "")
# -----------------------------------------------------------------------------------------------

STATIC = Path(__file__).parent / "static"
FILES = {"app.js": "text/javascript", "oidc-client-ts.min.js": "text/javascript",
         "style.css": "text/css"}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# The page may talk to the IdP (discovery, token) and the API, and load nothing from elsewhere.
CSP = (f"default-src 'self'; connect-src 'self' {_origin(ISSUER)} {_origin(API_URL)}; "
       "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

app = FastAPI(title="Data platform", docs_url=None, redoc_url=None)


@app.get("/")
@app.get("/callback")
async def index() -> Response:
    # the redirect URI (/callback) is the same page: app.js finishes the sign-in there
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@app.get("/config.json")
async def config() -> JSONResponse:
    """What oidc-client-ts needs; public values only (a public client has no secret)."""
    return JSONResponse({
        "authority": ISSUER, "client_id": CLIENT_ID, "redirect_uri": f"{BASE_URL}/callback",
        "post_logout_redirect_uri": f"{BASE_URL}/", "scope": SCOPE, "api": API_URL,
        "links": {"hall": HALL_URL, "oa": OA_URL},
    }, headers={"Cache-Control": "no-store"})


@app.get("/static/{name}")
async def static(name: str) -> Response:
    media_type = FILES.get(name)  # a fixed list: no request path reaches the file system
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(STATIC / name, media_type=media_type, headers={"X-Content-Type-Options": "nosniff"})


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
