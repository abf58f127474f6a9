"""The protocol engine: one readable list of what is switched on (like fosite's compose).

authlib does the protocol; our code only supplies storage through the prefetched OAuthContext
(context.py). Anything not registered here is not offered, and discovery.py says the same.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request

from idp.protocols.oidc.context import current
from idp.protocols.oidc.device_grant import DeviceCodeGrant
from idp.protocols.oidc.endpoints import Introspection, Revocation, userinfo_endpoint
from idp.protocols.oidc.grants import (
    AuthorizationCodeGrant,
    AuthorizationRequestChecks,
    ClientCredentialsGrant,
    OpenIDConnectCode,
    OpenIDRefresh,
    PrivateKeyJwt,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from idp.protocols.oidc.models import OAuthClient
from idp.protocols.oidc.tokens import TokenFactory

Response = tuple[int, Any, list[tuple[str, str]]]


class IdpAuthorizationServer(AuthorizationServer):
    """authlib's AuthorizationServer over prefetched data; responses come back as
    (status, body, headers) for the adapter to send."""

    def query_client(self, client_id: str) -> OAuthClient | None:
        # inactive (pending, disabled) clients were never put in the context: invalid_client
        return current().clients.get(client_id) if isinstance(client_id, str) else None

    def authenticate_client(self, request: OAuth2Request, methods: list[str],
                            endpoint: str = "token") -> OAuthClient:
        """RFC 6749 §2.3. The token endpoint authenticates the client before it takes a code
        (adapter.authenticated_client); authlib's own call then reads that answer."""
        done = current().authenticated
        if done is not None and done[0] == (tuple(methods), endpoint):
            _, client, method = done
            request.auth_method = method
            return client
        return super().authenticate_client(request, methods, endpoint)  # type: ignore[no-any-return]

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        ctx = current()
        grant_type = request.payload.grant_type
        user = request.user
        ctx.note("success", actor=user.subject if user else request.client.get_client_id(),
                 client_id=request.client.get_client_id(), grant=grant_type,
                 scope=token.get("scope"))

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request  # the adapter already built it

    def create_json_request(self, request: Any) -> Any:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """authlib's signals: nothing listens; audit notes are recorded explicitly."""


def build_server() -> IdpAuthorizationServer:
    server = IdpAuthorizationServer()
    server.register_token_generator("default", TokenFactory())
    # client authentication (OIDC Core §9): client_secret_basic/post and none are built in
    server.register_client_auth_method("private_key_jwt", PrivateKeyJwt())
    # grants
    server.register_grant(AuthorizationCodeGrant, [
        S256CodeChallenge(required=True), AuthorizationRequestChecks(), OpenIDConnectCode(),
    ])
    server.register_grant(RefreshTokenGrant, [OpenIDRefresh()])
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(DeviceCodeGrant)  # RFC 8628; /device_authorization: device_authorization.py
    # endpoints
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    server.register_endpoint(userinfo_endpoint())
    return server


# stateless apart from configuration: one per process serves every app and request
SERVER = build_server()
