"""The token endpoint's side of device sign-in (RFC 8628 §3.4, §3.5): the device polls with its
device code and hears `authorization_pending`, `slow_down`, `access_denied`, `expired_token`,
or, once, its tokens.

The adapter polled the Store before authlib runs (adapter.poll_device); here we only read the
answer. An approved authorization carries its sign-in as an authorization code would (a
StoredCode in the context), so the tokens, the ID token and the refresh token's sign-in facts
are made exactly as for the code grant, and the same check that a revocation of the person did
not overtake the redemption applies (adapter.commit).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc8628 import DeviceCodeGrant as AuthlibDeviceCodeGrant
from authlib.oauth2.rfc8628.errors import AuthorizationPendingError, ExpiredTokenError, SlowDownError
from authlib.oidc.core.grants.util import is_openid_scope

from idp.protocols.oidc.context import current
from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT
from idp.protocols.oidc.grants import ALL_AUTH_METHODS, _active_person
from idp.protocols.oidc.tokens import encode_id_token
from idp.sso.access import AccessRule


class DeviceCodeGrant(AuthlibDeviceCodeGrant):
    """`grant_type=urn:ietf:params:oauth:grant-type:device_code`, for clients registered for it,
    public ones included (RFC 8628 §3.4: `client_id` alone)."""

    GRANT_TYPE = DEVICE_CODE_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def validate_token_request(self) -> None:
        if not self.request.payload.data.get("device_code"):
            raise InvalidRequestError("Missing 'device_code'.")
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client is not registered for the device grant.")
        ctx = current()
        poll = ctx.device_poll
        outcome = poll.outcome if poll is not None else "unknown"
        if outcome == "unknown":
            raise InvalidGrantError("The device_code is unknown, already used, or another "
                                    "client's.")
        if outcome == "expired":
            raise ExpiredTokenError("The device_code has expired: start again.")
        if outcome == "denied":
            raise AccessDeniedError("The person refused the request.")
        if outcome == "slow_down":
            raise SlowDownError(f"Polling too fast: wait {poll.interval} seconds between "
                                "requests.")
        if outcome == "pending":
            raise AuthorizationPendingError("The person has not answered yet.")
        code = ctx.code
        assert code is not None  # approved: the adapter put its sign-in there
        person = _active_person(ctx.person, code.subject)
        if not AccessRule.of(client.row.extra).allows(person):
            ctx.note("access_denied", actor=person.username, client_id=client.client_id,
                     grant="device_code")
            raise InvalidGrantError("This person may no longer use this app.")
        self.request.user = person
        self.request.client = client
        self.request.credential = poll.record

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        ctx = current()
        client = self.request.client
        code = ctx.code
        assert code is not None
        token = self.generate_token(user=self.request.user, scope=code.scope,
                                    include_refresh_token=True)
        if is_openid_scope(code.scope):
            # OIDC Core §3.1.3.3 for a grant without a redirect: the ID token tells the device
            # who signed in (no nonce: the device never sent one)
            token["id_token"] = encode_id_token(ctx, client, self.request.user, token, nonce=None)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
