"""FastAPI <-> authlib: build the OAuth2Request, prefetch what authlib will read, run it, then
await what it recorded (refresh token rows, revocations, audit) before the response is sent.

Each endpoint is a pipeline of named steps: `prefetch_*` (async), `run` (sync authlib call
inside the bound context), `commit` (async), `respond`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError, OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, Response

from idp.http.forms import TooManyFields, is_form, parse_form
from idp.keys.ring import InvalidToken
from idp.protocols.oidc import ledger
from idp.protocols.oidc.context import OAuthContext, bound
from idp.protocols.oidc.device_codes import DEVICE_CODE_GRANT, DeviceCodes
from idp.protocols.oidc.device_grant import DeviceCodeGrant
from idp.protocols.oidc.grants import (
    AuthorizationCodeGrant,
    RefreshTokenGrant,
    unverified_assertion,
)
from idp.protocols.oidc.models import AccessToken, OAuthClient, RefreshGrant
from idp.protocols.oidc.server import SERVER
from idp.protocols.oidc.server import Response as AuthlibResponse
from idp.protocols.oidc.tokens import access_jti, token_digest
from idp.sso.apps import client_cache

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger("idp.oauth")

MultiItems = list[tuple[str, str]]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class Payload(OAuth2Payload):
    """Request parameters: the first value of each (authlib's view) plus every value
    (`datalist`, for the repeated-parameter checks of RFC 6749 §3.1)."""

    def __init__(self, items: MultiItems) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class IdpRequest(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: Any, query: MultiItems,
                 form: MultiItems) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = Payload(query).data
        self._form = Payload(form).data
        self.payload = Payload(form if method == "POST" else query)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def read_params(request: Request) -> tuple[MultiItems, MultiItems]:
    """(query items, form items); a body that is not a form counts as empty."""
    # most back-channel requests carry no query string: skip building QueryParams for them
    query = list(request.query_params.multi_items()) if request.scope.get("query_string") else []
    form: MultiItems = []
    if request.method == "POST" and is_form(request.headers.get("content-type", "")):
        try:
            form = parse_form(await request.body())
        except TooManyFields:
            raise HTTPException(400, "Too many form fields.") from None
    return query, form


def oauth_request(services: Services, request: Request, query: MultiItems,
                  form: MultiItems) -> IdpRequest:
    """The public URL (issuer + path) is what authlib sees, not the socket's: behind a TLS
    proxy the socket says http while clients spoke https. Path and query are taken from the
    scope as starlette's URL would give them, without building the whole URL."""
    scope = request.scope
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    uri = services.settings.issuer + path
    raw_query = scope.get("query_string", b"")
    if raw_query:
        uri += "?" + raw_query.decode("utf-8", "replace")
    return IdpRequest(request.method, uri, request.headers, query, form)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- prefetch ------------------------------------------------------------------------------


async def load_clients(ctx: OAuthContext, client_ids: Iterable[str | None]) -> None:
    cache = client_cache(ctx.services.db)
    for client_id in {cid for cid in client_ids if isinstance(cid, str) and 0 < len(cid) <= 64}:
        row = await cache.get(client_id)
        # a CAS service is an app of the same table, never an OAuth client
        if row is not None and row.status == "active" and row.protocol == "oidc":
            ctx.clients[client_id] = OAuthClient(row)


def named_clients(req: IdpRequest) -> list[str | None]:
    """Every client id the request names: Basic auth, the body, a client assertion's sub."""
    basic_id, _ = extract_basic_authorization(req.headers)
    ids = [basic_id, req.form.get("client_id"), req.args.get("client_id")]
    assertion = req.form.get("client_assertion")
    claims = unverified_assertion(assertion) if assertion else None
    if claims and isinstance(claims.get("sub"), str):
        ids.append(claims["sub"])
    return ids


async def reserve_assertion_jti(ctx: OAuthContext, req: IdpRequest) -> None:
    """RFC 7523 §3 item 7: a client assertion is usable once. Reserved with an atomic add()
    before the signature is checked; jtis are random, so nobody else can burn a client's."""
    assertion = req.form.get("client_assertion")
    claims = unverified_assertion(assertion) if assertion else None
    if not claims:
        return
    jti, sub, exp = claims.get("jti"), claims.get("sub"), claims.get("exp")
    if not isinstance(jti, str) or not isinstance(sub, str) or not isinstance(exp, int | float):
        return
    ttl = int(min(max(exp - time.time(), 0), 3600)) + 120
    key = f"assertion-jti:{token_digest(sub)}:{token_digest(jti)}"
    ctx.assertion_jti_fresh = await ctx.services.store.add(key, "1", ttl)


async def load_person(ctx: OAuthContext, subject: str) -> None:
    ctx.person = await ctx.services.directory.by_subject(subject)


async def prefetch_client(ctx: OAuthContext, req: IdpRequest) -> None:
    """What client authentication reads: the clients the request names, its assertion's jti."""
    await load_clients(ctx, named_clients(req))
    await reserve_assertion_jti(ctx, req)


def authenticated_client(ctx: OAuthContext, req: IdpRequest,
                         methods: list[str]) -> OAuthClient | None:
    """Client authentication (RFC 6749 §2.3) as authlib will do it, done now, so that nothing is
    taken or revoked for a request that is not its client's; authlib reads the answer later
    (IdpAuthorizationServer.authenticate_client) instead of doing it again."""
    with bound(ctx):
        try:
            client = SERVER.authenticate_client(req, methods)
        except OAuth2Error:
            return None
    ctx.authenticated = ((tuple(methods), "token"), client, req.auth_method)
    return client


async def prefetch_token_request(ctx: OAuthContext, req: IdpRequest) -> None:
    await prefetch_client(ctx, req)
    grant_type = req.form.get("grant_type")
    if grant_type == "authorization_code" and req.form.get("code"):
        client = authenticated_client(ctx, req, AuthorizationCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS)
        if client is not None and client.check_grant_type("authorization_code"):
            await redeem_code(ctx, req, client)
    elif grant_type == DEVICE_CODE_GRANT and req.form.get("device_code"):
        client = authenticated_client(ctx, req, DeviceCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS)
        if client is not None and client.check_grant_type(DEVICE_CODE_GRANT):
            await poll_device(ctx, req, client)
    elif grant_type == "refresh_token" and req.form.get("refresh_token"):
        await prefetch_refresh(ctx, req, token_digest(req.form["refresh_token"]))


async def prefetch_refresh(ctx: OAuthContext, req: IdpRequest, digest: str) -> None:
    """The authenticated client's refresh token is claimed at once, its successor inserted by
    the same statement (ledger.claim_refresh): a grant costs the database one statement, not a
    lookup and then a rotation. When nothing could be claimed, the row is looked up as it is
    (unknown, another client's, expired, rotated: a reuse revokes its family), and authlib
    refuses the grant."""
    client = authenticated_client(ctx, req, RefreshTokenGrant.TOKEN_ENDPOINT_AUTH_METHODS)
    row = None
    if client is not None and client.check_grant_type("refresh_token"):
        successor = secrets.token_urlsafe(32)
        claimed = await ledger.claim_refresh(ctx.services, digest, client.get_client_id(),
                                             token_digest(successor))
        if claimed is not None:
            row, ctx.claim = claimed
            ctx.planned_refresh = successor  # the value whose digest the successor row has
    if row is None:
        row = await ledger.refresh_row(ctx.services, digest)
    if row is not None:
        ctx.refresh = RefreshGrant(row)
        await load_person(ctx, row.subject)


async def redeem_code(ctx: OAuthContext, req: IdpRequest, client: OAuthClient) -> None:
    """Take the authenticated client's code (or meet the trace of its earlier redemption and
    revoke what that issued). Another client's code, or a public client's without its
    verifier, is not found: nothing is taken and nothing revoked."""
    digest = token_digest(req.form["code"])
    key = ledger.redemption_key(digest, client.get_client_id(), client.is_public,
                                req.form.get("code_verifier"))
    if key is None:
        return
    ctx.code_digest = digest
    # what this redemption will issue is named now, so the code's trace can say it
    ctx.planned_refresh, ctx.planned_family = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    ctx.planned_jti = access_jti(token_digest(ctx.planned_refresh))
    exp = int(time.time()) + ctx.services.settings.tokens.access_token_ttl + 5
    trace, ttl = ledger.code_trace(ctx.services, jti=ctx.planned_jti, exp=exp,
                                   family=ctx.planned_family)
    ctx.code, replayed = await ledger.redeem_code(ctx.services, key, trace, ttl)
    if ctx.code is not None:
        await load_person(ctx, ctx.code.subject)
    elif replayed is not None:
        await ledger.revoke_code_grants(ctx.services, replayed)
        ctx.note("code_replay", client_id=client.get_client_id(),
                 jti=replayed.get("jti"), family=replayed.get("family"))


async def poll_device(ctx: OAuthContext, req: IdpRequest, client: OAuthClient) -> None:
    """The authenticated client's device code, polled (device_codes.py): only its own client
    may poll it, so nobody else can spend its pace or hear its answer. An approved one was
    taken out of the Store by this poll; its sign-in becomes the context's code."""
    codes = DeviceCodes(ctx.services.store, ctx.services.settings.device)
    poll = await codes.poll(req.form["device_code"], client.get_client_id())
    ctx.device_poll = poll
    if poll.outcome == "approved" and poll.record is not None:
        ctx.code = poll.record.stored_code()
        ctx.resource = list(poll.record.resource)
        await load_person(ctx, ctx.code.subject)


async def prefetch_presented_token(ctx: OAuthContext, token: str | None, *,
                                   refresh_tokens: bool = True) -> None:
    """Introspection / revocation / userinfo: our JWT access token (verified, then checked
    against the revoked-jti list) or, where they count, a refresh token (by digest)."""
    if not token or len(token) > 16 * 1024:
        return
    if token.count(".") == 2:
        ctx.access_token = await verified_access_token(ctx.services, token)
        return
    if not refresh_tokens:
        return
    row = await ledger.refresh_row(ctx.services, token_digest(token))
    if row is not None:
        ctx.refresh = RefreshGrant(row)


async def verified_access_token(services: Services, token: str) -> AccessToken | None:
    try:
        _, claims = services.keys.verify_claims(token, issuer=services.settings.issuer,
                                                typ="at+jwt", leeway=0)
    except InvalidToken:
        return None
    return AccessToken(claims, revoked=await ledger.access_token_revoked(services, claims))


# --- run, commit, respond -------------------------------------------------------------------


def run(ctx: OAuthContext, call: Callable[[], AuthlibResponse]) -> AuthlibResponse:
    with bound(ctx):
        return call()


async def commit(ctx: OAuthContext, *, kind: str = "token") -> bool:
    """Await what authlib recorded. False when a concurrent request rotated the same refresh
    token first, or the code being redeemed was replayed, or its sign-in revoked
    (idp/sso/revocation.py), while the redemption was issuing: then nothing this request issued
    may be sent (and the family is revoked)."""
    services = ctx.services
    if ctx.new_refresh is not None:
        claimed = ctx.claim is not None and ctx.rotated_digest == ctx.claim.digest \
            and ctx.new_refresh.digest == ctx.claim.successor
        # a claimed token was rotated and its successor inserted by the claim (prefetch_refresh)
        if not claimed and not await ledger.store_refresh(services, ctx.new_refresh,
                                                          ctx.rotated_digest):
            family = ctx.refresh.row.family_id if ctx.refresh is not None else None
            await ledger.revoke_families(services, [family] if family else [])
            await services.audit.record(kind, "refresh_reuse", actor=ctx.new_refresh.subject,
                                        client_id=ctx.new_refresh.client_id, ip=ctx.ip)
            return False
        family = ctx.new_refresh.family_id
        if ctx.code is not None and await ledger.redemption_revoked(services, ctx.code, family):
            # its row came too late for the replay's or the revocation's reach: revoke it now
            # and send nothing
            await ledger.revoke_families(services, [family])
            await services.audit.record(kind, "invalid_grant", actor=ctx.code.subject,
                                        client_id=ctx.code.client_id, ip=ctx.ip,
                                        grant="authorization_code", reason="revoked")
            return False
    await ledger.revoke_families(services, ctx.revoke_families)
    if ctx.store_puts or ctx.store_members:
        await services.store.write_many(ctx.store_puts, ctx.store_members)
    for write in ctx.writes:
        await write()
    for note in ctx.audit:
        # a token issued is written behind its response (its grant is durable already: the
        # code taken, the refresh token's row committed); a machine's is summarised; a refusal
        # waits for its row (idp/db/audit.py)
        record = services.audit.record
        if note.outcome == "success":
            machine = note.detail.get("grant") == "client_credentials"
            record = services.audit.record_machine if machine else services.audit.record_behind
        await record(kind, note.outcome, actor=note.actor, client_id=note.client_id, ip=ctx.ip,
                     **note.detail)
    ctx.record_releases()  # only now: nothing is released by a response that is not sent
    return True


async def give_back_claim(ctx: OAuthContext) -> None:
    """The grant did not issue the claimed refresh token's successor: give the claim back."""
    claim, ctx.claim = ctx.claim, None
    if claim is not None:
        await ledger.release_claim(ctx.services, claim)


async def audit_failure(ctx: OAuthContext, req: IdpRequest, result: AuthlibResponse) -> None:
    status, body, _ = result
    error = body.get("error") if isinstance(body, dict) else None
    if status >= 400 and error in ("invalid_grant", "invalid_client", "unauthorized_client"):
        basic_id, _ = extract_basic_authorization(req.headers)
        await ctx.services.audit.record(
            "token", error, client_id=basic_id or req.form.get("client_id"), ip=ctx.ip,
            grant=req.form.get("grant_type"),
        )


def respond(result: AuthlibResponse) -> Response:
    status, body, headers = result
    header_map = {name: value for name, value in headers}
    if isinstance(body, dict):
        header_map.pop("Content-Type", None)
        response: Response = JSONResponse(body, status_code=status, headers=header_map)
    else:
        response = Response(body or b"", status_code=status, headers=header_map)
    return response


def insecure() -> JSONResponse:
    return JSONResponse({"error": "invalid_request",
                         "error_description": "OAuth 2.0 requires https (RFC 6749 section 10.9)."},
                        status_code=400, headers=NO_STORE)


__all__ = ["InsecureTransportError", "IdpRequest", "MultiItems", "commit", "load_clients",
           "oauth_request", "prefetch_client", "prefetch_presented_token",
           "prefetch_token_request", "read_params",
           "respond", "run", "insecure", "audit_failure", "client_ip"]
