"""OpenAPI descriptions of the endpoints authlib answers, which read their form themselves and so
leave FastAPI nothing to describe. Each value is what the route in idp/protocols/oidc/routes.py should
carry as `openapi_extra=` (then /openapi.json documents them and this patch becomes a no-op)."""

from __future__ import annotations

import copy
from typing import Any

FORM = "application/x-www-form-urlencoded"


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {FORM: {"schema": {
        "type": "object", "properties": properties, "required": required}}}}}


def _text(description: str) -> dict[str, str]:
    return {"type": "string", "description": description}


CLIENT_AUTH = {
    "client_id": _text("client_secret_post / public clients (RFC 6749 §2.3.1)"),
    "client_secret": _text("client_secret_post"),
    "client_assertion_type": _text("private_key_jwt (RFC 7523 §2.2)"),
    "client_assertion": _text("private_key_jwt: a JWT signed by the client"),
}
OAUTH_ERROR = {"description": "OAuth error (RFC 6749 §5.2)", "content": {"application/json": {
    "schema": {"type": "object", "properties": {"error": {"type": "string"},
                                                 "error_description": {"type": "string"}},
               "required": ["error"]}}}}

OAUTH_OPENAPI_EXTRA: dict[tuple[str, str], dict[str, Any]] = {
    ("/token", "post"): _form({
        "grant_type": {"type": "string", "enum": [
            "authorization_code", "refresh_token", "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code"]},
        "code": _text("authorization code (RFC 6749 §4.1.3)"),
        "redirect_uri": _text("the redirect_uri of the authorization request"),
        "code_verifier": _text("PKCE verifier (RFC 7636 §4.5)"),
        "refresh_token": _text("RFC 6749 §6"),
        "scope": _text("space-separated scopes"),
        "resource": _text("RFC 8707 resource indicator"),
        "device_code": _text("RFC 8628 §3.4"),
        **CLIENT_AUTH}, ["grant_type"]),
    ("/device_authorization", "post"): _form({
        "scope": _text("space-separated scopes (RFC 8628 §3.1)"),
        "resource": _text("RFC 8707 resource indicator"),
        **CLIENT_AUTH}, []),
    ("/introspect", "post"): _form({
        "token": _text("the token to introspect (RFC 7662 §2.1)"),
        "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
        **CLIENT_AUTH}, ["token"]),
    ("/revoke", "post"): _form({
        "token": _text("the token to revoke (RFC 7009 §2.1)"),
        "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
        **CLIENT_AUTH}, ["token"]),
    ("/userinfo", "post"): _form({"access_token": _text("RFC 6750 §2.2")}, []),
}
for extra in OAUTH_OPENAPI_EXTRA.values():
    extra["responses"] = {"400": OAUTH_ERROR, "401": OAUTH_ERROR}


def patched(schema: dict[str, Any]) -> dict[str, Any]:
    """The served schema with the descriptions above (where a route lacks them) and one
    operationId per operation (routes serving GET and POST share FastAPI's generated id)."""
    schema = copy.deepcopy(schema)
    seen: set[str] = set()
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            extra = OAUTH_OPENAPI_EXTRA.get((path, method))
            if extra and "requestBody" not in operation:
                operation["requestBody"] = extra["requestBody"]
                operation.setdefault("responses", {}).update(extra["responses"])
            op_id = operation.get("operationId", f"{method}_{path}")
            if op_id in seen:
                operation["operationId"] = f"{op_id}_{method}"
            seen.add(operation["operationId"] if "operationId" in operation else op_id)
    return schema
