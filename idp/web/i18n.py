"""Chinese and English strings for the interaction pages, and how a page picks its language.

A small dict catalogue instead of a gettext toolchain: two languages, a few dozen strings, and
every key is checked by the tests to exist in both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from starlette.requests import Request

from idp.web.catalogue import translator

Locale = Literal["zh", "en"]
LOCALES: tuple[Locale, ...] = ("zh", "en")

CATALOGUE: dict[str, dict[Locale, str]] = {
    # chrome
    "lang_switch": {"zh": "English", "en": "中文"},
    "footer": {"zh": "统一身份认证", "en": "Unified identity authentication"},
    # login
    "login_title": {"zh": "登录", "en": "Sign in"},
    "login_to_app": {"zh": "登录以继续使用 {app}", "en": "Sign in to continue to {app}"},
    "username": {"zh": "用户名（学号/工号）", "en": "Username (student or staff number)"},
    "password": {"zh": "密码", "en": "Password"},
    "sign_in": {"zh": "登录", "en": "Sign in"},
    "login_reason_prompt_login": {
        "zh": "应用要求您重新输入密码。", "en": "The app asks you to enter your password again.",
    },
    "login_reason_max_age": {
        "zh": "您上次登录已超过应用允许的时间，请重新登录。",
        "en": "Your last sign-in is older than the app allows. Please sign in again.",
    },
    "login_reason_other_user": {
        "zh": "应用要求以另一个账号登录。", "en": "The app asks you to sign in as another account.",
    },
    # login errors (one per DirectoryError kind, plus form problems)
    "err_empty_fields": {"zh": "请输入用户名和密码。", "en": "Enter your username and password."},
    "err_invalid_credentials": {"zh": "用户名或密码错误", "en": "Wrong username or password"},
    "err_account_locked": {
        "zh": "账号已被锁定。请稍后再试，或联系信息中心（网络与信息中心服务台）解锁。",
        "en": "This account is locked. Try again later, or ask the IT service desk to unlock it.",
    },
    "err_account_disabled": {
        "zh": "账号已停用。如有疑问，请联系信息中心服务台。",
        "en": "This account is disabled. Ask the IT service desk if you think this is wrong.",
    },
    "err_password_expired": {
        "zh": "密码已过期。请先修改密码（或联系信息中心服务台重置），然后再登录。",
        "en": "Your password has expired. Change it (or ask the IT service desk to reset it), "
              "then sign in again.",
    },
    "err_must_change_password": {
        "zh": "您必须先修改密码才能登录。请修改密码（或联系信息中心服务台），然后再登录。",
        "en": "You must change your password before you can sign in. Change it (or ask the IT "
              "service desk), then sign in again.",
    },
    "err_throttled": {
        "zh": "登录失败次数过多。请 {minutes} 分钟后再试。",
        "en": "Too many failed sign-in attempts. Wait {minutes} minute(s) and try again.",
    },
    "err_directory_unavailable_title": {
        "zh": "暂时无法登录", "en": "Sign-in is temporarily unavailable",
    },
    "err_directory_unavailable": {
        "zh": "校园目录服务暂时无法访问。请稍后再试。",
        "en": "The campus directory cannot be reached right now. Please try again in a few "
              "minutes.",
    },
    "err_service_unavailable": {
        "zh": "登录服务暂时不可用。请稍后再试。",
        "en": "The sign-in service is temporarily unavailable. Please try again in a few minutes.",
    },
    "err_unexpected_title": {"zh": "出错了", "en": "Something went wrong"},
    "err_unexpected": {
        "zh": "处理您的请求时发生了意外错误，已记录下来。请稍后再试。",
        "en": "An unexpected error occurred and has been logged. Please try again later.",
    },
    # access rules
    "access_denied_title": {"zh": "无权使用该应用", "en": "You may not use this app"},
    "access_denied": {
        "zh": "您已登录，但“{app}”只对部分人员开放，您不在其中。如需使用，请联系：{contact}。",
        "en": "You are signed in, but “{app}” is open to some people only, and you are not one "
              "of them. To ask for access, contact: {contact}.",
    },
    "access_denied_desk": {
        "zh": "您已登录，但“{app}”只对部分人员开放，您不在其中。如需使用，请联系该应用的管理部门或"
              "信息中心服务台。",
        "en": "You are signed in, but “{app}” is open to some people only, and you are not one "
              "of them. To ask for access, contact the app's office or the IT service desk.",
    },
    # CAS
    "cas_bad_request_title": {"zh": "无效的登录请求", "en": "This sign-in request is not valid"},
    "cas_bad_service": {
        "zh": "应用提供的 service 地址无效。请从应用重新进入。",
        "en": "The app sent a service address that is not valid. Go back to the app and try "
              "again.",
    },
    "cas_bad_method": {
        "zh": "应用请求的返回方式（method）无效：只支持 GET、POST 或 HEADER。",
        "en": "The app asked for an answer method that does not exist: GET, POST or HEADER.",
    },
    "cas_unknown_service_title": {"zh": "应用未注册", "en": "Application not authorized"},
    "cas_unknown_service": {
        "zh": "该应用尚未在统一身份认证中注册，不能使用单点登录。请联系信息中心。",
        "en": "This application is not registered with the campus sign-in service and may not "
              "use it. Please contact the IT service desk.",
    },
    # consent
    "consent_title": {"zh": "授权", "en": "Allow access"},
    "consent_intro": {
        "zh": "{app} 请求获取您的以下信息：", "en": "{app} would like to receive:",
    },
    "consent_signed_in_as": {"zh": "当前账号：{user}", "en": "Signed in as {user}"},
    "consent_claims": {"zh": "包括：", "en": "Includes:"},
    "consent_choose": {
        "zh": "可以取消勾选您不想提供的项目；应用只会收到您勾选的信息。",
        "en": "Untick anything you would rather not share: the app receives only what is ticked.",
    },
    "consent_required_openid": {
        "zh": "必需：登录本身需要这一项，不能取消。",
        "en": "Required: signing in needs this, so it cannot be unticked.",
    },
    "consent_required_app": {
        "zh": "必需：{app} 缺少这一项将无法使用（由应用注册时设定），不能取消。如不愿提供，请选择“拒绝”。",
        "en": "Required: {app} cannot work without this (set in its registration), so it cannot "
              "be unticked. If you would rather not share it, choose Deny.",
    },
    "consent_invalid_title": {"zh": "无法提交授权", "en": "This answer cannot be accepted"},
    "consent_required_unticked": {
        "zh": "{app} 必需“{scope}”，不能取消勾选。请返回授权页重新选择，或选择“拒绝”。",
        "en": "{app} requires “{scope}”: it cannot be unticked. Go back to the consent page "
              "and answer again, or choose Deny.",
    },
    "consent_not_asked": {
        "zh": "{app} 没有请求“{scope}”，不能授予。请返回授权页重新选择。",
        "en": "{app} did not ask for “{scope}”, so it cannot be granted. Go back to the "
              "consent page and answer again.",
    },
    "allow": {"zh": "同意", "en": "Allow"},
    "deny": {"zh": "拒绝", "en": "Deny"},
    # logout
    "logout_title": {"zh": "退出登录", "en": "Sign out"},
    "logout_question": {
        "zh": "要退出统一身份认证吗？您将同时退出所有通过它登录的应用。",
        "en": "Sign out? You will be signed out of every app you signed into with this account.",
    },
    "logout_question_app": {
        "zh": "{app} 请求退出登录。您将同时退出所有通过统一身份认证登录的应用。",
        "en": "{app} asks to sign you out. You will be signed out of every app you signed into "
              "with this account.",
    },
    "logout_confirm": {"zh": "退出", "en": "Sign out"},
    "logout_cancel_hint": {
        "zh": "如果不想退出，直接关闭此页面即可。", "en": "To stay signed in, just close this page.",
    },
    "signed_out_title": {"zh": "已退出", "en": "Signed out"},
    "signed_out_body": {
        "zh": "您已退出登录。为了安全，请关闭浏览器。",
        "en": "You are signed out. For your safety, close the browser.",
    },
    "signed_out_unregistered": {
        "zh": "应用请求的跳转地址未登记，因此没有跳转。",
        "en": "The app asked to send you to an address that is not registered, so you stay here.",
    },
    # errors
    "error_title": {"zh": "出错了", "en": "Something went wrong"},
    "interaction_expired_title": {"zh": "登录链接已失效", "en": "This sign-in link has expired"},
    "interaction_expired": {
        "zh": "此登录链接已过期或已使用。请返回应用重新登录。",
        "en": "This sign-in link has expired or was already used. Go back to the app and try "
              "again.",
    },
    "csrf_title": {"zh": "表单已失效", "en": "This form has expired"},
    "csrf_detail": {
        "zh": "表单已过期或并非来自本站。请返回上一页刷新后重试。",
        "en": "The form has expired or did not come from this site. Go back, reload the page "
              "and try again.",
    },
    "session_expired_title": {"zh": "登录已失效", "en": "Your session has expired"},
    "session_expired": {
        "zh": "您的登录已过期。请返回应用重新登录。",
        "en": "Your sign-in has expired. Go back to the app and try again.",
    },
    "logout_client_mismatch_title": {"zh": "退出请求无效", "en": "Invalid sign-out request"},
    "logout_client_mismatch": {
        "zh": "退出请求中的应用与令牌不一致。",
        "en": "The app named in the sign-out request does not match its ID token.",
    },
    "bad_request_title": {"zh": "请求无效", "en": "Invalid request"},
    "authorize_invalid_title": {
        "zh": "应用发来的登录请求有误", "en": "The app sent an invalid sign-in request",
    },
    "authorize_malformed": {
        "zh": "登录请求格式有误。请返回应用重试；若问题持续，请联系应用的管理员。",
        "en": "The sign-in request is malformed. Go back to the app and try again; if it keeps "
              "happening, tell the app's administrators.",
    },
    "insecure_transport_title": {"zh": "需要安全连接", "en": "A secure connection is required"},
    "insecure_transport": {
        "zh": "登录只能通过 https 进行。", "en": "Signing in works over https only.",
    },
    # password change (expired, must change, or by choice from the expiry notice)
    "password_title": {"zh": "修改密码", "en": "Change your password"},
    "password_for_user": {"zh": "账号：{user}", "en": "Account: {user}"},
    "password_reason_password_expired": {
        "zh": "您的密码已过期。请设置新密码，然后将继续登录。",
        "en": "Your password has expired. Choose a new one and you will be signed in.",
    },
    "password_reason_must_change_password": {
        "zh": "您需要先修改密码（例如管理员刚为您重置了密码），然后将继续登录。",
        "en": "You must change your password first (for example after an administrator reset "
              "it); then you will be signed in.",
    },
    "password_reason_expiring": {
        "zh": "请设置新密码，完成后将继续登录。", "en": "Choose a new password; then you will continue.",
    },
    "current_password": {"zh": "当前密码", "en": "Current password"},
    "new_password": {"zh": "新密码", "en": "New password"},
    "new_password_again": {"zh": "再次输入新密码", "en": "New password again"},
    "change_password": {"zh": "修改密码", "en": "Change password"},
    "err_password_fields": {
        "zh": "请填写当前密码和两次新密码。", "en": "Fill in the current password and the new one twice.",
    },
    "err_password_mismatch": {
        "zh": "两次输入的新密码不一致。", "en": "The two new passwords are not the same.",
    },
    "err_password_same": {
        "zh": "新密码不能与当前密码相同。", "en": "The new password must differ from the current one.",
    },
    "err_current_password_wrong": {"zh": "当前密码不正确。", "en": "The current password is wrong."},
    "err_password_too_short": {
        "zh": "新密码太短。请使用更长的密码（至少 8 个字符，建议使用一句话）。",
        "en": "The new password is too short. Use a longer one (at least 8 characters; a "
              "sentence works well).",
    },
    "err_password_quality": {
        "zh": "新密码不符合密码策略（长度或复杂度不足）。请换一个更长、更难猜的密码。",
        "en": "The new password does not meet the password policy (length or complexity). "
              "Choose a longer, harder to guess one.",
    },
    "err_password_in_history": {
        "zh": "不能使用最近用过的密码。请换一个新密码。",
        "en": "You used this password recently. Choose one you have not used before.",
    },
    "err_password_too_young": {
        "zh": "密码刚修改过，暂时不能再次修改。请稍后再试。",
        "en": "Your password was changed very recently and cannot be changed again yet. Try "
              "again later.",
    },
    "err_password_not_allowed": {
        "zh": "目录不允许在此修改该账号的密码。请联系信息中心服务台。",
        "en": "The directory does not allow changing this account's password here. Ask the IT "
              "service desk.",
    },
    "err_password_expired_no_change": {
        "zh": "密码已过期，且无法在此修改。请联系信息中心服务台重置密码。",
        "en": "Your password has expired and cannot be changed here. Ask the IT service desk to "
              "reset it.",
    },
    # expiry notice after a successful sign-in
    "notice_title": {"zh": "密码即将过期", "en": "Your password expires soon"},
    "notice_expires_in": {
        "zh": "您的密码将在 {days} 天内过期。建议现在修改，以免无法登录。",
        "en": "Your password expires within {days} days. Change it now so that you are not "
              "locked out.",
    },
    "notice_grace_title": {"zh": "密码已过期", "en": "Your password has expired"},
    "notice_grace": {
        "zh": "您的密码已过期。在必须修改密码之前，您还可以登录 {count} 次。",
        "en": "Your password has expired. You can sign in {count} more times before you must "
              "change it.",
    },
    "notice_continue": {"zh": "继续", "en": "Continue"},
    "notice_change_now": {"zh": "立即修改密码", "en": "Change password now"},
    # request limits
    "err_too_large_title": {"zh": "请求过大", "en": "Request too large"},
    "err_too_large": {
        "zh": "提交的内容过大（上限 {limit} 字节）。",
        "en": "The request is larger than this server accepts ({limit} bytes).",
    },
}


# an unknown key is returned as is, so engine-supplied free text passes through error_page
text = translator(CATALOGUE)

def match_locale(tag: str) -> Locale | None:
    """BCP 47 tag -> a supported locale: zh, zh-CN, zh-Hans-CN -> zh; en-GB -> en."""
    primary = tag.strip().split("-")[0].split("_")[0].lower()
    return primary if primary in LOCALES else None  # type: ignore[return-value]


def from_ui_locales(ui_locales: str | None) -> Locale | None:
    """First supported tag of an OIDC ui_locales value (space-separated, by preference; OIDC
    Core §3.1.2.1)."""
    for tag in (ui_locales or "").split()[:10]:
        locale = match_locale(tag)
        if locale:
            return locale
    return None


def from_accept_language(header: str | None) -> Locale | None:
    """Best supported language of an Accept-Language header (RFC 9110 §12.5.4), by q value."""
    ranked: list[tuple[float, int, Locale]] = []
    for index, item in enumerate((header or "").split(",")[:20]):
        tag, _, params = item.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        locale = match_locale(tag)
        if locale and quality > 0:
            ranked.append((-quality, index, locale))
    return min(ranked)[2] if ranked else None


def choose_locale(
    request: Request, default: Locale, *, ui_locales: str | None = None,
    form: Mapping[str, object] | None = None,
) -> Locale:
    """The page language: the query's or form's ui_locales (the language switch), then the
    authorization request's ui_locales, then Accept-Language, then the site default."""
    form_value = form.get("ui_locales") if form else None
    return (
        from_ui_locales(request.query_params.get("ui_locales"))
        or from_ui_locales(form_value if isinstance(form_value, str) else None)
        or from_ui_locales(ui_locales)
        or from_accept_language(request.headers.get("accept-language"))
        or default
    )
