"""Chinese and English strings of upstream-account sign-in and binding (login page, /account).

They join the interaction pages' catalogue at import, as mfa_text.py's do.
"""

from __future__ import annotations

from idp.web.catalogue import register_catalogue
from idp.web.i18n import CATALOGUE, Locale

UPSTREAM_TEXT: dict[str, dict[Locale, str]] = {
    "upstream_or": {"zh": "或使用已绑定的账号登录", "en": "Or sign in with a bound account"},
    "upstream_sign_in_with": {"zh": "{provider} 登录", "en": "Sign in with {provider}"},
    "upstream_bind_intro": {
        "zh": "您的{provider}账号尚未绑定校园账号。请用校园账号和密码登录一次，即可完成绑定，"
              "以后可直接使用{provider}登录。",
        "en": "Your {provider} account is not bound to a campus account yet. Sign in with your "
              "campus username and password once to bind it; next time {provider} is enough.",
    },
    "upstream_bind_needed": {
        "zh": "请先用校园账号密码登录一次以完成绑定。",
        "en": "Sign in with your campus password once to bind that account.",
    },
    "upstream_err_refused": {
        "zh": "第三方登录已取消或被拒绝。", "en": "The sign-in at the other provider was cancelled "
                                                  "or refused.",
    },
    "upstream_err_failed": {
        "zh": "第三方登录未能完成，请重试或使用校园账号密码登录。",
        "en": "The sign-in at the other provider could not be completed. Try again, or sign in "
              "with your campus password.",
    },
    "upstream_err_account": {
        "zh": "该第三方账号绑定的校园账号已停用。",
        "en": "The campus account bound to that account is disabled.",
    },
    "upstream_unavailable_title": {"zh": "第三方登录暂不可用", "en": "Sign-in provider unavailable"},
    "upstream_unavailable": {
        "zh": "暂时无法连接第三方登录服务，请稍后重试或使用校园账号密码登录。",
        "en": "The other sign-in provider cannot be reached right now. Try again shortly, or "
              "sign in with your campus password.",
    },
    "upstream_unknown_title": {"zh": "未知的登录方式", "en": "Unknown sign-in provider"},
    "upstream_unknown": {"zh": "没有配置这种登录方式。", "en": "No such sign-in provider is set up."},
    # /account
    "account_bindings": {"zh": "已绑定的第三方账号", "en": "Bound accounts"},
    "account_bindings_none": {"zh": "尚未绑定第三方账号。", "en": "No accounts are bound."},
    "account_binding_remove": {"zh": "解除绑定", "en": "Unbind"},
    "account_binding_since": {"zh": "绑定于 {when}", "en": "bound {when}"},
    "account_binding_removed": {"zh": "已解除绑定。", "en": "The account is unbound."},
}

register_catalogue(CATALOGUE, UPSTREAM_TEXT, source="upstream_text")
