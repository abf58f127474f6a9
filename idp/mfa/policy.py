"""When a second factor is required, and what a login proved (acr / amr).

Authentication context classes (OIDC Core §2 `acr`), listed in discovery as
acr_values_supported:
- ACR_PWD  "urn:campus-idp:acr:pwd": the campus password alone;
- ACR_MFA  "urn:campus-idp:acr:mfa": the password and a second factor;
- ACR_FED  "urn:campus-idp:acr:fed": an upstream account bound to the person (another OpenID
  provider, WeCom, DingTalk, WeChat) and no second factor here.
Authentication methods (RFC 8176 §2 `amr`): "pwd"; "otp" for an authenticator app code or a
recovery code (both one-time passwords); "hwk" for a WebAuthn key (proof of possession of a
hardware-secured key); "fed" for a sign-in at an upstream provider (federated).

A second factor is required when the client says so (Client.extra["require_mfa"]), when the
person is in one of the groups of IDP_MFA_REQUIRED_GROUPS, or when the request asks for ACR_MFA
only (acr_values, OIDC Core §3.1.2.1, or an essential `acr` claim, §5.5.1.1). Someone who has
enrolled a factor is asked for it at every password login, required or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from directory.base import Person
from idp.settings import Settings

ACR_PWD = "urn:campus-idp:acr:pwd"
ACR_MFA = "urn:campus-idp:acr:mfa"
ACR_FED = "urn:campus-idp:acr:fed"
ACR_VALUES_SUPPORTED = [ACR_PWD, ACR_MFA, ACR_FED]
AMR_FED = "fed"
SECOND_FACTORS = frozenset({"otp", "hwk", "swk"})
MAX_ACR_VALUES = 10


def acr_for(amr: Iterable[str] | None) -> str:
    """The class a set of methods reaches."""
    methods = set(amr or ())
    if SECOND_FACTORS & methods:
        return ACR_MFA
    return ACR_FED if AMR_FED in methods else ACR_PWD


def has_second_factor(amr: Iterable[str] | None, acr: str | None) -> bool:
    return acr == ACR_MFA or bool(SECOND_FACTORS & set(amr or ()))


def recent_enough(*, age: int, amr: Iterable[str] | None, acr: str | None, enrolled: bool,
                  window: int) -> bool:
    """Whether a session may change how its person signs in (step-up, GitHub's "sudo mode"):
    its last check is at most `window` seconds old (`age`, from SsoSession.auth_time) and, when
    the person has a second factor (`enrolled`), that check used it. A password alone is not
    enough to take a factor away from someone who has one."""
    if age > window:  # (a little below 0 is another replica's clock: fresh)
        return False
    return not enrolled or has_second_factor(amr, acr)


def _essential_acr(claims_param: str | None) -> list[str]:
    """Values of `"acr": {"essential": true, "value(s)": ...}` in the claims parameter's
    id_token member (§5.5.1.1); the engine has already checked that the parameter is JSON."""
    if not claims_param:
        return []
    try:
        parsed = json.loads(claims_param)
    except ValueError:
        return []
    id_token = parsed.get("id_token") if isinstance(parsed, dict) else None
    acr: Any = id_token.get("acr") if isinstance(id_token, dict) else None
    if not isinstance(acr, dict) or acr.get("essential") is not True:
        return []
    values = acr.get("values") if isinstance(acr.get("values"), list) else [acr.get("value")]
    return [v for v in values if isinstance(v, str)]


def requested_acr_values(params: Mapping[str, Any]) -> list[str]:
    """The acr values an authorization request asks for, most preferred first."""
    raw = params.get("acr_values")
    values = raw.split()[:MAX_ACR_VALUES] if isinstance(raw, str) else []
    claims = params.get("claims")
    return values + _essential_acr(claims if isinstance(claims, str) else None)


def acr_demands_mfa(acr_values: Iterable[str]) -> bool:
    """True when the request names ACR_MFA and none of the weaker ACR_PWD, ACR_FED. Unknown
    values are ignored: acr_values is a voluntary request (OIDC Core §5.5.1.1)."""
    known = {v for v in acr_values if v in ACR_VALUES_SUPPORTED}
    return ACR_MFA in known and not known & {ACR_PWD, ACR_FED}


def client_requires_mfa(extra: Mapping[str, Any] | None) -> bool:
    return bool((extra or {}).get("require_mfa"))


def mfa_requirement(settings: Settings, *, client_extra: Mapping[str, Any] | None,
                    person: Person, acr_values: Iterable[str]) -> str | None:
    """Why this person must show a second factor for this request ("client", "group",
    "acr_values"), or None."""
    if client_requires_mfa(client_extra):
        return "client"
    if set(settings.mfa.required_groups) & set(person.groups):
        return "group"
    if acr_demands_mfa(acr_values):
        return "acr_values"
    return None
