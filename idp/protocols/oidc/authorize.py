"""The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2) as a pipeline:

    validate (authlib) -> decide (policy: login? consent?) -> interact or issue the code

Until the client and its redirect URI are validated, every error is a page at the OP, never a
redirect (RFC 6749 §4.1.2.1); after that, errors go back to the client with `state`.
SignIns (login, consent) are handed to the web UI, which sends the browser back to
/authorize/resume/{id}, where the same pipeline runs again on the saved parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import (
    AccountSelectionRequiredError,
    ConsentRequiredError,
    LoginRequiredError,
)
from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from idp.http.problems import PageError
from idp.mfa.policy import requested_acr_values
from idp.protocols.oidc.adapter import (
    IdpRequest,
    InsecureTransportError,
    MultiItems,
    client_ip,
    commit,
    load_clients,
    oauth_request,
    read_params,
    respond,
    run,
)
from idp.protocols.oidc.context import OAuthContext, bound
from idp.protocols.oidc.policy import Decision, RequestFacts, decide
from idp.protocols.oidc.server import SERVER
from idp.sso.access import refusal
from idp.sso.identities import choice_extra
from idp.sso.signins import PendingSignIn

if TYPE_CHECKING:
    from idp.services import Services


def _decision_error(reason: str | None, redirect_uri: str) -> OAuth2Error:
    if reason == "login_required":
        return LoginRequiredError(redirect_uri=redirect_uri)
    if reason == "consent_required":
        return ConsentRequiredError(redirect_uri=redirect_uri)
    if reason == "account_selection_required":
        return AccountSelectionRequiredError(redirect_uri=redirect_uri)
    return InvalidRequestError("id_token_hint is not valid for this client.",
                               redirect_uri=redirect_uri)


async def authorize(services: Services, request: Request) -> Response:
    query, form = await read_params(request)
    return await run_authorization(services, request, query if request.method == "GET" else form)


async def resume(services: Services, request: Request, signin_id: str) -> Response:
    """Back from the login or consent page: the signin is single use."""
    signin = await services.signins.take(signin_id)
    if signin is None:
        raise PageError(400, "interaction_expired_title", "interaction_expired")
    return await run_authorization(services, request, list(signin.request.items()),
                                   resumed=signin)


async def run_authorization(services: Services, request: Request, params: MultiItems, *,
                            resumed: PendingSignIn | None = None) -> Response:
    ctx = OAuthContext(services, ip=client_ip(request))
    try:
        req = _request_for(services, request, params)
    except InsecureTransportError:
        raise PageError(400, "insecure_transport_title", "insecure_transport") from None
    await load_clients(ctx, [req.payload.client_id])
    with bound(ctx):
        try:
            grant = SERVER.get_authorization_grant(req)
            grant.validate_no_multiple_request_parameter(req)
            redirect_uri = grant.validate_authorization_request()
        except OAuth2Error as error:
            return _error_response(request, req, error)
        except ValueError:
            # authlib refuses to build an error whose description would echo characters
            # outside RFC 6749's %x20-21 / %x23-5B / %x5D-7E (a non-ASCII response_type or
            # redirect_uri): the request is malformed, and no redirect can be trusted
            raise PageError(400, "authorize_invalid_title", "authorize_malformed") from None
    if resumed is not None and resumed.denied:
        return respond(run(ctx, lambda: SERVER.create_authorization_response(
            req, grant_user=None, grant=grant)))
    facts = _facts(req)
    decision = await decide(services, facts, request.cookies.get(
        services.settings.session.cookie_name), resumed)
    if decision.action == "denied":
        return await _denied(services, request, req, facts, decision, redirect_uri)
    if decision.action == "error":
        return _error_response(request, req, _decision_error(decision.reason, redirect_uri))
    if decision.action in ("login", "consent", "identity"):
        return await _interact(services, req, facts, decision)
    return await _issue(ctx, req, grant, decision)


async def _denied(services: Services, request: Request, req: IdpRequest, facts: RequestFacts,
                  decision: Decision, redirect_uri: str) -> Response:
    """Outside the app's access rule: the refusal page, and the client gets nothing — except
    access_denied when it asked for no page at all (prompt=none)."""
    assert decision.person is not None
    await services.audit.record("access", "denied", actor=decision.person.username,
                                client_id=facts.client.client_id, ip=client_ip(request),
                                protocol="oidc")
    if "none" in facts.prompts:
        return _error_response(request, req, AccessDeniedError(redirect_uri=redirect_uri))
    raise refusal(facts.client.row.name, services.settings.site.support_contact)


def _request_for(services: Services, request: Request, params: MultiItems) -> IdpRequest:
    """POST /authorize carries the parameters in the body (OIDC Core §3.1.2.1); GET and the
    resumed request carry them as query-style parameters."""
    if request.method == "POST":
        return oauth_request(services, request, [], params)
    return oauth_request(services, request, params, [])


def _facts(req: IdpRequest) -> RequestFacts:
    data = req.payload.data
    max_age = data.get("max_age")
    return RequestFacts(
        client=req.client, scopes=(req.scope or "").split(),
        prompts=set((data.get("prompt") or "").split()),
        max_age=int(max_age) if max_age is not None else None,
        id_token_hint=data.get("id_token_hint"), acr_values=requested_acr_values(data),
    )


def _error_response(request: Request, req: IdpRequest, error: OAuth2Error) -> Response:
    """Back to the client when its redirect URI is known; a page at the provider otherwise."""
    error.state = req.payload.state
    if error.redirect_uri:
        return respond(error())
    # the title speaks to the person; the detail (the OAuth error, RFC 6749 §4.1.2.1) is for the
    # app's developers, who are the ones able to fix it
    raise PageError(400, "authorize_invalid_title",
                    f"{error.error}: {error.description or ''}".rstrip(": "))


async def _interact(services: Services, req: IdpRequest, facts: RequestFacts,
                    decision: Decision) -> Response:
    """Park the request as a pending sign-in (idp/sso/signins.py) and send the browser to the
    page it needs; the pages send it back to /authorize/resume/{id}."""
    data = req.payload.data
    page = decision.action
    extra = choice_extra(decision.candidates) if page == "identity" else dict(decision.extra)
    signin = await services.signins.start(
        protocol="oidc", resume="/authorize/resume/{id}",
        page=page, request=dict(data),
        app_id=facts.client.client_id, app_name=facts.client.row.name, scopes=facts.scopes,
        login_hint=data.get("login_hint"), ui_locales=data.get("ui_locales"),
        reason=decision.reason, acr_values=facts.acr_values,
        required_scopes=decision.required, declined_scopes=decision.declined,
        # a consent or identity page belongs to the session that is signed in right now
        sid=decision.session.sid if page != "login" and decision.session else None,
        extra=extra,
    )
    return RedirectResponse(signin.page_url, status_code=303,
                            headers={"Cache-Control": "no-store"})


async def _issue(ctx: OAuthContext, req: IdpRequest, grant: object,
                 decision: Decision) -> Response:
    ctx.session = decision.session
    ctx.granted_scopes = decision.granted_scopes
    result = run(ctx, lambda: SERVER.create_authorization_response(
        req, grant_user=decision.person, grant=grant))
    if result[0] == 302 and decision.session is not None:
        session = decision.session
        # which identity the app got, when the person has several (its logout token names it)
        as_subject = decision.person.subject if decision.person is not None \
            and len(session.identities) > 1 else None
        # the session's link to the app goes with the code, in the same Store round trip
        puts, members = ctx.services.sessions.client_link(session.sid, req.client.client_id,
                                                          as_subject)
        ctx.store_puts += puts
        ctx.store_members += members
    await commit(ctx, kind="authorize")
    response = respond(result)
    response.headers["Cache-Control"] = "no-store"
    return response
