"""The one typed settings tree. This is the only module that reads the environment.

Every setting is an environment variable `IDP_<SECTION>_<NAME>` (or `IDP_<NAME>` at the top),
and can also come from a TOML file given with `idp --config FILE` (sections `[ldap]`, `[tokens]`,
...). Environment variables win over the file. Settings are validated once, at start; an error
names the variable and what is wrong with it.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from directory.config import IdentityLinkConfig, LdapConfig

_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar("config", default=None)


class Section(BaseModel):
    model_config = {"extra": "forbid"}


class TokenSettings(Section):
    code_ttl: int = Field(60, ge=5, le=60, description="seconds an authorization code lives")
    access_token_ttl: int = Field(900, ge=30, description="seconds an access token lives")
    id_token_ttl: int = Field(3600, ge=30, description="seconds an ID token lives")
    refresh_token_ttl: int = Field(30 * 86400, ge=60, description="seconds a refresh token lives")
    signing_alg: Literal["RS256", "ES256"] = Field(
        "RS256", description="default ID token / access token signing algorithm"
    )


class SessionSettings(Section):
    ttl: int = Field(8 * 3600, ge=60, description="seconds an SSO session lives")
    cookie_name: str = Field("idp_session", description="name of the SSO session cookie")


class SiteSettings(Section):
    campus_name: str = Field("Campus University", description="shown on every page")
    campus_name_zh: str = Field("校园大学", description="the campus name in Chinese")
    logo_url: str | None = Field(None, description="URL of the logo shown on the login page")
    default_locale: Literal["zh", "en"] = Field("zh", description="language when nothing asks for one")
    support_contact: str = Field(
        "", description="whom people ask when an app refuses them, shown on that page (e.g. "
                        "信息中心服务台 010-6278-0000; empty: the IT service desk)")


class AccessSettings(Section):
    admin_group: str = Field("idp-admins", description="directory group whose members are admins")
    reset_link_ttl: int = Field(
        86400, ge=300, description="seconds a password reset link made by an admin stays valid"
    )
    secret_rotation_grace: int = Field(
        7 * 86400, ge=0, description="seconds a rotated client secret keeps working"
    )
    developer_group: str = Field(
        "idp-developers", description="directory group whose members may register apps"
    )
    preview_group: str = Field(
        "idp-test-people",
        description="directory group of the test people whose claims any developer may preview "
                    "in the portal (besides their own); empty: developers preview only themselves")


class ThrottleSettings(Section):
    """Login throttling, client rate limits on the token endpoints, request size."""

    enabled: bool = Field(True, description="throttle failed logins per account and per client address")
    per_account: int = Field(
        5, ge=1, le=1000,
        description="password checks per account per window (kept below the directory's lockout threshold)")
    per_ip: int = Field(30, ge=1, le=1_000_000, description="failed logins per client address per window")
    window: int = Field(
        900, ge=1, le=7 * 86400,
        description="seconds a failure counter lives and the first refusal lasts; at least the "
                    "directory's failure-count interval (pwdFailureCountInterval, lockoutObservationWindow)")
    backoff_max: int = Field(
        86400, ge=1, le=30 * 86400,
        description="longest refusal in seconds (each refusal in a row doubles the previous one)")
    follow_directory: bool = Field(
        True, description="read the directory's lockout threshold (pwdMaxFailure, "
                          "lockoutThreshold) and stay below it")
    fallback_per_account: int = Field(
        3, ge=1, le=1000,
        description="password checks per account per window when the directory's threshold cannot be read")
    # generous by default: a busy campus app redeems a code for every person who signs in
    token_requests: int = Field(
        30000, ge=1, description="requests per client per rate window on /token (and /revoke)")
    introspect_requests: int = Field(
        120000, ge=1, description="requests per client per rate window on /introspect")
    rate_window: int = Field(60, ge=1, le=3600, description="seconds of one client rate-limit window")
    max_body: int = Field(
        64 * 1024, ge=1024, le=64 * 1024 * 1024,
        description="largest request body in bytes on form and JSON endpoints (larger: 413)")


class MfaSettings(Section):
    """Second factors (TOTP, passkeys)."""

    required_groups: list[str] = Field(
        default_factory=list,
        description="directory groups whose members must use a second factor (JSON list)",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="key that encrypts TOTP secrets at rest (empty: a key file in IDP_KEYS_DIR)",
    )
    webauthn_rp_id: str = Field("", description="WebAuthn relying party id (empty: the issuer's host)")
    max_failures: int = Field(
        5, ge=1, le=100, description="wrong second-factor answers per person per 15 minutes"
    )
    step_up_seconds: int = Field(
        300, ge=30, le=86400,
        description="seconds after a sign-in (with the second factor, for people who have one) "
                    "during which the account page adds or removes a factor, makes recovery "
                    "codes or changes the password without asking again")


class QrSettings(Section):
    """Sign-in by scanning a QR code on the login page with a phone that is signed in."""

    enabled: bool = Field(True, description="offer the \"scan to sign in\" tab on the login page")
    ttl: int = Field(
        120, ge=10, le=600,
        description="seconds a sign-in QR code may be scanned and confirmed; the login page "
                    "then shows a fresh one")


class CasSettings(Section):
    """CAS 1.0-3.0 for the campus's older systems (endpoints under /cas/)."""

    ticket_ttl: int = Field(
        10, ge=1, le=300,
        description="seconds a service or proxy ticket may wait for its validation (Apereo's "
                    "default is 10; the spec recommends at most 300)")
    proxy_ca_file: str | None = Field(
        None, description="CA bundle that verifies proxy callback (pgtUrl) certificates "
                          "(empty: the system's CAs)")
    callback_timeout: float = Field(
        5.0, gt=0, le=60, description="seconds a proxy callback (pgtUrl) may take to answer")


_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")


class RetentionSettings(Section):
    """How long each kind of record is kept before the purge deletes it (README "Data
    retention"). Days; 0 keeps that kind forever, on purpose."""

    audit_days: int = Field(
        365, ge=0, le=36500,
        description="days people's audit events are kept: sign-ins and their failures, codes and "
                    "refresh tokens, logouts, admin and developer actions (a year covers an "
                    "annual security review)")
    machine_audit_days: int = Field(
        30, ge=0, le=36500,
        description="days the audit of machine tokens (client_credentials) is kept: no person "
                    "behind them, and by far the most rows")
    refresh_token_days: int = Field(
        7, ge=0, le=36500,
        description="days an expired or revoked refresh token is kept after it ended (a reused "
                    "one is still recognised for that long)")
    logout_delivery_days: int = Field(
        7, ge=0, le=36500,
        description="days a finished back-channel logout delivery (delivered or failed) is kept")
    initial_access_token_days: int = Field(
        1, ge=0, le=36500,
        description="days an expired or revoked initial access token (RFC 7591) is kept after "
                    "it ended")
    deleted_app_days: int = Field(
        1, ge=0, le=36500,
        description="days the consents and identity choices of an app that no longer exists are "
                    "kept after they were last given")
    export_dir: Path | None = Field(
        None,
        description="PostgreSQL: before a month of the audit log is dropped, write it here as "
                    "gzip-compressed JSON lines with a .sha256 checksum file (unset: dropped "
                    "without export)")
    background: bool = Field(
        True,
        description="purge in the background of every replica (one at a time); false: only "
                    "`idp maintenance purge`, e.g. from cron")
    purge_interval: int = Field(
        3600, ge=60, le=7 * 86400,
        description="seconds between two purges (one replica at a time purges)")
    purge_batch: int = Field(
        500, ge=10, le=10_000,
        description="rows deleted per transaction: small, so no write waits long behind one")
    purge_pause: float = Field(
        0.05, ge=0, le=10,
        description="seconds the purge rests between two batches, leaving the database to "
                    "logins")


class ActivationSettings(Section):
    """Self-service activation of accounts marked "to activate" (/activate)."""

    facts: list[str] = Field(
        default_factory=list,
        description="directory attributes a person must give the right values of to activate "
                    "their account, e.g. employeeNumber,sn,birthDate (empty: /activate is off)")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="what /activate calls each fact, as attribute=中文 / English (e.g. "
                    "idCardSuffix=身份证号后六位 / Last 6 digits of ID card); common attributes "
                    "have labels already")

    @field_validator("facts")
    @classmethod
    def _check_facts(cls, value: list[str]) -> list[str]:
        facts = [name.strip() for name in value if name.strip()]
        for name in facts:
            if not _ATTRIBUTE_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an attribute name (a letter, then letters, "
                                 "digits or -)")
        if len({name.casefold() for name in facts}) != len(facts):
            raise ValueError("an attribute is named twice")
        return facts

    @property
    def enabled(self) -> bool:
        return bool(self.facts)


class DeviceSettings(Section):
    """Device sign-in (RFC 8628): apps without a browser (command-line tools, classroom
    displays) show a short code that the person confirms at /device on a phone or PC."""

    code_ttl: int = Field(
        600, ge=60, le=1800,
        description="seconds a device code and its user code stay valid (`expires_in`)")
    interval: int = Field(
        5, ge=1, le=60,
        description="seconds a device must wait between polls of the token endpoint; polling "
                    "faster gets `slow_down` and 5 more seconds (RFC 8628 section 3.5)")
    entry_failures: int = Field(
        10, ge=1, le=1000,
        description="wrong user codes one client address may enter at /device per window "
                    "before it is refused (guessing codes)")
    entry_window: int = Field(
        900, ge=60, le=86400,
        description="seconds the wrong-code count of an address lasts, and a refusal with it")


class ReleasesSettings(Section):
    """The attribute-release record: which claims went to which app for which person."""

    retention_days: int = Field(
        365, ge=0, le=3650,
        description="days a release row is kept; older ones are deleted by the server (every "
                    "few hours) and by `idp releases purge` (0: kept forever)")
    backlog: int = Field(
        50_000, ge=0, le=1_000_000,
        description="distinct person/app/claim-set/day entries held in memory while the "
                    "database is away; past this many, new releases are dropped and counted "
                    "(idp_releases_dropped_total), never the token refused")


class MailSettings(Section):
    """Outgoing mail (password reset links)."""

    host: str = Field("", description="SMTP server for password-reset mail (empty: none is sent)")
    port: int = Field(587, ge=1, le=65535, description="SMTP port")
    from_address: str = Field("", description="From address (empty: noreply@ the issuer's host)")
    starttls: bool = Field(True, description="upgrade the SMTP connection with STARTTLS")
    tls: bool = Field(False, description="implicit TLS from the first byte (SMTPS, port 465)")
    username: str = Field("", description="SMTP login (empty: no AUTH)")
    password: SecretStr = Field(SecretStr(""), description="SMTP password")
    timeout: float = Field(10.0, gt=0, description="seconds an SMTP conversation may take")


UPSTREAM_KINDS = ("oidc", "wecom", "dingtalk", "wechat_mp", "wechat_open", "wechat_mini")
_UPSTREAM_NAME = re.compile(r"[a-z][a-z0-9]{0,30}")


class UpstreamProvider(Section):
    """One upstream identity provider people may sign in with once their account is bound to
    their campus entry: IDP_UPSTREAM_<NAME>_<FIELD> (the README lists the fields per kind)."""

    name: str
    kind: Literal["oidc", "wecom", "dingtalk", "wechat_mp", "wechat_open", "wechat_mini"]
    label: str = ""  # the login page's button (English); empty: the name
    label_zh: str = ""  # the button in Chinese; empty: label
    issuer: str = ""  # oidc: the issuer URL, whose /.well-known/openid-configuration is read
    client_id: str = ""  # oidc client_id; WeCom CorpID; DingTalk Client ID (AppKey); WeChat AppID
    client_secret: SecretStr = SecretStr("")  # oidc/DingTalk secret; WeCom Secret; WeChat AppSecret
    scope: str = ""  # oidc: scopes asked for (empty: "openid"); WeChat: snsapi_base/snsapi_login
    agent_id: str = ""  # WeCom: the self-built app's AgentID
    api_url: str = ""  # WeCom/DingTalk/WeChat: base URL of the server API (empty: the public one)
    authorize_url: str = ""  # WeCom/DingTalk/WeChat: the browser's authorization page (empty: public)
    silent: bool = False  # WeCom/DingTalk/WeChat official account: in-app sign-in without a page
    timeout: float = Field(10.0, gt=0, le=60)  # seconds a call to the provider may take

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("https", "http"):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")


class UpstreamSettings(Section):
    """Upstream accounts (another university's OpenID provider, WeCom, DingTalk, WeChat).

    IDP_UPSTREAM_PROVIDERS names them, in the order of the login page's buttons; each one's
    settings are IDP_UPSTREAM_<NAME>_<FIELD>, e.g. IDP_UPSTREAM_PKU_KIND=oidc,
    IDP_UPSTREAM_PKU_ISSUER=https://id.pku.edu.cn, IDP_UPSTREAM_PKU_CLIENT_ID=...
    """

    model_config = {"extra": "allow"}  # the IDP_UPSTREAM_<NAME>_<FIELD> variables, read below
    _configured: dict[str, UpstreamProvider] = PrivateAttr(default_factory=dict)

    providers: list[str] = Field(
        default_factory=list,
        description="upstream identity providers people may sign in with after binding their "
                    "account, in button order (a,b); each is set by IDP_UPSTREAM_<NAME>_<FIELD> "
                    "(see \"Upstream accounts\")")
    state_ttl: int = Field(
        600, ge=60, le=3600,
        description="seconds a sign-in sent to an upstream provider may take to come back")
    bind_ttl: int = Field(
        900, ge=60, le=3600,
        description="seconds an upstream account that is not yet bound waits for the campus "
                    "password that binds it")

    @model_validator(mode="after")
    def _read_providers(self) -> UpstreamSettings:
        """Gather IDP_UPSTREAM_<NAME>_<FIELD> into one UpstreamProvider per listed name."""
        extra = dict(self.__pydantic_extra__ or {})
        fields: dict[str, dict[str, Any]] = {name: {"name": name} for name in self.providers}
        for name in self.providers:
            if not _UPSTREAM_NAME.fullmatch(name):
                raise ValueError(f"IDP_UPSTREAM_PROVIDERS: {name!r} is not a name of lowercase "
                                 "letters and digits (it becomes part of variable names and URLs)")
        for key, value in extra.items():
            name, _, field_name = key.lower().partition("_")
            if name not in fields:
                raise ValueError(f"IDP_UPSTREAM_{key.upper()}: {name!r} is not listed in "
                                 "IDP_UPSTREAM_PROVIDERS")
            if field_name not in UpstreamProvider.model_fields or field_name == "name":
                known = ", ".join(f for f in UpstreamProvider.model_fields if f != "name")
                raise ValueError(f"IDP_UPSTREAM_{key.upper()}: unknown field {field_name!r} "
                                 f"(known: {known})")
            fields[name][field_name] = value
        configured: dict[str, UpstreamProvider] = {}
        for name, values in fields.items():
            try:
                provider = UpstreamProvider(**values)
            except ValidationError as exc:
                problems = "; ".join(
                    f"IDP_UPSTREAM_{name}_{e['loc'][0]}: ".upper()
                    + e["msg"].removeprefix("Value error, ") for e in exc.errors())
                raise ValueError(problems) from None
            missing = _UPSTREAM_REQUIRED[provider.kind] - {
                f for f in ("issuer", "client_id", "client_secret", "agent_id")
                if getattr(provider, f) and (f != "client_secret"
                                             or provider.client_secret.get_secret_value())}
            if missing:
                needed = ", ".join(f"IDP_UPSTREAM_{name}_{f}".upper() for f in sorted(missing))
                raise ValueError(f"upstream {name!r} ({provider.kind}) needs {needed}")
            configured[name] = provider
        self.__pydantic_extra__ = {}
        self._configured = configured
        return self

    @property
    def by_name(self) -> dict[str, UpstreamProvider]:
        """The configured providers by name, in IDP_UPSTREAM_PROVIDERS order."""
        return dict(self._configured)


_UPSTREAM_REQUIRED: dict[str, set[str]] = {
    "oidc": {"issuer", "client_id", "client_secret"},
    "wecom": {"client_id", "client_secret", "agent_id"},
    "dingtalk": {"client_id", "client_secret"},
    "wechat_mp": {"client_id", "client_secret"},
    "wechat_open": {"client_id", "client_secret"},
    "wechat_mini": {"client_id", "client_secret"},
}


SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
_SERVICE_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
_SENTINEL_FORM = ("redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/service[/db]"
                  "[?sentinel_password=…]")


@dataclass(frozen=True)
class SentinelUrl:
    """Redis behind Sentinel, as IDP_REDIS_URL names it (the form of the redis+sentinel:// URLs
    that Python libraries such as Redis-Sentinel-Url and Prefect already read):

        redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/service[/db]
                         [?sentinel_username=…&sentinel_password=…]

    The userinfo is the data nodes' password (the primary's `requirepass`, which its replicas
    share, as Sentinel's own `auth-pass` requires); `sentinel_password` (and `sentinel_username`)
    is the sentinels' own, when they have one. Ports default to 26379, the database to 0.
    Percent-encode `@ : / ? # & % +` in a password."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None


def _sentinel_address(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, bracket, port = text[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            raise ValueError(f"sentinel address {text!r} is not [ipv6]:port")
        port = port[1:]
    else:
        host, _, port = text.partition(":")
    if not host or any(c in host for c in " /?#@"):
        raise ValueError(f"sentinel address {text!r} has no valid host")
    if not port:
        return host, SENTINEL_PORT
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"sentinel address {text!r} has no valid port (1-65535)")
    return host, int(port)


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Take a redis+sentinel:// URL apart; ValueError says what is wrong (never the password)."""
    scheme, separator, rest = url.partition("://")
    if scheme.lower() != SENTINEL_SCHEME or not separator:
        raise ValueError(f"a Sentinel URL starts with {SENTINEL_SCHEME}://")
    ends = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
    if rest.rfind("@") > min(ends, default=len(rest)):
        # a password with an unencoded / ? or #: say so without echoing any part of it
        raise ValueError("an @ after the sentinels: percent-encode / ? # @ in the password")
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if fragment:
        raise ValueError("a Sentinel URL has no #fragment (percent-encode # in a password)")
    if at and ":" not in userinfo:
        # redis+sentinel://secret@host would make `secret` a user name without a password
        raise ValueError("the userinfo must be :password or user:password")
    username, _, password = userinfo.partition(":")
    sentinels = tuple(_sentinel_address(part) for part in hosts.split(",")) if hosts else ()
    if not sentinels:
        raise ValueError(f"name at least one sentinel: {_SENTINEL_FORM}")
    parts = path.split("/")
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash
    if not parts or not _SERVICE_NAME.fullmatch(parts[0]):
        raise ValueError("the path must name the service Sentinel monitors (sentinel monitor "
                         f"<service> …; letters, digits, . _ -): {_SENTINEL_FORM}")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError(f"after the service, only a database number: {_SENTINEL_FORM}")
    # by hand, not parse_qsl: that turns a `+` in a password into a space
    pairs = [pair.partition("=") for pair in query.split("&")] if query else []
    if any(not name or not equals for name, equals, _ in pairs):
        raise ValueError("the query must be name=value pairs joined by &")
    names = [name for name, _, _ in pairs]
    unknown = sorted(set(names) - set(_SENTINEL_OPTIONS))
    if unknown or len(names) != len(set(names)):
        raise ValueError(f"unknown or repeated option(s) {', '.join(unknown or names)}; a "
                         f"Sentinel URL takes {' and '.join(_SENTINEL_OPTIONS)} (once each)")
    given = {name: unquote(value) for name, _, value in pairs}
    return SentinelUrl(
        sentinels=sentinels, service=parts[0], db=int(parts[1]) if len(parts) == 2 else 0,
        username=unquote(username) or None, password=unquote(password) or None,
        sentinel_username=given.get("sentinel_username") or None,
        sentinel_password=given.get("sentinel_password") or None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="IDP_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        case_sensitive=False,
    )

    issuer: str = Field("http://localhost:8000", description="public base URL; the `iss` of every token")
    database_url: str = Field("sqlite:///var/idp.db", description="sqlite:///… or postgresql://…")
    redis_url: str | None = Field(
        None, description="redis://…, or redis+sentinel://host:26379,host2:26379/mymaster/0 for "
                          "Redis behind Sentinel (unset: the embedded in-process store)")
    redis_prefix: str = Field("idp:", description="prefix of every Redis key (to share one Redis)")
    audit_backlog: int = Field(
        20_000, ge=0, le=1_000_000,
        description="audit events held in memory while the database is away, written when it is "
                    "back; past this many, actions that must be audited are refused (503)")
    audit_machine_tokens: Literal["summary", "each"] = Field(
        "summary",
        description="audit of machine tokens (client_credentials): summary, one row per client "
                    "per minute with the count, grants and scopes; each, one row per token. "
                    "People's events are always one row each")
    directory: Literal["local", "ldap"] = Field("local", description="where people come from")
    directory_max_staleness: int = Field(
        86400, ge=0, le=30 * 86400,
        description="LDAP outage: how many seconds old a person's last-known copy may be and "
                    "still be served, so that people signed in keep using apps, refresh and "
                    "userinfo (0: no copies kept; every request that needs a person gets 503)")
    directory_offline_login: bool = Field(
        False, description="LDAP outage: let people sign in against a hash of the last password "
                           "the directory accepted (never admins, nor anyone it locked or "
                           "disabled; audited as `offline`). Read the trade-offs in the README")
    directory_offline_login_days: int = Field(
        7, ge=1, le=90, description="days such a password hash is kept after the directory last "
                                    "accepted the password")
    keys_dir: Path = Field(Path("var/keys"), description="signing keys (created at first start)")
    trusted_proxies: str = Field(
        "127.0.0.1", description="comma-separated proxy IPs whose X-Forwarded-For is believed ('*': any)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object per line (for log collectors); text: short "
                            "lines for a person at a terminal (what `idp demo` uses)")
    log_stream: Literal["stderr", "stdout"] = Field(
        "stderr", description="where the server writes its log lines (the container image: stdout)")
    shutdown_drain_seconds: float = Field(
        0, ge=0, le=60, description="on SIGTERM, seconds of answering /readyz with 503 while still "
        "serving, so that a load balancer's health check takes the replica out of rotation before "
        "it stops (more than the balancer's health interval; `idp serve --workers 1`)")

    ldap: LdapConfig = Field(default_factory=LdapConfig)
    identities: IdentityLinkConfig = Field(default_factory=IdentityLinkConfig)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    site: SiteSettings = Field(default_factory=SiteSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    mfa: MfaSettings = Field(default_factory=MfaSettings)
    cas: CasSettings = Field(default_factory=CasSettings)
    qr: QrSettings = Field(default_factory=QrSettings)
    device: DeviceSettings = Field(default_factory=DeviceSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    upstream: UpstreamSettings = Field(default_factory=UpstreamSettings)
    activation: ActivationSettings = Field(default_factory=ActivationSettings)
    releases: ReleasesSettings = Field(default_factory=ReleasesSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://id.example.edu")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment (OIDC Discovery §3)")
        if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            raise ValueError("must be https (plain http only on localhost / 127.0.0.1 / [::1])")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.split("+")[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must be a sqlite:///… or postgresql://… URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        scheme = value.partition("://")[0].lower()
        if scheme == SENTINEL_SCHEME:
            parse_sentinel_url(value)  # a clear error for whatever is wrong in it
        elif urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss://, unix:// or redis+sentinel:// URL")
        return value

    @model_validator(mode="after")
    def _check_ldap_complete(self) -> Settings:
        if self.directory == "ldap" and not self.ldap.user_base:
            raise ValueError("IDP_LDAP_USER_BASE is required when IDP_DIRECTORY=ldap")
        if self.directory_offline_login:
            if self.directory != "ldap":
                raise ValueError("IDP_DIRECTORY_OFFLINE_LOGIN is for IDP_DIRECTORY=ldap (the "
                                 "local directory lives in the database: it has no outages of "
                                 "its own)")
            if self.directory_max_staleness <= 0:
                raise ValueError("IDP_DIRECTORY_OFFLINE_LOGIN needs the last-known people: set "
                                 "IDP_DIRECTORY_MAX_STALENESS above 0")
        if self.directory == "local":
            from directory.local_schema import local_fact_field

            unknown = [name for name in self.activation.facts if local_fact_field(name) is None]
            if unknown:
                raise ValueError(f"IDP_ACTIVATION_FACTS: the local directory has no attribute "
                                 f"{', '.join(unknown)} (it has employeeNumber, sn, givenName, "
                                 "cn, mail, telephoneNumber, ou and their field names)")
        return self

    @property
    def https(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def redis_sentinel(self) -> SentinelUrl | None:
        """IDP_REDIS_URL taken apart when it names Redis behind Sentinel."""
        if self.redis_url and self.redis_url.partition("://")[0].lower() == SENTINEL_SCHEME:
            return parse_sentinel_url(self.redis_url)
        return None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _Environment(settings_cls)]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class SettingsError(Exception):
    """Settings that cannot work; the message names each bad variable and what is wrong."""


def _is_list(field: FieldInfo) -> bool | None:
    """True for a list setting, False for a dict one, None for the rest."""
    annotation = field.annotation
    origin = typing.get_origin(annotation) or annotation
    if origin is list:
        return True
    if origin is dict:
        return False
    return None


def _variables() -> dict[int, str]:
    """id(field) -> its environment variable, for every list- or dict-valued setting."""
    found: dict[int, str] = {}
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub_name, sub_field in annotation.model_fields.items():
                found[id(sub_field)] = f"IDP_{name}_{sub_name}".upper()
        else:
            found[id(field)] = f"IDP_{name}".upper()
    return found


def parse_structured(variable: str, field: FieldInfo, value: str) -> Any:
    """A list- or dict-valued setting from the environment: JSON, or the plain forms people
    type (`a,b` for a list, `key=value,key2=value2` for a dict). SettingsError names the
    variable and the forms it takes."""
    is_list = _is_list(field)
    text = value.strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    else:
        if isinstance(parsed, list if is_list else dict):
            return parsed
    if is_list:
        if text.startswith("["):
            raise SettingsError(f'{variable}: not a JSON list; write ["a", "b"] or a,b')
        return [item.strip() for item in text.split(",") if item.strip()]
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise SettingsError(f'{variable}: write a JSON object such as {{"number": '
                                f'"employeeID"}} or number=employeeID[,key=value...]')
        pairs[key.strip()] = val.strip()
    return pairs


class _Environment(EnvSettingsSource):
    """The environment, where a list or dict setting may also be written plainly, and a
    value that cannot be read is an error naming its variable (not a traceback)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        if field is None or _is_list(field) is None or not isinstance(value, str):
            return super().decode_complex_value(field_name, field, value)
        variable = _variables().get(id(field), f"IDP_{field_name}".upper())
        return parse_structured(variable, field, value)


def _variable(loc: tuple[Any, ...]) -> str:
    names = [str(part) for part in loc if not isinstance(part, int)]
    return "IDP_" + "_".join(names[:2]).upper() if names else "settings"


def _where(loc: tuple[Any, ...], file_data: dict[str, Any], config_file: Path | None) -> str:
    """Where a bad value came from: its environment variable, or its key in the TOML file
    (a value set in both comes from the environment, which wins)."""
    variable = _variable(loc)
    if config_file is None or any(k.upper() == variable for k in os.environ):
        return variable
    names = [str(part) for part in loc if not isinstance(part, int)][:2]
    section: Any = file_data
    for name in names:
        if not isinstance(section, dict) or name not in section:
            return variable
        section = section[name]
    key = names[-1] if names else "?"
    place = f"[{names[0]}] " if len(names) > 1 else ""
    return f"{place}{key} in {config_file}"


def config_file_from_env() -> Path | None:
    """IDP_CONFIG names the TOML file when `--config` is not given (and for server workers)."""
    value = os.environ.get("IDP_CONFIG")
    return Path(value) if value else None


def _file_data(config_file: Path | None) -> dict[str, Any]:
    if config_file is None:
        return {}
    try:
        with open(config_file, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{config_file} is not valid TOML: {exc}") from None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings: environment first, then the optional TOML file."""
    if config_file is not None and not Path(config_file).is_file():
        raise SettingsError(f"config file {config_file} does not exist")
    path = Path(config_file) if config_file else None
    file_data = _file_data(path)
    token = _config_file.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{_where(error['loc'], file_data, path)}: {message}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    finally:
        _config_file.reset(token)


def effective_settings(settings: Settings, config_file: Path | None = None
                       ) -> list[tuple[str, str, str]]:
    """(variable, value in effect, where it came from: env, file or default) for every
    setting; secrets are masked."""
    file_data = _file_data(config_file)
    environ = {key.upper() for key in os.environ}
    rows: list[tuple[str, str, str]] = []

    def shown(value: Any) -> str:
        if isinstance(value, SecretStr):
            return "********" if value.get_secret_value() else ""
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False)
        return "" if value is None else str(value)

    def origin(variable: str, path: list[str]) -> str:
        if variable in environ:
            return "env"
        section: Any = file_data
        for name in path:
            if not isinstance(section, dict) or name not in section:
                return "default"
            section = section[name]
        return "file"

    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        value = getattr(settings, name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub_name in annotation.model_fields:
                variable = f"IDP_{name}_{sub_name}".upper()
                rows.append((variable, shown(getattr(value, sub_name)),
                             origin(variable, [name, sub_name])))
        else:
            variable = f"IDP_{name}".upper()
            rows.append((variable, shown(value), origin(variable, [name])))
    return rows


def documented_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, from the model itself, so the README
    table (`idp settings`) can never drift from the code."""
    rows: list[tuple[str, str, str]] = []

    def default_text(field: Any) -> str:
        if field.default_factory is not None:
            value = field.default_factory()
            return "" if value == {} else str(value)
        value = field.default
        if isinstance(value, SecretStr):
            return ""
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        # a section: one of ours, or a model another package owns (directory's LdapConfig)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub_name, sub_field in annotation.model_fields.items():
                rows.append((f"IDP_{name}_{sub_name}".upper(), default_text(sub_field),
                             sub_field.description or ""))
        else:
            rows.append((f"IDP_{name}".upper(), default_text(field), field.description or ""))
    rows.append(("IDP_CONFIG", "", "TOML settings file (same as `idp --config FILE`)"))
    return rows
