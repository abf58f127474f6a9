"""Chinese and English strings of the identity choice page and the account page's identities.

They join the interaction pages' catalogue (idp.web.i18n.CATALOGUE) at import, like mfa_text.
"""

from __future__ import annotations

from idp.web.catalogue import register_catalogue
from idp.web.i18n import CATALOGUE, Locale

IDENTITY_TEXT: dict[str, dict[Locale, str]] = {
    "identity_title": {"zh": "以哪个身份登录", "en": "Sign in as"},
    "identity_intro": {"zh": "您在学校有多个身份。请选择以哪个身份使用 {app}：",
                       "en": "You have more than one identity here. Choose which one {app} "
                             "gets:"},
    "identity_number": {"zh": "学号/工号", "en": "Number"},
    "identity_department": {"zh": "单位", "en": "Department"},
    "identity_affiliation": {"zh": "身份类别", "en": "Affiliation"},
    "identity_use": {"zh": "以此身份继续", "en": "Continue as this identity"},
    "identity_remembered": {
        "zh": "您的选择会被记住，下次使用该应用时不再询问；可在“我的账号”中更改。",
        "en": "Your choice is remembered for this app; change it on My account."},
    "account_identities": {"zh": "我的身份", "en": "My identities"},
    "account_identities_intro": {
        "zh": "以下账号属于您本人。每个应用只会获得您为它选择的身份的信息。",
        "en": "These accounts are all yours. Each app gets only the identity chosen for it."},
    "account_identity_apps": {"zh": "各应用使用的身份", "en": "Identity per app"},
    "account_identity_ask": {"zh": "每次询问", "en": "Ask me each time"},
    "account_identity_save": {"zh": "保存", "en": "Save"},
    "account_identity_changed": {"zh": "已更改该应用使用的身份。",
                                 "en": "The identity for that app has been changed."},
    "account_identity_none": {"zh": "尚未为任何应用选择身份。",
                              "en": "No identity chosen for any app yet."},
}

register_catalogue(CATALOGUE, IDENTITY_TEXT, source="identity_text")
