"""Chinese and English strings of the app portal at `/` (home.py), joined to the interaction
pages' catalogue at import like mfa_text.py's."""

from __future__ import annotations

from idp.web.catalogue import register_catalogue
from idp.web.i18n import CATALOGUE, Locale

HOME_TEXT: dict[str, dict[Locale, str]] = {
    "home_title": {"zh": "我的应用", "en": "My apps"},
    "home_welcome": {"zh": "欢迎使用统一身份认证", "en": "Welcome to campus login"},
    "home_intro": {
        "zh": "登录一次，即可使用学校的各个系统：网上办事大厅、OA、教务、图书馆……",
        "en": "Sign in once to use the campus's systems: the service hall, OA, academic "
              "affairs, the library…",
    },
    "home_sign_in": {"zh": "登录", "en": "Sign in"},
    "home_sign_out": {"zh": "退出登录", "en": "Sign out"},
    "home_account": {"zh": "我的账号", "en": "My account"},
    "home_search": {"zh": "搜索应用", "en": "Search apps"},
    "home_search_button": {"zh": "搜索", "en": "Search"},
    "home_none": {"zh": "暂无可用的应用。", "en": "No apps to show."},
    "home_none_found": {"zh": "没有找到“{query}”相关的应用。", "en": "No app matches “{query}”."},
    "home_recent": {"zh": "最近使用", "en": "Recently used"},
    "home_signed_in_as": {"zh": "{user}，您好", "en": "Hello, {user}"},
}

register_catalogue(CATALOGUE, HOME_TEXT, source="home_text")
