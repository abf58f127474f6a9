"""Human labels (zh/en) for every claim name the attribute-release record keeps: the OIDC claims
(the consent page's own labels, scopes.py) and the CAS attributes, so /account and the console
say "邮箱 / email" whichever protocol carried it. A name without a label is shown as it is.
The strings of the record's section on /account join the page catalogue here."""

from __future__ import annotations

from idp.web.catalogue import register_catalogue
from idp.web.i18n import CATALOGUE, Locale
from idp.web.scopes import CLAIM_TEXT

CAS_ATTRIBUTE_TEXT: dict[str, dict[Locale, str]] = {
    "user": {"zh": "用户名", "en": "username"},  # the <cas:user> of every CAS success
    "uid": {"zh": "用户名", "en": "username"},
    "cn": {"zh": "姓名", "en": "full name"},
    "displayName": {"zh": "显示名", "en": "display name"},
    "givenName": {"zh": "名", "en": "given name"},
    "sn": {"zh": "姓", "en": "family name"},
    "mail": {"zh": "邮箱", "en": "email"},
    "telephoneNumber": {"zh": "电话", "en": "phone number"},
    "employeeNumber": {"zh": "学号/工号", "en": "student/staff number"},
    "ou": {"zh": "院系/部门", "en": "department"},
    "title": {"zh": "职务", "en": "title"},
    "memberOf": {"zh": "群组", "en": "groups"},
    "eduPersonAffiliation": {"zh": "身份类别", "en": "affiliation"},
    "eduPersonScopedAffiliation": {"zh": "带学校域名的身份类别", "en": "scoped affiliation"},
    "eduPersonPrincipalName": {"zh": "校园通行账号", "en": "campus principal name"},
    "eduPersonEntitlement": {"zh": "资格", "en": "entitlements"},
}

LABELS: dict[str, dict[Locale, str]] = {**CAS_ATTRIBUTE_TEXT, **CLAIM_TEXT}


def claim_label(name: str, locale: Locale) -> str:
    return LABELS.get(name, {}).get(locale, name)


def claim_labels(names: list[str], locale: Locale) -> list[tuple[str, str]]:
    """(name, label) of these names, each label once (OIDC `email` and CAS `mail` are one thing
    to a person)."""
    labelled: list[tuple[str, str]] = []
    for name in names:
        label = claim_label(name, locale)
        if all(label != seen for _, seen in labelled):
            labelled.append((name, label))
    return labelled


RELEASE_TEXT: dict[str, dict[Locale, str]] = {
    "account_releases": {"zh": "哪些应用获取了我的哪些信息",
                         "en": "Which apps received which of my information"},
    "account_releases_note": {
        "zh": "每次应用获取您的信息（登录令牌、用户信息接口、令牌校验、CAS 票据校验），这里都会"
              "记下应用和信息项（只记名称，不记内容），保留 {days} 天。",
        "en": "Each time an app receives information about you (sign-in token, userinfo, token "
              "check, CAS ticket validation) it is noted here: the app and the items (their "
              "names, never their contents), kept for {days} days."},
    "account_releases_forever": {
        "zh": "每次应用获取您的信息（登录令牌、用户信息接口、令牌校验、CAS 票据校验），这里都会"
              "记下应用和信息项（只记名称，不记内容）。",
        "en": "Each time an app receives information about you (sign-in token, userinfo, token "
              "check, CAS ticket validation) it is noted here: the app and the items (their "
              "names, never their contents)."},
    "account_releases_last": {"zh": "最近一次：{when}", "en": "Last time: {when}"},
}

register_catalogue(CATALOGUE, RELEASE_TEXT, source="claim_labels")
