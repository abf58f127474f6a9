"""The portal's app form: what the developer typed -> RFC 7591 metadata, checked by the very
same parser as POST /register (registration_metadata.parse_metadata), plus a reason for every
scope that needs an admin's approval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from idp.db.models import Client
from idp.protocols.oidc.claims import SUPPORTED_SCOPES
from idp.protocols.oidc.registration_metadata import (
    BASIC_SCOPES,
    ClientMetadata,
    MetadataError,
    client_information,
    parse_metadata,
)
from idp.protocols.oidc.required_scopes import registered
from idp.web.i18n import Locale
from idp.web.scopes import describe

MAX_REASON = 500
MAX_DESCRIPTION = 200
MAX_FIELD = 8000
# what the server fills in itself; never taken from a stored client into a new request
_SERVER_FIELDS = ("client_id", "client_id_issued_at", "client_secret_expires_at", "status")


@dataclass
class AppForm:
    """The form's values, as typed (for redisplay) and as metadata (when they are valid)."""

    name: str = ""
    public: bool = False
    redirect_uris: str = ""
    post_logout_redirect_uris: str = ""
    backchannel_logout_uri: str = ""
    scopes: list[str] = field(default_factory=lambda: ["openid", "profile", "email"])
    reasons: dict[str, str] = field(default_factory=dict)
    # scopes the app cannot work without: its consent page will not let a person untick them
    required: list[str] = field(default_factory=list)
    # the app's card in the app portal at / (idp/sso/catalogue.py): RFC 7591's client_uri and
    # logo_uri, and a description
    home_url: str = ""
    icon_url: str = ""
    description: str = ""

    @classmethod
    def of_client(cls, client: Client) -> AppForm:
        return cls(
            name=client.name, public=client.token_endpoint_auth_method == "none",
            redirect_uris="\n".join(client.redirect_uris or []),
            post_logout_redirect_uris="\n".join(client.post_logout_redirect_uris or []),
            backchannel_logout_uri=client.backchannel_logout_uri or "",
            scopes=list(client.scopes or []),
            reasons=dict((client.extra or {}).get("scope_reasons") or {}),
            required=list(registered(client.extra)),
            home_url=str((client.extra or {}).get("client_uri") or ""),
            icon_url=str((client.extra or {}).get("logo_uri") or ""),
            description=str((client.extra or {}).get("description") or ""),
        )


def form_text(form: FormData, name: str, limit: int = MAX_FIELD) -> str:
    """A form field as typed, trimmed and cut to `limit` ("" when absent or a file)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def read_form(form: FormData) -> AppForm:
    scopes = ["openid"] + [s for s in form.getlist("scope")
                           if isinstance(s, str) and s in SUPPORTED_SCOPES and s != "openid"]
    reasons = {s: form_text(form, f"reason_{s}")[:MAX_REASON] for s in scopes
               if s not in BASIC_SCOPES and form_text(form, f"reason_{s}")}
    # a required box of a scope not asked for is checked by the parser, and refused there
    required = [s for s in form.getlist("required") if isinstance(s, str)
                and s in SUPPORTED_SCOPES and s != "openid"]
    return AppForm(
        name=form_text(form, "name"), public=form.get("app_type") == "public",
        redirect_uris=form_text(form, "redirect_uris"),
        post_logout_redirect_uris=form_text(form, "post_logout_redirect_uris"),
        backchannel_logout_uri=form_text(form, "backchannel_logout_uri"),
        scopes=list(dict.fromkeys(scopes)), reasons=reasons,
        required=list(dict.fromkeys(required)),
        home_url=form_text(form, "home_url"), icon_url=form_text(form, "icon_url"),
        description=form_text(form, "description")[:MAX_DESCRIPTION],
    )


def to_metadata(app: AppForm, existing: Client | None = None,
                approved: set[str] | None = None) -> ClientMetadata:
    """The metadata the form asks for. An edit keeps what the form does not show (auth
    method, grant types, keys, contacts, ...). Raises MetadataError, or ValueError naming a
    scope that needs a reason."""
    if not app.name:
        raise MetadataError("invalid_client_metadata", "the app needs a name")
    for scope in app.scopes:
        if scope not in BASIC_SCOPES and scope not in (approved or set()) \
                and not app.reasons.get(scope):
            raise ValueError(scope)
    data: dict[str, Any]
    if existing is not None:
        data = {k: v for k, v in client_information(existing).items() if k not in _SERVER_FIELDS}
    else:
        method = "none" if app.public else "client_secret_basic"
        data = {"token_endpoint_auth_method": method,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"]}
    backchannel = app.backchannel_logout_uri or None
    data.update({
        "client_name": app.name, "redirect_uris": _lines(app.redirect_uris),
        "post_logout_redirect_uris": _lines(app.post_logout_redirect_uris),
        "backchannel_logout_uri": backchannel,
        "backchannel_logout_session_required": backchannel is not None,
        "scope": " ".join(app.scopes), "required_scope": " ".join(app.required),
    })
    for key, value in (("client_uri", app.home_url), ("logo_uri", app.icon_url)):
        if value:
            data[key] = value
        else:
            data.pop(key, None)
    return parse_metadata(data)


@dataclass(frozen=True)
class ScopeChoice:
    scope: str
    description: str
    claims: list[str]
    needs_approval: bool
    checked: bool
    reason: str
    required: bool = False


def scope_choices(app: AppForm, locale: Locale) -> list[ScopeChoice]:
    """Every scope the engine supports, described as the consent page describes it."""
    return [
        ScopeChoice(line.scope, line.description, line.claims,
                    line.scope not in BASIC_SCOPES, line.scope in app.scopes,
                    app.reasons.get(line.scope, ""), line.scope in app.required)
        for line in describe(list(SUPPORTED_SCOPES), locale)
    ]
