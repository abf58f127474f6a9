"""How to reach the campus LDAP directory: the directory's own config model.

The directory package owns this model so that it never imports the IdP: idp/settings.py nests it
as its `[ldap]` section (environment variables IDP_LDAP_*), validates it at start and hands it
down; tests and tools build one directly. Each field's description is its documentation
(`idp settings` prints them as the IDP_LDAP_* table).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class LdapConfig(BaseModel):
    """The campus LDAP directory (OpenLDAP or Active Directory). Used when IDP_DIRECTORY=ldap."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field("ldap://localhost:389", description="one or more URIs, space separated, tried in order")
    bind_dn: str = Field("", description="service account DN used for searches (empty: anonymous)")
    bind_password: SecretStr = Field(SecretStr(""), description="service account password")
    user_base: str = Field("", description="search base for people")
    user_filter: str = Field("(uid={username})", description="filter; {username} is escaped (RFC 4515)")
    group_base: str = Field("", description="search base for groups (empty: the user base)")
    profile: Literal["openldap", "activedirectory"] = Field(
        "openldap", description="attribute defaults: inetOrgPerson + eduPerson, or Active Directory"
    )
    attributes: dict[str, str] = Field(
        default_factory=dict, description="person field -> LDAP attribute, overriding the profile"
    )
    nested_groups: bool | None = Field(
        None, description="resolve nested groups (default: on for activedirectory)"
    )
    start_tls: bool = Field(False, description="upgrade ldap:// connections with StartTLS")
    ca_file: str | None = Field(None, description="CA bundle that verifies the server certificate")
    timeout: float = Field(5.0, gt=0, description="seconds an LDAP operation may take")
    network_timeout: float = Field(3.0, gt=0, description="seconds to connect to one server")
    failover_cooldown: float = Field(
        30.0, ge=0, le=3600,
        description="seconds a server that failed is passed over while the others answer; then "
                    "one request tries it again. A server that timed out is not waited out again "
                    "within this time, even when no other answers; one that refused at once is "
                    "(0: always try every URI in order)")
    pool_size: int = Field(4, ge=1, le=64, description="pooled service connections for searches")
    threads: int = Field(16, ge=1, le=256, description="threads for blocking LDAP calls")
    ppolicy_default_dn: str = Field(
        "", description="DN of the ppolicy overlay's default policy, for the login throttle "
        "(empty: read cn=config, else assume the strictest policy found)"
    )
    admin_bind_dn: str = Field("", description="account that writes people (admin console)")
    admin_bind_password: SecretStr = Field(SecretStr(""), description="its password")
    admin_pool_size: int = Field(2, ge=1, le=16, description="admin connections for writes")
    person_cache_seconds: float = Field(
        30.0, ge=0, le=3600,
        description="seconds each process reuses a person it read for userinfo, refresh and code "
                    "redemption (password checks always ask LDAP; 0: no reuse). A change made in "
                    "the admin console shows at once on the replica that made it; on other "
                    "replicas, and after changes by other LDAP tools, within this time")

    @property
    def urls(self) -> list[str]:
        return self.url.split()

    @field_validator("url")
    @classmethod
    def _check_urls(cls, value: str) -> str:
        urls = value.split()
        if not urls:
            raise ValueError("give at least one ldap:// or ldaps:// URI")
        for url in urls:
            if urlsplit(url).scheme not in ("ldap", "ldaps", "ldapi"):
                raise ValueError(f"{url!r} is not an ldap://, ldaps:// or ldapi:// URI")
        return value

    @field_validator("user_filter")
    @classmethod
    def _check_filter(cls, value: str) -> str:
        if "{username}" not in value:
            raise ValueError("the filter must contain {username}")
        if not (value.startswith("(") and value.endswith(")")):
            raise ValueError("the filter must be enclosed in parentheses")
        return value

    @property
    def resolve_nested_groups(self) -> bool:
        if self.nested_groups is None:
            return self.profile == "activedirectory"
        return self.nested_groups


# an attribute description as RFC 4512 §2.5 spells one: a name (letters, digits, hyphens) or
# an OID; it goes into filters unescaped, so nothing else may pass
_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]{0,63}|[0-9]+(?:\.[0-9]+){1,31})$")


class IdentityLinkConfig(BaseModel):
    """Which directory entries are one person: a student who is also a teaching assistant,
    staff who study part-time. Nested in the IdP's settings as `[identities]`
    (IDP_IDENTITIES_*). Both unset: every entry is a person of its own."""

    model_config = ConfigDict(extra="forbid")

    link_attribute: str = Field(
        "", description="DN-valued attribute naming another entry of the same person (e.g. "
                        "seeAlso), followed both ways; the local directory names the other "
                        "entry by its login name (empty: no links)")
    correlate_by: str = Field(
        "", description="attribute whose shared value makes entries one person (e.g. a "
                        "national-ID hash attribute; empty: no correlation)")

    @field_validator("link_attribute", "correlate_by")
    @classmethod
    def _check_attribute(cls, value: str) -> str:
        value = value.strip()
        if value and not _ATTRIBUTE.match(value):
            raise ValueError(f"{value!r} is not an LDAP attribute name")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.link_attribute or self.correlate_by)
