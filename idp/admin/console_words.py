"""The audit log's vocabulary in the console's languages: event kinds, outcomes, grant types and
the names of detail fields, as the audit log page and the dashboard's charts show them. The
stored values stay the machine words (login, invalid_credentials, ...): filters, the CSV export
and the API speak those; a value this table does not know is shown as stored."""

from __future__ import annotations

from typing import Any

from idp.web.i18n import Locale

KINDS: dict[str, dict[Locale, str]] = {
    "login": {"zh": "登录", "en": "Sign-in"},
    "logout": {"zh": "退出登录", "en": "Sign-out"},
    "logout_delivery": {"zh": "退出通知", "en": "Logout notice"},
    "token": {"zh": "令牌", "en": "Token"},
    "revocation": {"zh": "令牌吊销", "en": "Token revocation"},
    "admin": {"zh": "管理操作", "en": "Admin action"},
    "developer": {"zh": "开发者操作", "en": "Developer action"},
    "access": {"zh": "访问控制", "en": "Access rule"},
    "consent": {"zh": "授权同意", "en": "Consent"},
    "mfa": {"zh": "二次验证", "en": "Second factor"},
    "password": {"zh": "密码", "en": "Password"},
    "password_change": {"zh": "修改密码", "en": "Password change"},
    "password_reset": {"zh": "重置密码", "en": "Password reset"},
    "identity": {"zh": "身份选择", "en": "Identity choice"},
    "upstream": {"zh": "第三方登录", "en": "Upstream sign-in"},
    "cas": {"zh": "CAS", "en": "CAS"},
    "qr": {"zh": "扫码登录", "en": "QR sign-in"},
    "activation": {"zh": "账号激活", "en": "Activation"},
    "device": {"zh": "设备登录", "en": "Device sign-in"},
}

OUTCOMES: dict[str, dict[Locale, str]] = {
    "success": {"zh": "成功", "en": "Success"},
    "offline": {"zh": "成功（目录离线）", "en": "Success (directory offline)"},
    "failed": {"zh": "失败", "en": "Failed"},
    "invalid_credentials": {"zh": "用户名或密码错误", "en": "Wrong username or password"},
    "throttled": {"zh": "尝试过多，已限制", "en": "Too many attempts"},
    "account_locked": {"zh": "账号已锁定", "en": "Account locked"},
    "account_disabled": {"zh": "账号已停用", "en": "Account disabled"},
    "password_expired": {"zh": "密码已过期", "en": "Password expired"},
    "must_change_password": {"zh": "须修改密码", "en": "Must change password"},
    "password_rejected": {"zh": "新密码不符合要求", "en": "New password rejected"},
    "directory_unavailable": {"zh": "目录服务不可用", "en": "Directory unavailable"},
    "directory_error": {"zh": "目录服务错误", "en": "Directory error"},
    "csrf_failed": {"zh": "表单已失效", "en": "Form expired (CSRF)"},
    "denied": {"zh": "无权使用", "en": "Denied"},
    "rejected": {"zh": "被拒绝", "en": "Rejected"},
    "changed": {"zh": "已修改", "en": "Changed"},
    "mailed": {"zh": "已发送邮件", "en": "Mail sent"},
    "no_mail": {"zh": "无邮箱", "en": "No e-mail address"},
    "mail_failed": {"zh": "邮件发送失败", "en": "Mail failed"},
    "asked": {"zh": "已询问", "en": "Asked"},
    "chosen": {"zh": "已选择", "en": "Chosen"},
    "bound": {"zh": "已绑定", "en": "Bound"},
    "unbound": {"zh": "未绑定", "en": "Not bound"},
    "invalid_grant": {"zh": "无效授权", "en": "Invalid grant"},
    "invalid_client": {"zh": "客户端认证失败", "en": "Client authentication failed"},
    "unauthorized_client": {"zh": "客户端无此权限", "en": "Client not allowed"},
    "refresh_reuse": {"zh": "刷新令牌被重复使用", "en": "Refresh token reused"},
    "ticket_issued": {"zh": "已签发票据", "en": "Ticket issued"},
    "validated": {"zh": "票据已验证", "en": "Ticket validated"},
    "wrong_facts": {"zh": "信息不符", "en": "Facts did not match"},
}

GRANTS: dict[str, dict[Locale, str]] = {
    "authorization_code": {"zh": "授权码", "en": "Authorization code"},
    "refresh_token": {"zh": "刷新令牌", "en": "Refresh token"},
    "client_credentials": {"zh": "客户端凭据", "en": "Client credentials"},
    "urn:ietf:params:oauth:grant-type:device_code": {"zh": "设备码", "en": "Device code"},
    "device_code": {"zh": "设备码", "en": "Device code"},
}

# the detail fields an event may carry; others are shown under their stored name
FIELDS: dict[str, dict[Locale, str]] = {
    "reason": {"zh": "原因", "en": "Reason"},
    "grant": {"zh": "授权方式", "en": "Grant"},
    "action": {"zh": "操作", "en": "Action"},
    "target": {"zh": "对象", "en": "Target"},
    "via": {"zh": "途径", "en": "Via"},
    "method": {"zh": "方式", "en": "Method"},
    "subject": {"zh": "主体标识", "en": "Subject"},
    "scope": {"zh": "权限范围", "en": "Scope"},
    "path": {"zh": "路径", "en": "Path"},
    "as_of": {"zh": "密码核对时间", "en": "Password as of"},
    "service": {"zh": "服务地址", "en": "Service"},
    "error": {"zh": "错误", "en": "Error"},
    "count": {"zh": "数量", "en": "Count"},
    "changes": {"zh": "改动", "en": "Changes"},
}

MAX_VALUE = 300  # characters of one detail value shown in a table cell


def word(table: dict[str, dict[Locale, str]], value: str | None, locale: Locale) -> str:
    """The console's word for a stored value, or the value itself."""
    if value is None:
        return ""
    return table.get(value, {}).get(locale, value)


def detail_fields(detail: dict[str, Any] | None, locale: Locale) -> list[tuple[str, str]]:
    """An event's detail as (label, value) pairs, in a stable order, values made readable:
    grants and outcomes in words, lists joined, nested objects as key=value."""
    pairs = []
    for key in sorted(detail or {}):
        value = (detail or {})[key]
        if key == "grant" and isinstance(value, str):
            shown = word(GRANTS, value, locale)
        elif isinstance(value, list):
            shown = ", ".join(str(item) for item in value)
        elif isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
        elif isinstance(value, bool):
            shown = ("是" if value else "否") if locale == "zh" else ("yes" if value else "no")
        else:
            shown = "" if value is None else str(value)
        if len(shown) > MAX_VALUE:
            shown = shown[:MAX_VALUE] + "…"
        pairs.append((word(FIELDS, key, locale), shown))
    return pairs
