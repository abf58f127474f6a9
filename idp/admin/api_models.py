"""Request and response models of the admin REST API (they are its OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from directory.base import Person
from directory.writes import AccountState
from idp.admin.service_audit import AuditPage, Dashboard, HourlyStats
from idp.admin.service_clients import pending_scopes
from idp.admin.service_sessions import Ended, SessionView
from idp.db.models import AuditEvent, Client
from idp.protocols.oidc.required_scopes import registered
from idp.sso.access import AccessRule


class ErrorOut(BaseModel):
    error: str = Field(description="stable error code: invalid_token, insufficient_scope, "
                                   "not_found, invalid, conflict, unavailable")
    error_description: str


class PersonFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200, description="display name (cn)")
    given_name: str | None = Field(None, max_length=200)
    family_name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=64)
    number: str | None = Field(None, max_length=64, description="student or staff number")
    department: str | None = Field(None, max_length=200)
    title: str | None = Field(None, max_length=200)
    affiliations: list[str] | None = Field(None, description="eduPersonAffiliation values")
    principal_name: str | None = Field(None, max_length=254)
    entitlements: list[str] | None = None


class PersonCreateIn(PersonFields):
    username: str = Field(max_length=64, description="login name (uid / sAMAccountName)")
    password: str | None = Field(None, max_length=1024,
                                 description="omit to get a generated one-time password back")
    groups: list[str] = Field(default_factory=list, description="groups to join (must exist)")
    must_change: bool = Field(False, description="the first login must change the password")


class PersonUpdateIn(PersonFields):
    """Only the fields sent are changed; null removes a value."""


class PersonOut(BaseModel):
    subject: str
    username: str
    name: str | None
    given_name: str | None
    family_name: str | None
    email: str | None
    phone: str | None
    number: str | None
    department: str | None
    title: str | None
    affiliations: list[str]
    principal_name: str | None
    entitlements: list[str]
    groups: list[str]
    disabled: bool

    @classmethod
    def of(cls, person: Person) -> PersonOut:
        data = person.as_dict()
        data.pop("dn", None)
        return cls.model_validate(data)


class AccountStateOut(BaseModel):
    disabled: bool
    locked: bool
    must_change: bool
    password_expired: bool
    failures: int
    to_activate: bool = Field(False, description="marked to activate: sets their own first "
                                                 "password at /activate")

    @classmethod
    def of(cls, state: AccountState, to_activate: bool = False) -> AccountStateOut:
        return cls.model_validate(state.as_dict() | {"to_activate": to_activate})


class PersonDetailOut(PersonOut):
    dn: str | None
    state: AccountStateOut
    # the login names of the person's other entries, linked as one person (IDP_IDENTITIES_*)
    linked_identities: list[str] = []


class PeoplePageOut(BaseModel):
    items: list[PersonOut]
    page: int
    size: int
    has_more: bool


class CreatedOut(BaseModel):
    person: PersonOut
    password: str | None = Field(None, description="the generated one-time password, shown once")


class DisabledOut(BaseModel):
    username: str
    disabled: bool
    sessions_ended: int = 0


class DoneOut(BaseModel):
    username: str
    done: str


class ResetIn(BaseModel):
    mode: Literal["password", "link"] = Field(
        "password", description="password: set a generated one-time password now; link: a "
                                "one-time link with which the person chooses one")
    must_change: bool = Field(False, description="(mode password) force a change at next login")


class ResetOut(BaseModel):
    username: str
    password: str | None = Field(None, description="shown once")
    link: str | None = Field(None, description="shown once")
    expires_at: datetime | None = None
    must_change: bool = False


class GroupOut(BaseModel):
    name: str
    description: str | None


class MembershipOut(BaseModel):
    group: str
    username: str
    member: bool


class CasServiceOut(BaseModel):
    services: list[str] = Field(description="service URLs, or regular expressions anchored with ^ and $")
    slo_url: str | None = Field(description="where single logout POSTs its LogoutRequest")
    attributes: list[str] = Field(description="the CAS attributes the service may receive")
    proxy_callbacks: list[str] = Field(description="pgtUrl callbacks the service may use")


class AccessOut(BaseModel):
    groups: list[str] = Field(description="members of these directory groups may use the app")
    affiliations: list[str] = Field(description="people with these affiliations may use it")


class ClientOut(BaseModel):
    client_id: str
    protocol: str = Field(description="oidc (an OpenID Connect client) or cas (a CAS service)")
    cas: CasServiceOut | None = Field(None, description="a CAS service's own fields")
    access: AccessOut = Field(description="who may use the app (both lists empty: everyone)")
    home_url: str | None = Field(None, description="the app portal's link to the app")
    icon_url: str | None = None
    description: str | None = None
    name: str
    status: str
    owner: str | None
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    scopes: list[str]
    pending_scopes: list[str] = Field(description="scopes an approval would grant")
    scope_reasons: dict[str, str]
    grant_types: list[str]
    token_endpoint_auth_method: str
    skip_consent: bool
    required_scopes: list[str] = Field(
        description="scopes the consent page shows as required (openid always is); the person "
                    "may untick every other scope")
    created_at: datetime

    @classmethod
    def of(cls, client: Client) -> ClientOut:
        extra = client.extra or {}
        cas = extra.get("cas") if client.protocol == "cas" else None
        return cls(
            client_id=client.client_id, protocol=client.protocol,
            cas=CasServiceOut(services=list(cas.get("services") or []), slo_url=cas.get("slo_url"),
                              attributes=list(cas.get("attributes") or []),
                              proxy_callbacks=list(cas.get("proxy_callbacks") or []))
            if cas is not None else None,
            access=AccessOut(**AccessRule.of(extra).as_extra()),
            home_url=extra.get("client_uri"), icon_url=extra.get("logo_uri"),
            description=extra.get("description"),
            name=client.name, status=client.status, owner=client.owner,
            redirect_uris=list(client.redirect_uris or []),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris or []),
            backchannel_logout_uri=client.backchannel_logout_uri,
            scopes=list(client.scopes or []), pending_scopes=pending_scopes(client),
            scope_reasons={str(k): str(v) for k, v in (extra.get("scope_reasons") or {}).items()},
            grant_types=list(client.grant_types or []),
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            skip_consent=client.skip_consent, created_at=client.created_at,
            required_scopes=["openid", *registered(extra)] if client.protocol == "oidc" else [],
        )


class ClientEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    redirect_uris: list[str] | None = None
    post_logout_redirect_uris: list[str] | None = None
    backchannel_logout_uri: str | None = None
    scopes: list[str] | None = None
    skip_consent: bool | None = None
    grant_types: list[str] | None = Field(
        None, description="e.g. add urn:ietf:params:oauth:grant-type:device_code for device "
                          "sign-in (RFC 8628)")
    # scopes the consent page marks required, each one of `scopes` ([] clears; openid implied)
    required_scopes: list[str] | None = None
    # a CAS service's own fields (an OIDC client refuses them, a CAS service the OIDC ones)
    services: list[str] | None = None
    slo_url: str | None = None
    attributes: list[str] | None = None
    proxy_callbacks: list[str] | None = None
    # who may use the app (either protocol); [] clears that side of the rule
    allow_groups: list[str] | None = None
    allow_affiliations: list[str] | None = None
    # the app's card in the app portal at / (either protocol); "" clears a field
    home_url: str | None = Field(None, max_length=2000)
    icon_url: str | None = Field(None, max_length=2000)
    description: str | None = Field(None, max_length=200)


class SecretOut(BaseModel):
    client_id: str
    client_secret: str = Field(description="shown once")
    previous_secret_expires: datetime | None


class DeletedOut(BaseModel):
    client_id: str
    refresh_tokens_revoked: int


class SessionAppOut(BaseModel):
    client_id: str
    name: str | None


class SessionOut(BaseModel):
    sid: str
    created_at: datetime
    auth_time: datetime
    ip: str | None
    user_agent: str | None
    apps: list[SessionAppOut]

    @classmethod
    def of(cls, view: SessionView) -> SessionOut:
        return cls(sid=view.sid, created_at=_time(view.created_at), auth_time=_time(view.auth_time),
                   ip=view.ip, user_agent=view.user_agent,
                   apps=[SessionAppOut(client_id=a.client_id, name=a.name) for a in view.apps])


class SessionsOut(BaseModel):
    username: str
    subject: str
    sessions: list[SessionOut]


class EndedOut(BaseModel):
    sid: str
    apps: list[str]
    deliveries: dict[str, str] = Field(
        description="client_id -> delivered/failed; apps still being retried are absent")

    @classmethod
    def of(cls, ended: Ended) -> EndedOut:
        return cls(sid=ended.sid, apps=ended.apps, deliveries=ended.deliveries)


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    kind: str
    outcome: str
    actor: str | None
    client_id: str | None
    ip: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls(id=event.id, at=event.at, kind=event.kind, outcome=event.outcome,
                   actor=event.actor, client_id=event.client_id, ip=event.ip,
                   detail=dict(event.detail or {}))


class AuditPageOut(BaseModel):
    items: list[AuditEventOut]
    page: int
    size: int
    has_more: bool

    @classmethod
    def of(cls, page: AuditPage) -> AuditPageOut:
        return cls(items=[AuditEventOut.of(e) for e in page.items], page=page.page,
                   size=page.size, has_more=page.has_more)


class SeriesOut(BaseModel):
    client_id: str
    name: str | None
    counts: list[int]


class StatsOut(BaseModel):
    hours: list[datetime] = Field(description="start of each hour (UTC), oldest first")
    series: list[SeriesOut]
    total: int

    @classmethod
    def of(cls, stats: HourlyStats) -> StatsOut:
        return cls(hours=stats.hours, total=stats.total, series=[
            SeriesOut(client_id=cid, name=stats.names.get(cid), counts=counts)
            for cid, counts in stats.series.items()])


class DashboardOut(BaseModel):
    """The console dashboard's figures (each list: one count per hour of `hours`)."""

    hours: list[datetime] = Field(description="start of each hour (UTC), oldest first")
    sign_ins: list[SeriesOut] = Field(description="sign-ins per app")
    failures: dict[str, int] = Field(description="failed sign-ins over the range, by reason")
    throttled: list[int] = Field(description="accounts refused by the login throttle")
    locked: list[int] = Field(description="accounts the directory reported locked")
    tokens: dict[str, list[int]] = Field(description="tokens issued, by grant type")
    sessions_started: list[int]
    sessions_ended: list[int]
    active_sessions: int = Field(description="SSO sessions alive now")
    throttled_now: int = Field(description="accounts the login throttle refuses now")

    @classmethod
    def of(cls, board: Dashboard) -> DashboardOut:
        return cls(hours=board.hours, sign_ins=StatsOut.of(board.sign_ins).series,
                   failures=board.failures, throttled=board.refused["throttled"],
                   locked=board.refused["locked"], tokens=board.tokens,
                   sessions_started=board.sessions["started"],
                   sessions_ended=board.sessions["ended"], active_sessions=board.active_sessions,
                   throttled_now=board.throttled_now)


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def epoch(seconds: int | None) -> datetime | None:
    return _time(seconds) if seconds is not None else None
