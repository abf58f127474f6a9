"""The one typed settings tree. This is the only module that reads the environment.

Every setting is an environment variable `IDP_<SECTION>_<NAME>` (or `IDP_<NAME>` at the top),
and can also come from a TOML file given with `idp --config FILE` (sections `[ldap]`, `[tokens]`,
...). Environment variables win over the file. Settings are validated once, at start; an error
names the variable and what is wrong with it.
"""

from __future__ import annotations

import contextvars
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from directory.config import LdapConfig

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
    directory: Literal["local", "ldap"] = Field("local", description="where people come from")
    keys_dir: Path = Field(Path("var/keys"), description="signing keys (created at first start)")
    trusted_proxies: str = Field(
        "127.0.0.1", description="comma-separated proxy IPs whose X-Forwarded-For is believed ('*': any)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="log level")

    ldap: LdapConfig = Field(default_factory=LdapConfig)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    site: SiteSettings = Field(default_factory=SiteSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    mfa: MfaSettings = Field(default_factory=MfaSettings)
    mail: MailSettings = Field(default_factory=MailSettings)

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
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


class SettingsError(Exception):
    """Settings that cannot work; the message names each bad variable and what is wrong."""


def _variable(loc: tuple[Any, ...]) -> str:
    names = [str(part) for part in loc if not isinstance(part, int)]
    return "IDP_" + "_".join(names[:2]).upper() if names else "settings"


def config_file_from_env() -> Path | None:
    """IDP_CONFIG names the TOML file when `--config` is not given (and for server workers)."""
    value = os.environ.get("IDP_CONFIG")
    return Path(value) if value else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings: environment first, then the optional TOML file."""
    if config_file is not None and not Path(config_file).is_file():
        raise SettingsError(f"config file {config_file} does not exist")
    token = _config_file.set(Path(config_file) if config_file else None)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{_variable(error['loc'])}: {message}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    finally:
        _config_file.reset(token)


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
