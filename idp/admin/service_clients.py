"""Clients (relying parties): list, approve pending ones, edit, disable / enable, rotate the
secret, delete (revoking its refresh tokens and consents).

Shares the registration engineer's storage rules (idp/protocols/oidc/registration_store.py): approved
scopes are remembered in `extra["approved_scopes"]`, a rotated secret keeps working for a grace
period, and every change invalidates the engine's client cache (`invalidate_client`) so this
process sees it at once and other replicas within the cache's 30 seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.admin.app_cards import checked_card, with_card
from idp.admin.service_common import Actor, Conflict, Invalid, NotFound, audited
from idp.db.models import Client, RefreshToken
from idp.protocols.cas.attributes import check_names
from idp.protocols.cas.registry import check_entry, is_pattern
from idp.protocols.cas.registry import registry as cas_registry
from idp.protocols.oidc import registration_store, required_scopes
from idp.protocols.oidc.clients import CLIENT_STATUSES, GRANT_TYPES, validate_redirect_uri
from idp.protocols.oidc.registration_metadata import BASIC_SCOPES
from idp.sso.access import AccessRule, checked_rule, with_rule
from idp.sso.apps import invalidate_client

if TYPE_CHECKING:
    from idp.services import Services

# every app's access rule (idp/sso/access.py), kept in extra["access"]
ACCESS = ("allow_groups", "allow_affiliations")
# every app's card in the app portal at / (idp/sso/catalogue.py)
CARD = ("home_url", "icon_url", "description")
EDITABLE = ("name", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri",
            "scopes", "skip_consent", "required_scopes", "grant_types", *ACCESS, *CARD)
# a CAS service's own fields, kept in extra["cas"] (idp/protocols/cas/registry.py)
EDITABLE_CAS = ("name", "services", "slo_url", "attributes", "proxy_callbacks", *ACCESS, *CARD)
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,64}$")  # RFC 6749 §3.3
MAX_URIS = 20


async def list_clients(services: Services, status: str | None = None) -> list[Client]:
    if status is not None and status not in CLIENT_STATUSES:
        raise Invalid(f"status is one of {', '.join(CLIENT_STATUSES)}")
    statement = select(Client).order_by(Client.created_at)
    if status:
        statement = statement.where(Client.status == status)
    async with services.db() as db:
        return list((await db.execute(statement)).scalars())


async def get_client(services: Services, client_id: str) -> Client:
    async with services.db() as db:
        client = await db.get(Client, client_id) if client_id and len(client_id) <= 64 else None
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client


async def active_refresh_tokens(services: Services, client_id: str) -> int:
    """Refresh tokens of the app that still work: neither rotated, revoked nor expired (a
    rotated token's row stays for reuse detection, one per refresh: counting those would count
    every refresh ever made)."""
    async with services.db() as db:
        count = await db.scalar(select(func.count()).select_from(RefreshToken).where(
            RefreshToken.client_id == client_id, RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > datetime.now(UTC)))
    return int(count or 0)


def pending_scopes(client: Client) -> list[str]:
    """The scopes an approval would grant: those no admin has accepted yet."""
    return sorted(set(client.scopes or []) - registration_store.approved_scopes(client))


async def _change(services: Services, client_id: str, apply: Any) -> Client:
    async with services.db() as db, db.begin():
        client = await db.get(Client, client_id, with_for_update=True)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        apply(client)
    invalidate_client(services.db, client_id)
    if client.protocol == "cas":
        cas_registry(services.db).invalidate()
    return client


def _approved(client: Client, scopes: list[str]) -> dict[str, Any]:
    extra = dict(client.extra or {})
    extra["approved_scopes"] = sorted(set(scopes) - set(BASIC_SCOPES))
    if client.protocol == "cas":
        extra["cas_approved"] = cas_approval(extra)
    return extra


def cas_approval(extra: dict[str, Any]) -> dict[str, list[str]]:
    """What an admin has seen of a CAS service: its URLs and attributes. A developer's edit that
    goes beyond it waits for approval again (idp/admin/portal_cas_form.py)."""
    cas = extra.get("cas") or {}
    return {"services": list(cas.get("services") or []),
            "attributes": list(cas.get("attributes") or [])}


async def approve(services: Services, actor: Actor, client_id: str) -> Client:
    def apply(client: Client) -> None:
        if client.status != "pending":
            raise Conflict(f"the app is {client.status}, not pending")
        client.extra = _approved(client, list(client.scopes or []))
        client.status = "active"

    return await audited(services, actor, "approve_client", _change(services, client_id, apply),
                         client_id=client_id)


async def set_status(services: Services, actor: Actor, client_id: str, disabled: bool) -> Client:
    def apply(client: Client) -> None:
        if not disabled and client.status == "pending":
            raise Conflict("a pending client is approved, not enabled")
        client.status = "disabled" if disabled else "active"

    action = "disable_client" if disabled else "enable_client"
    return await audited(services, actor, action, _change(services, client_id, apply),
                         client_id=client_id)


def _uris(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_URIS:
        raise Invalid(f"{what}: a list of at most {MAX_URIS} URIs")
    try:
        return [validate_redirect_uri(uri, what=what) for uri in value]
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def _entries(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_URIS:
        raise Invalid(f"{what}: a list of at most {MAX_URIS} URLs or patterns")
    try:
        return [check_entry(entry, what) for entry in value]
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def clean_cas_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Checked edits of a CAS service: the rules `idp clients add --protocol cas` applies."""
    unknown = sorted(set(changes) - set(EDITABLE_CAS))
    if unknown:
        raise Invalid(f"cannot edit {', '.join(unknown)} of a CAS service "
                      f"(editable: {', '.join(EDITABLE_CAS)})")
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned.update(clean_changes({"name": changes["name"]}))
    if "services" in changes:
        cleaned["services"] = _entries(changes["services"], "service")
        if not cleaned["services"]:
            raise Invalid("a CAS service needs at least one service URL or pattern")
    if "slo_url" in changes:
        slo = changes["slo_url"] or None
        if slo is not None and (not isinstance(slo, str) or is_pattern(slo)):
            raise Invalid("slo_url: a URL (not a pattern), or empty")
        cleaned["slo_url"] = _entries([slo], "single logout URL")[0] if slo else None
    if "proxy_callbacks" in changes:
        callbacks = _entries(changes["proxy_callbacks"], "proxy callback")
        if any(not is_pattern(c) and not c.startswith("https://") for c in callbacks):
            raise Invalid("proxy callbacks must be https (CAS 3.0 section 2.5.4)")
        cleaned["proxy_callbacks"] = callbacks
    if "attributes" in changes:
        attributes = changes["attributes"]
        if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
            raise Invalid("attributes: a list of CAS attribute names")
        try:
            cleaned["attributes"] = check_names(attributes)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
    if not cleaned:
        raise Invalid("nothing to change")
    return cleaned


def _grant_types(value: object) -> list[str]:
    """The grants an admin switches on (the device grant for a command-line tool or a classroom
    display, say): known ones, at least one."""
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise Invalid("grant_types: a list of grant types")
    grants = list(dict.fromkeys(value))
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown:
        raise Invalid(f"grant_types: unknown {unknown[0]!r} (known: {', '.join(GRANT_TYPES)})")
    if not grants:
        raise Invalid("grant_types: at least one")
    return grants


def clean_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Checked client edits: the same URI rules as registration (https, or http on loopback)."""
    unknown = sorted(set(changes) - set(EDITABLE) - set(ACCESS))
    if unknown:
        raise Invalid(f"cannot edit {', '.join(unknown)} (editable: {', '.join(EDITABLE)})")
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise Invalid("name: 1 to 200 characters")
        cleaned["name"] = name.strip()
    for key, what in (("redirect_uris", "redirect URI"),
                      ("post_logout_redirect_uris", "post-logout redirect URI")):
        if key in changes:
            cleaned[key] = _uris(changes[key], what)
    if "backchannel_logout_uri" in changes:
        uri = changes["backchannel_logout_uri"] or None
        cleaned["backchannel_logout_uri"] = _uris([uri], "back-channel logout URI")[0] if uri else None
    if "scopes" in changes:
        scopes = changes["scopes"]
        if not isinstance(scopes, list) or not all(
                isinstance(s, str) and _SCOPE_TOKEN.match(s) for s in scopes):
            raise Invalid("scopes: a list of scope tokens (RFC 6749 section 3.3)")
        cleaned["scopes"] = list(dict.fromkeys(scopes))
    if "skip_consent" in changes:
        if not isinstance(changes["skip_consent"], bool):
            raise Invalid("skip_consent: true or false")
        cleaned["skip_consent"] = changes["skip_consent"]
    if "required_scopes" in changes:
        # checked against the app's scopes (as edited) when the edit is applied
        required = changes["required_scopes"]
        if not isinstance(required, list) or not all(
                isinstance(s, str) and _SCOPE_TOKEN.match(s) for s in required):
            raise Invalid("required_scopes: a list of scope tokens (RFC 6749 section 3.3)")
        cleaned["required_scopes"] = list(dict.fromkeys(required))
    if "grant_types" in changes:
        cleaned["grant_types"] = _grant_types(changes["grant_types"])
    if not cleaned:
        raise Invalid("nothing to change")
    return cleaned


async def set_access_rule(db: async_sessionmaker, client_id: str, rule: AccessRule) -> None:
    """`idp clients add --allow-group/--allow-affiliation`: the new app's rule."""
    async with db() as session, session.begin():
        client = await session.get(Client, client_id)
        if client is not None:
            client.extra = with_rule(client.extra, rule)
    invalidate_client(db, client_id)
    cas_registry(db).invalidate()  # CAS logins read the rule from the registry's snapshot


async def request_access_rule(db: async_sessionmaker, client_id: str, rule: AccessRule,
                              requested_by: str, at: str) -> None:
    """A developer's rule that would let more people in: kept beside the app's rule, for an
    admin to approve (`approve_access_request`) or decline."""
    async with db() as session, session.begin():
        client = await session.get(Client, client_id, with_for_update=True)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        client.extra = {**(client.extra or {}), "access_request": {
            **rule.as_extra(), "requested_by": requested_by, "at": at}}
    invalidate_client(db, client_id)


def requested_rule(client: Client) -> AccessRule | None:
    asked = (client.extra or {}).get("access_request")
    return AccessRule.of({"access": asked}) if asked else None


async def answer_access_request(services: Services, actor: Actor, client_id: str,
                                approve: bool) -> Client:
    """Approve (the requested rule becomes the app's) or decline a developer's request."""
    def apply(client: Client) -> None:
        rule = requested_rule(client)
        if rule is None:
            raise Conflict("the app has no access rule waiting")
        if approve:
            client.extra = with_rule(client.extra, rule)
        else:
            client.extra = {k: v for k, v in (client.extra or {}).items() if k != "access_request"}

    action = "approve_client_access" if approve else "decline_client_access"
    return await audited(services, actor, action, _change(services, client_id, apply),
                         client_id=client_id)


async def set_card(db: async_sessionmaker, client_id: str, card: dict[str, str | None]) -> None:
    """`idp clients add --home-url/--icon-url/--description`: the new app's card."""
    async with db() as session, session.begin():
        client = await session.get(Client, client_id)
        if client is not None:
            client.extra = with_card(client.extra, card)
    invalidate_client(db, client_id)


def _rule_of(client: Client, changes: dict[str, Any]) -> AccessRule | None:
    """The app's new rule when the edit names one side of it (the other side stays)."""
    if not any(key in changes for key in ACCESS):
        return None
    current = AccessRule.of(client.extra)
    groups = changes.get("allow_groups", list(current.groups))
    affiliations = changes.get("allow_affiliations", list(current.affiliations))
    if not isinstance(groups, list) or not isinstance(affiliations, list):
        raise Invalid("allow_groups and allow_affiliations: lists of names")
    try:
        return checked_rule(groups, affiliations)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


async def edit(services: Services, actor: Actor, client_id: str, changes: dict[str, Any]) -> Client:
    """Edit an app: an OIDC client (scopes an admin sets are approved by that very act) or a
    CAS service; either's access rule."""
    found = await get_client(services, client_id)
    rule = _rule_of(found, changes)
    if rule is not None and rule == AccessRule.of(found.extra) and len(changes) > sum(
            key in changes for key in ACCESS):
        rule = None  # the form repeats the rule it shows: only a change is a change
    try:
        card = checked_card({k: v for k, v in changes.items() if k in CARD})
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    current = found.extra or {}
    card = {k: v for k, v in card.items() if current.get(k) != v}  # a form repeats what it shows
    changes = {k: v for k, v in changes.items() if k not in ACCESS and k not in CARD}
    if card:
        found = await _set_card(services, actor, client_id, card)
    if not changes:
        return found if rule is None else await _set_rule(services, actor, client_id, rule)
    if found.protocol == "cas":
        edited = await _edit_cas(services, actor, client_id, clean_cas_changes(changes))
    else:
        edited = await _edit_oidc(services, actor, client_id, clean_changes(changes))
    return edited if rule is None else await _set_rule(services, actor, client_id, rule)


async def _set_card(services: Services, actor: Actor, client_id: str,
                    card: dict[str, str | None]) -> Client:
    """The app's card in the app portal (idp/sso/catalogue.py)."""
    def apply(client: Client) -> None:
        client.extra = with_card(client.extra, card)

    return await audited(services, actor, "edit_client", _change(services, client_id, apply),
                         client_id=client_id, fields=sorted(card))


async def _set_rule(services: Services, actor: Actor, client_id: str, rule: AccessRule) -> Client:
    def apply(client: Client) -> None:
        client.extra = with_rule(client.extra, rule)

    return await audited(services, actor, "edit_client_access", _change(services, client_id,
                                                                       apply),
                         client_id=client_id, groups=list(rule.groups),
                         affiliations=list(rule.affiliations))


async def _edit_oidc(services: Services, actor: Actor, client_id: str,
                     cleaned: dict[str, Any]) -> Client:
    def apply(client: Client) -> None:
        grants = cleaned.get("grant_types", client.grant_types or [])
        uris = cleaned.get("redirect_uris", client.redirect_uris or [])
        if "authorization_code" in grants and not uris:
            raise Invalid("a client with the authorization_code grant needs a redirect URI")
        if client.token_endpoint_auth_method == "none" and "client_credentials" in grants:
            raise Invalid("client_credentials needs a confidential client (RFC 6749 section 4.4)")
        for key, value in cleaned.items():
            if key != "required_scopes":  # kept in extra, not a column
                setattr(client, key, value)
        if "grant_types" in cleaned:  # RFC 7591 §2.1: code <-> authorization_code
            client.response_types = ["code"] if "authorization_code" in grants else []
        if "scopes" in cleaned:
            client.extra = _approved(client, cleaned["scopes"])
        if "required_scopes" in cleaned:
            try:
                kept = required_scopes.checked(cleaned["required_scopes"], client.scopes or [])
            except ValueError as exc:
                raise Invalid(str(exc)) from None
            client.extra = required_scopes.with_required(client.extra, kept)
        elif "scopes" in cleaned:
            client.extra = required_scopes.pruned(client.extra, client.scopes or [])

    return await audited(services, actor, "edit_client", _change(services, client_id, apply),
                         client_id=client_id, fields=sorted(cleaned))


async def _edit_cas(services: Services, actor: Actor, client_id: str,
                    cleaned: dict[str, Any]) -> Client:
    def apply(client: Client) -> None:
        if "name" in cleaned:
            client.name = cleaned["name"]
        extra = dict(client.extra or {})  # a new dict, so the JSON column is seen as changed
        extra["cas"] = {**extra.get("cas", {}), **{k: v for k, v in cleaned.items()
                                                   if k != "name"}}
        extra["cas_approved"] = cas_approval(extra)  # what an admin sets is approved by that act
        client.extra = extra

    return await audited(services, actor, "edit_client", _change(services, client_id, apply),
                         client_id=client_id, fields=sorted(cleaned))


async def rotate_secret(services: Services, actor: Actor, client_id: str) -> str:
    """A new secret, returned once; the old one works for the grace period."""

    async def rotate() -> str:
        try:
            return await registration_store.rotate_secret(
                services.db, client_id,
                grace=timedelta(seconds=services.settings.access.secret_rotation_grace))
        except LookupError:
            raise NotFound(f"no client {client_id!r}") from None

    return await audited(services, actor, "rotate_client_secret", rotate(), client_id=client_id)


async def delete(services: Services, actor: Actor, client_id: str) -> int:
    """Delete the client, its consents, and revoke its refresh tokens; returns how many."""
    await get_client(services, client_id)
    revoked = await audited(services, actor, "delete_client",
                            registration_store.delete_registered_client(services.db, client_id),
                            client_id=client_id)
    return revoked
