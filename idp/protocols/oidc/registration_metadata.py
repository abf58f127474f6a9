"""Client metadata (RFC 7591 §2, OpenID Connect Dynamic Client Registration 1.0 §2, Back-Channel
Logout 1.0 §2.2, RP-Initiated Logout 1.0 §3.1): parsed from untrusted JSON into one checked
`ClientMetadata`, and turned back into the client information response (RFC 7591 §3.2.1).

Used by POST /register, PUT /register/{id} (RFC 7592 §2.2) and the developer portal's forms, so
the three apply exactly the same policy:
- redirect URIs https, or http only on a loopback host (RFC 8252 §7.3), no fragment, no other
  scheme (`javascript:`, custom schemes): `invalid_redirect_uri` (RFC 7591 §3.2.2);
- grant types, response types, auth methods and ID token algorithms are the ones the engine
  offers (idp/protocols/oidc/clients.py): anything else is `invalid_client_metadata`;
- fields of the wrong JSON type are `invalid_client_metadata`, never an exception;
- fields this server does not understand are ignored (RFC 7591 §2: "MUST ignore").

This server's own extension: `required_scope`, space-separated like `scope`, names the scopes
the app cannot work without; its consent page shows them required (openid always is) and lets
the person untick every other one (idp/protocols/oidc/required_scopes.py). Each must be one of
the client's `scope` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from idp.db.models import Client
from idp.protocols.oidc.clients import AUTH_METHODS, GRANT_TYPES, ID_TOKEN_ALGS, validate_redirect_uri
from idp.protocols.oidc.required_scopes import checked, registered, with_required

# scopes any registered client gets at once; anything else waits for an admin's approval
BASIC_SCOPES: tuple[str, ...] = ("openid", "profile", "email", "phone", "offline_access")
RESPONSE_TYPES: tuple[str, ...] = ("code",)
SECRET_AUTH_METHODS: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
DISPLAY_URIS: tuple[str, ...] = ("logo_uri", "client_uri", "policy_uri", "tos_uri")
# RFC 6749 §3.3 scope-token: printable ASCII except space, double quote and backslash
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,64}$")
MAX_URIS = 20
MAX_URI_LENGTH = 2000
MAX_SCOPES = 30
MAX_CONTACTS = 10
MAX_NAME = 200


class MetadataError(ValueError):
    """Rejected metadata: `error` is the RFC 7591 §3.2.2 error code, the message says why."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _bad(description: str) -> MetadataError:
    return MetadataError("invalid_client_metadata", description)


@dataclass
class ClientMetadata:
    """Checked metadata with the defaults of RFC 7591 §2 filled in."""

    client_name: str | None
    redirect_uris: list[str]
    token_endpoint_auth_method: str
    grant_types: list[str]
    response_types: list[str]
    scopes: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    id_token_signed_response_alg: str = "RS256"
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    contacts: list[str] = field(default_factory=list)
    display_uris: dict[str, str] = field(default_factory=dict)
    required_scopes: list[str] = field(default_factory=list)  # openid implied, not kept

    @property
    def has_secret(self) -> bool:
        return self.token_endpoint_auth_method in SECRET_AUTH_METHODS

    @property
    def scopes_needing_approval(self) -> list[str]:
        return [scope for scope in self.scopes if scope not in BASIC_SCOPES]

    def extra(self) -> dict[str, Any]:
        """The metadata that has no column of its own (kept in Client.extra)."""
        return with_required({"contacts": list(self.contacts), **self.display_uris},
                             self.required_scopes)


# --- typed readers: wrong JSON types become MetadataError, never TypeError ----------------------


def _string(data: dict[str, Any], key: str, *, limit: int = MAX_URI_LENGTH) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{key} must be a string")
    if len(value) > limit:
        raise _bad(f"{key} is longer than {limit} characters")
    return value


def _string_list(data: dict[str, Any], key: str, *, limit: int) -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad(f"{key} must be an array of strings")
    if len(value) > limit:
        raise _bad(f"{key} may hold at most {limit} values")
    if any(len(item) > MAX_URI_LENGTH for item in value):
        raise _bad(f"a value of {key} is longer than {MAX_URI_LENGTH} characters")
    return list(dict.fromkeys(value))  # duplicates dropped, order kept


def _boolean(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(f"{key} must be true or false")
    return value


def _choices(values: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    for value in values:
        if value not in allowed:
            raise _bad(f"unsupported {what} {value!r} (supported: {', '.join(allowed)})")
    return values


def _uri(value: str, what: str, *, error: str = "invalid_client_metadata") -> str:
    try:
        return validate_redirect_uri(value, what=what)
    except ValueError as exc:
        raise MetadataError(error, str(exc)) from None


# --- the parts of the metadata -----------------------------------------------------------------


def _grants_and_responses(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    """RFC 7591 §2: grant_types defaults to authorization_code, response_types to code, and
    §2.1: the two must agree (code <-> authorization_code)."""
    grants = _string_list(data, "grant_types", limit=5)
    grants = _choices(grants if grants is not None else ["authorization_code"], GRANT_TYPES,
                      "grant type")
    if not grants:
        raise _bad("grant_types must not be empty")
    responses = _string_list(data, "response_types", limit=5)
    if responses is None:
        responses = ["code"] if "authorization_code" in grants else []
    _choices(responses, RESPONSE_TYPES, "response type")
    if ("code" in responses) != ("authorization_code" in grants):
        raise _bad("response_types 'code' and grant_types 'authorization_code' go together "
                   "(RFC 7591 section 2.1)")
    return grants, responses


def _auth_method(data: dict[str, Any], grants: list[str]) -> str:
    method = _string(data, "token_endpoint_auth_method", limit=64) or "client_secret_basic"
    _choices([method], tuple(AUTH_METHODS), "token_endpoint_auth_method")
    if method == "none" and "client_credentials" in grants:
        raise _bad("client_credentials needs a confidential client (RFC 6749 section 4.4)")
    return method


def _keys(data: dict[str, Any], method: str) -> tuple[dict[str, Any] | None, str | None]:
    jwks, jwks_uri = data.get("jwks"), _string(data, "jwks_uri")
    if jwks is not None and jwks_uri is not None:
        raise _bad("jwks and jwks_uri must not both be present (RFC 7591 section 2)")
    if jwks is not None:
        if not isinstance(jwks, dict):
            raise _bad("jwks must be a JSON Web Key Set object")
        check_public_jwks(jwks)
    if jwks_uri is not None:
        _uri(jwks_uri, "jwks_uri")
    if method == "private_key_jwt" and jwks is None:
        raise _bad("private_key_jwt needs the client's public keys in jwks "
                   "(this server does not fetch jwks_uri)")
    return jwks, jwks_uri


def check_public_jwks(jwks: dict[str, Any]) -> None:
    """A readable JWK Set of public keys only (a private key here would be a leaked key)."""
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise _bad("jwks must hold a non-empty array of keys")
    try:
        keyset = KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise _bad(f"jwks cannot be read: {exc}") from None
    if any(key.is_private for key in keyset.keys):
        raise _bad("jwks must hold public keys only")


def _scopes(data: dict[str, Any]) -> list[str]:
    """RFC 7591 §2 `scope`: space-separated; when omitted, the basic set (§2 lets the server
    pick a default)."""
    raw = _string(data, "scope")
    if raw is None:
        return list(BASIC_SCOPES)
    scopes = list(dict.fromkeys(raw.split()))
    if len(scopes) > MAX_SCOPES:
        raise _bad(f"scope may hold at most {MAX_SCOPES} values")
    for scope in scopes:
        if not _SCOPE_TOKEN.match(scope):
            raise _bad(f"scope value {scope[:64]!r} is not a valid scope token (RFC 6749 "
                       "section 3.3)")
    return scopes


def _required(data: dict[str, Any], scopes: list[str]) -> list[str]:
    raw = _string(data, "required_scope")
    try:
        return checked((raw or "").split(), scopes)
    except ValueError as exc:
        raise _bad(f"required_scope: {exc}") from None


def _name(data: dict[str, Any]) -> str | None:
    name = _string(data, "client_name", limit=MAX_NAME)
    if name is None:
        return None
    name = name.strip()
    if not name:
        raise _bad("client_name must not be blank")
    return name


def _logout(data: dict[str, Any]) -> tuple[list[str], str | None, bool]:
    post_logout = [
        _uri(uri, "post_logout_redirect_uri")
        for uri in _string_list(data, "post_logout_redirect_uris", limit=MAX_URIS) or []
    ]
    backchannel = _string(data, "backchannel_logout_uri")
    if backchannel is not None:
        _uri(backchannel, "backchannel_logout_uri")
    # Back-Channel Logout 1.0 §2.2: "If omitted, the default value is false"
    session_required = _boolean(data, "backchannel_logout_session_required", False)
    return post_logout, backchannel, session_required


def parse_metadata(data: Any) -> ClientMetadata:
    """Check a registration request body. Raises MetadataError."""
    if not isinstance(data, dict):
        raise _bad("the request body must be a JSON object of client metadata")
    grants, responses = _grants_and_responses(data)
    method = _auth_method(data, grants)
    redirect_uris = [
        _uri(uri, "redirect URI", error="invalid_redirect_uri")
        for uri in _string_list(data, "redirect_uris", limit=MAX_URIS) or []
    ]
    if "authorization_code" in grants and not redirect_uris:
        raise MetadataError("invalid_redirect_uri",
                            "redirect_uris is required for the authorization_code grant "
                            "(RFC 7591 section 2)")
    jwks, jwks_uri = _keys(data, method)
    alg = _string(data, "id_token_signed_response_alg", limit=16) or "RS256"
    _choices([alg], ID_TOKEN_ALGS, "id_token_signed_response_alg")
    post_logout, backchannel, session_required = _logout(data)
    contacts = _string_list(data, "contacts", limit=MAX_CONTACTS) or []
    if any(len(contact) > 254 for contact in contacts):
        raise _bad("a contact is longer than 254 characters")
    display = {}
    for key in DISPLAY_URIS:
        value = _string(data, key)
        if value is not None:
            display[key] = _uri(value, key)
    scopes = _scopes(data)
    return ClientMetadata(
        client_name=_name(data), redirect_uris=redirect_uris, token_endpoint_auth_method=method,
        grant_types=grants, response_types=responses, scopes=scopes,
        post_logout_redirect_uris=post_logout, backchannel_logout_uri=backchannel,
        backchannel_logout_session_required=session_required, id_token_signed_response_alg=alg,
        jwks=jwks, jwks_uri=jwks_uri, contacts=contacts, display_uris=display,
        required_scopes=_required(data, scopes),
    )


def client_information(client: Client) -> dict[str, Any]:
    """The stored metadata as RFC 7591 §3.2.1 returns it (without secrets and registration
    fields, which the caller adds when it has them). `status` is this server's extension:
    pending clients wait for an admin and get invalid_client at the token endpoint."""
    extra = client.extra or {}
    info: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris or []),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types or []),
        "response_types": list(client.response_types or []),
        "scope": " ".join(client.scopes or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "contacts": list(extra.get("contacts") or []),
        "status": client.status,
    }
    if client.token_endpoint_auth_method in SECRET_AUTH_METHODS:
        info["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: 0 means it does not expire
    optional = {"backchannel_logout_uri": client.backchannel_logout_uri, "jwks": client.jwks,
                "jwks_uri": client.jwks_uri}
    optional.update({key: extra.get(key) for key in DISPLAY_URIS})
    optional["required_scope"] = " ".join(registered(extra)) or None
    info.update({key: value for key, value in optional.items() if value is not None})
    return info
