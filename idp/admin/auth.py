"""Who may use the admin surfaces, and how they prove it.

- The admin REST API takes Bearer access tokens that campus-idp itself issued (RFC 9068 JWTs,
  RFC 6750 §2.1) carrying the scope `idp:admin`, for a person who is *still* a member of the
  admin group (settings.access.admin_group) when the call is made. The engine grants the scope
  only to members of that group (`admin_scope_allowed`); checking membership again here means a
  person removed from the group loses the API at once, and a client_credentials token (no person)
  never passes.
- The console is behind the SSO login: `require_person` returns the signed-in person, or the
  response that gets them there. The console is a `LoginArea` (idp/web/login_area.py), as the
  developer portal and the account page are: it reads the SSO session cookie directly, and only
  the *login* goes through /authorize, as the area's internal first-party client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from directory.base import Person
from idp.keys.ring import InvalidToken
from idp.protocols.oidc import person_scopes
from idp.protocols.oidc.ledger import access_token_revoked
from idp.web.i18n import choose_locale
from idp.web.login_area import LoginArea, SignedIn, signed_in
from idp.web.pages import error_page

if TYPE_CHECKING:
    from idp.services import Services
    from idp.settings import Settings

ADMIN_SCOPE = "idp:admin"
ADMIN_API_AUDIENCE_PATH = "/admin/api"
REALM = "campus-idp admin"

LOGIN_FAILED: dict[str, dict[str, str]] = {
    "title": {"zh": "登录未完成", "en": "Sign-in was not completed"},
    "detail": {
        "zh": "登录没有完成（{error}）。请重新打开管理页面再试。",
        "en": "The sign-in did not complete ({error}). Open the admin page again and retry.",
    },
}
FORBIDDEN: dict[str, dict[str, str]] = {
    "title": {"zh": "无权访问", "en": "Access denied"},
    "detail": {
        "zh": "此页面仅对“{group}”组的成员开放。如需访问，请联系信息中心服务台。",
        "en": "This page is open to members of the group “{group}” only. Ask the IT service "
              "desk if you need access.",
    },
}


def admin_scope_allowed(person: Person, settings: Settings) -> bool:
    """Whether `idp:admin` may be granted to this person (the engine's rule, in one place)."""
    return person_scopes.may_have(person_scopes.ADMIN_SCOPE, person, settings)


# --- the admin API: bearer tokens ------------------------------------------------------------


class BearerProblem(Exception):
    """Why a bearer request is refused: 401 (no or bad token) or 403 (not an admin)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def challenge(self) -> str:
        """The WWW-Authenticate value (RFC 6750 §3): a bare challenge when no token was sent."""
        if self.error == "invalid_request":
            return f'Bearer realm="{REALM}"'
        scope = f', scope="{ADMIN_SCOPE}"' if self.error == "insufficient_scope" else ""
        return f'Bearer realm="{REALM}", error="{self.error}"{scope}'


@dataclass(frozen=True)
class AdminPrincipal:
    """An admin API caller: the person behind the token and the app that holds it."""

    person: Person
    client_id: str | None
    claims: dict[str, Any]


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


async def authenticate_bearer(services: Services, token: str | None) -> AdminPrincipal:
    """The admin behind a bearer access token, or BearerProblem."""
    settings = services.settings
    if not token:
        raise BearerProblem(401, "invalid_request", "an access token is required")
    try:
        _, claims = services.keys.verify_claims(token, issuer=settings.issuer, typ="at+jwt")
    except InvalidToken as exc:
        raise BearerProblem(401, "invalid_token", f"the access token is not valid: {exc}") from None
    if await access_token_revoked(services, claims):
        raise BearerProblem(401, "invalid_token", "the access token was revoked")
    # RFC 9068 §4: the token must be meant for us, not for some other resource server
    ours = {settings.issuer + ADMIN_API_AUDIENCE_PATH, settings.issuer + "/userinfo"}
    if not ours & set(_audiences(claims)):
        raise BearerProblem(401, "invalid_token", "the access token is not meant for this API")
    scopes = str(claims.get("scope") or "").split()
    if ADMIN_SCOPE not in scopes:
        raise BearerProblem(403, "insufficient_scope", f"the token lacks the scope {ADMIN_SCOPE}")
    subject = claims.get("sub")
    person = await services.directory.by_subject(subject) if isinstance(subject, str) else None
    if person is None or person.disabled:
        raise BearerProblem(403, "insufficient_scope", "the token does not belong to an active person")
    if not admin_scope_allowed(person, settings):
        raise BearerProblem(403, "insufficient_scope",
                            f"{person.username} is not a member of {settings.access.admin_group}")
    client_id = claims.get("client_id")
    return AdminPrincipal(person, client_id if isinstance(client_id, str) else None, claims)


# --- the console: the SSO session (idp/web/login_area.py) -----------------------------------


def _login_failed(request: Request, services: Services, error: str | None) -> Response:
    locale = choose_locale(request, services.settings.site.default_locale)
    detail = LOGIN_FAILED["detail"][locale].format(error=error or "state")
    return error_page(request, status=400, title=LOGIN_FAILED["title"][locale], detail=detail,
                      locale=locale)


CONSOLE = LoginArea("/admin", "campus-idp-admin", "统一身份认证管理 · Campus login administration",
                    failed=_login_failed)


async def require_person(request: Request, services: Services, group: str | None,
                         area: LoginArea = CONSOLE) -> SignedIn | Response:
    """The signed-in person (a member of `group`, when given) and their SSO session, or the
    response to send instead: the login without a session, a 403 page for someone outside the
    group, a 503 page when the directory cannot be asked. First thing in every console page:

        who = await require_person(request, services, settings.access.admin_group)
        if isinstance(who, Response):
            return who
    """
    who = await signed_in(request, services, area)
    if isinstance(who, Response) or group is None or group in who.person.groups:
        return who
    locale = choose_locale(request, services.settings.site.default_locale)
    return error_page(request, status=403, title=FORBIDDEN["title"][locale],
                      detail=FORBIDDEN["detail"][locale].format(group=group), locale=locale)
