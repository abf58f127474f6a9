"""What each scope releases, in words a person can judge on the consent page.

The scope -> claims table is the engine's (idp/protocols/oidc/claims.py), so the page shows exactly what
is released; the descriptions and claim labels are this page's own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from idp.protocols.oidc.claims import SCOPE_CLAIMS
from idp.web.i18n import Locale

SCOPE_TEXT: dict[str, dict[Locale, str]] = {
    "openid": {"zh": "确认您的身份（一个不含个人信息的账号标识）",
               "en": "Confirm who you are (an account id with no personal details)"},
    "profile": {"zh": "您的姓名和用户名", "en": "Your name and username"},
    "email": {"zh": "您的电子邮箱地址", "en": "Your email address"},
    "phone": {"zh": "您的电话号码", "en": "Your phone number"},
    "offline_access": {"zh": "在您离开后继续访问这些信息",
                       "en": "Keep access to this information when you are not using the app"},
    "campus": {"zh": "您的学号/工号、院系和职务", "en": "Your student or staff number, "
               "department and title"},
    "groups": {"zh": "您所属的群组", "en": "The groups you belong to"},
    "eduperson": {"zh": "您在学校的身份（学生、教职工等）和资格",
                  "en": "Your role at the university (student, staff, …) and entitlements"},
}

CLAIM_TEXT: dict[str, dict[Locale, str]] = {
    "sub": {"zh": "账号标识", "en": "account id"},
    "name": {"zh": "姓名", "en": "full name"},
    "given_name": {"zh": "名", "en": "given name"},
    "family_name": {"zh": "姓", "en": "family name"},
    "preferred_username": {"zh": "用户名", "en": "username"},
    "locale": {"zh": "语言", "en": "language"},
    "email": {"zh": "邮箱", "en": "email"},
    "email_verified": {"zh": "邮箱是否已验证", "en": "whether the email is verified"},
    "phone_number": {"zh": "电话", "en": "phone number"},
    "campus_number": {"zh": "学号/工号", "en": "student/staff number"},
    "department": {"zh": "院系/部门", "en": "department"},
    "title": {"zh": "职务", "en": "title"},
    "groups": {"zh": "群组", "en": "groups"},
    "eduperson_affiliation": {"zh": "身份类别", "en": "affiliation"},
    "eduperson_scoped_affiliation": {"zh": "带学校域名的身份类别", "en": "scoped affiliation"},
    "eduperson_principal_name": {"zh": "校园通行账号", "en": "campus principal name"},
    "eduperson_entitlement": {"zh": "资格", "en": "entitlements"},
}


@dataclass(frozen=True, slots=True)
class ScopeLine:
    scope: str
    description: str
    claims: list[str]
    required: bool = False  # the consent page shows it ticked, and it cannot be unticked
    ticked: bool = True


def describe(scopes: list[str], locale: Locale, *, required: Collection[str] = (),
             unticked: Collection[str] = ()) -> list[ScopeLine]:
    lines = []
    for scope in scopes:
        description = SCOPE_TEXT.get(scope, {}).get(locale, scope)
        claims = [CLAIM_TEXT.get(c, {}).get(locale, c) for c in SCOPE_CLAIMS.get(scope, ())]
        is_required = scope in required
        lines.append(ScopeLine(scope, description, claims, is_required,
                               is_required or scope not in unticked))
    return lines


def scope_name(scope: str, locale: Locale) -> str:
    """A scope in the person's words, for a message that names one."""
    return SCOPE_TEXT.get(scope, {}).get(locale, scope)
