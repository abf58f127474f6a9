"""Whether an authorization request needs a login or a consent first (OIDC Core §3.1.2.3-4).

A login is needed when there is no SSO session, prompt=login, the session is older than
max_age (max_age=0 is prompt=login), or id_token_hint names someone else. A login or consent the
person has *just* completed for this very request (the signin being resumed) satisfies
prompt=login, max_age and prompt=consent, so the flow never loops. With prompt=none, a needed
page is an error back to the client instead (login_required / consent_required).

Consent is per scope: the person may untick any scope the app asks for except the required ones
(openid, and those its registration marks, required_scopes.py). The answer is stored, granted and
declined alike; a later request whose every scope was answered before reuses it and is issued
only what was granted, and a request for more shows the page again with the earlier choices.

Several identities (idp/sso/identities.py): when the person's linked identities leave a choice
for this client, the identity page (reason "identity"; with prompt=none the error
account_selection_required), and prompt=select_account asks again however it was remembered.
The identity settled on is the person the code is issued for. The site's own areas (account
page, console, portal) see the entry signed in with.

Step-up: when the client or the person's group requires a second factor, or acr_values asks
for it (idp.mfa.policy), a session that proved only a password gets the second-factor page
(reason "mfa"), never a new password login.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from directory.base import Person
from idp.db.models import Consent, utcnow
from idp.db.pg_direct import pg_direct
from idp.keys.ring import InvalidToken
from idp.mfa.policy import has_second_factor, mfa_requirement
from idp.protocols.oidc.models import OAuthClient
from idp.protocols.oidc.required_scopes import required_for
from idp.sso.access import AccessRule
from idp.sso.identities import identity_for_app
from idp.sso.sessions import SsoSession
from idp.sso.signins import PendingSignIn

if TYPE_CHECKING:
    from idp.services import Services


@dataclass
class Decision:
    action: Literal["issue", "login", "consent", "identity", "error", "denied"]
    reason: str | None = None  # why a login is needed, or the OAuth error code
    session: SsoSession | None = None
    person: Person | None = None
    granted_scopes: list[str] | None = None  # consent (just given, or stored) narrowed the request
    # for the consent page: scopes the person may not untick, and those unticked last time
    required: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    candidates: tuple[Person, ...] = ()  # the identities the choice page offers
    # what the pending sign-in carries for the resume: the identity settled on (and its name,
    # for the consent page), kept through the second-factor or consent page
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class RequestFacts:
    """The parts of the authorization request the policy reads."""

    client: OAuthClient
    scopes: list[str]  # requested scopes the client may have
    prompts: set[str]
    max_age: int | None
    id_token_hint: str | None
    acr_values: list[str] = field(default_factory=list)  # acr_values + essential acr claim


async def hinted_subject(services: Services, hint: str | None, client_id: str) -> str | None:
    """The sub of an id_token_hint we issued (expired ones are fine, OIDC Core §3.1.2.1).
    Raises ValueError for a hint we did not issue or that was altered."""
    if not hint:
        return None
    try:
        _, claims = services.keys.verify(hint)
    except InvalidToken as exc:
        raise ValueError(f"id_token_hint is not valid: {exc}") from None
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if claims.get("iss") != services.settings.issuer or client_id not in audiences:
        raise ValueError("id_token_hint was not issued to this client by this provider")
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


@dataclass(frozen=True)
class StoredConsent:
    """A person's answers to one app's consent page: scopes granted, optional scopes unticked."""

    granted: frozenset[str]
    declined: frozenset[str]

    def answers(self, scopes: list[str]) -> bool:
        """Was the person asked about every one of these scopes before?"""
        return set(scopes) <= self.granted | self.declined


async def stored_consent(services: Services, subject: str, client_id: str
                         ) -> StoredConsent | None:
    direct = pg_direct(services.engine)
    if direct is not None:  # every authorization of an app that asks for consent: no ORM
        found = await direct.consented_scopes(subject, client_id)
    else:
        async with services.db() as db:
            row = (await db.execute(select(Consent.scopes, Consent.declined).where(
                Consent.subject == subject, Consent.client_id == client_id))).first()
        found = (row[0] or [], row[1] or []) if row is not None else None
    if found is None:
        return None
    return StoredConsent(frozenset(found[0]), frozenset(found[1]))


async def save_consent(services: Services, subject: str, client_id: str, requested: list[str],
                       granted: list[str]) -> None:
    """Today's answer for the scopes asked today (what was not granted was declined); earlier
    answers about other scopes stay."""
    declined = set(requested) - set(granted)
    for attempt in (1, 2):
        try:
            async with services.db() as db, db.begin():
                row = await db.scalar(select(Consent).where(
                    Consent.subject == subject, Consent.client_id == client_id))
                if row is None:
                    db.add(Consent(subject=subject, client_id=client_id,
                                   scopes=sorted(set(granted)), declined=sorted(declined)))
                    return
                asked = set(requested)
                row.scopes = sorted((set(row.scopes or []) - asked) | set(granted))
                row.declined = sorted((set(row.declined or []) - asked) | declined)
                row.granted_at = utcnow()
                return
        except IntegrityError:
            # the same person answered the same app in another tab a moment ago: that row is
            # there now, and this answer (the later one) updates it
            if attempt == 2:
                raise


async def decide(services: Services, facts: RequestFacts, cookie_sid: str | None,
                 resumed: PendingSignIn | None) -> Decision:
    session = await services.sessions.get(cookie_sid)
    # the signin being resumed was completed by this browser's current session
    resumed_here = (resumed is not None and session is not None and resumed.sid == session.sid)
    none = "none" in facts.prompts
    try:
        hint_sub = await hinted_subject(services, facts.id_token_hint, facts.client.client_id)
    except ValueError:
        return Decision("error", "invalid_request")

    reason = _login_reason(facts, session, hint_sub, resumed_here)
    person = None
    if reason is None and session is not None:
        person = await services.directory.by_subject(session.subject)
        if person is None or person.disabled:
            reason = "account_unavailable"
        elif _needs_step_up(services, facts, session, person):
            reason = "mfa"  # the second-factor page, not a new password login
    if reason is not None or session is None or person is None:
        return Decision("error", "login_required") if none else Decision("login", reason)
    rule = AccessRule.of(facts.client.row.extra)
    # the identity settled on rides along through the pages still to come (second factor,
    # consent), so prompt=select_account asks once, not again when they resume
    chosen: dict[str, object] = {}
    if not facts.client.row.extra.get("internal"):
        outcome = await identity_for_app(
            services, session, person, facts.client.client_id, rule,
            select_again="select_account" in facts.prompts, resumed=resumed)
        if outcome.person is None:
            if none:
                return Decision("error", "account_selection_required")
            return Decision("identity", "identity", session=session, person=person,
                            candidates=outcome.candidates)
        if outcome.person.subject != person.subject \
                and _needs_step_up(services, facts, session, outcome.person):
            # the identity chosen requires a second factor the entry signed in with did not
            if none:
                return Decision("error", "login_required")
            return Decision("login", "mfa", extra={"identity": outcome.person.subject})
        person = outcome.person
        if len(outcome.candidates) > 1:
            # the consent page names the identity the app is about to get
            chosen = {"identity": person.subject, "identity_name": person.name or person.username}
    if not rule.allows(person):
        # signed in, but outside the app's rule (idp/sso/access.py): no code, no consent page
        return Decision("denied", "access_denied", session=session, person=person)

    if facts.client.row.skip_consent:
        return Decision("issue", session=session, person=person)
    required = required_for(facts.client.row.extra, facts.scopes)
    if resumed is not None and resumed.page == "consent" and resumed_here \
            and resumed.granted_scopes is not None:
        # what the person ticked, and what they could not untick (checked by the page, and
        # here again against the registration as it is now)
        granted = [s for s in facts.scopes if s in resumed.granted_scopes or s in required]
        await save_consent(services, person.subject, facts.client.client_id, facts.scopes, granted)
        return Decision("issue", session=session, person=person, granted_scopes=granted)
    stored = await stored_consent(services, person.subject, facts.client.client_id)
    if "consent" in facts.prompts or stored is None or not stored.answers(facts.scopes) \
            or stored.declined & set(required):
        # asked for something new (or something declined has since become required): the page
        # again, with the earlier choices
        if none:
            return Decision("error", "consent_required")
        declined = [s for s in facts.scopes if stored and s in stored.declined
                    and s not in required]
        return Decision("consent", session=session, person=person, required=required,
                        declined=declined, extra=chosen)
    # the same scopes (or fewer) as last time: the same answer, never more than was granted
    granted = [s for s in facts.scopes if s in stored.granted]
    return Decision("issue", session=session, person=person, granted_scopes=granted)


def _needs_step_up(services: Services, facts: RequestFacts, session: SsoSession,
                   person: Person) -> bool:
    """A password-only session meets a client, group or acr_values that requires a second
    factor (idp.mfa.policy)."""
    if has_second_factor(session.amr, session.acr):
        return False
    return mfa_requirement(services.settings, client_extra=facts.client.row.extra, person=person,
                           acr_values=facts.acr_values) is not None


def _login_reason(facts: RequestFacts, session: SsoSession | None, hint_sub: str | None,
                  resumed_here: bool) -> str | None:
    if session is None:
        return "no_session"
    if resumed_here:
        return None
    if "login" in facts.prompts:
        return "prompt_login"
    if facts.max_age is not None and (facts.max_age == 0 or session.age() > facts.max_age):
        return "max_age"
    if hint_sub is not None and hint_sub not in (session.identities or [session.subject]):
        return "id_token_hint"  # someone else: the hint may name any of the person's identities
    return None
