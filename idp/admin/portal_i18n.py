"""Chinese and English strings of the developer portal.

Kept apart from idp/web/i18n.py (the interaction UI's catalogue, another package's file): `text`
looks here first and falls back to that catalogue, so the portal shares its chrome strings
(language switch, footer, CSRF and error titles) and adds its own.
"""

from __future__ import annotations

from idp.web.catalogue import translator
from idp.web.i18n import CATALOGUE, Locale

PORTAL_CATALOGUE: dict[str, dict[Locale, str]] = {
    "portal_title": {"zh": "开发者门户", "en": "Developer portal"},
    "portal_intro": {
        "zh": "在这里登记您的应用，接入统一身份认证（OpenID Connect，或老系统使用的 CAS）。",
        "en": "Register your apps here to sign people in with campus login (OpenID Connect, or "
              "CAS for older systems).",
    },
    "portal_signed_in_as": {"zh": "当前账号：{user}", "en": "Signed in as {user}"},
    "portal_sign_out": {"zh": "退出登录", "en": "Sign out"},
    "portal_my_apps": {"zh": "我的应用", "en": "My apps"},
    "portal_no_apps": {"zh": "您还没有登记任何应用。", "en": "You have not registered any app yet."},
    "portal_new_app": {"zh": "登记新应用", "en": "Register a new app"},
    "portal_back": {"zh": "返回应用列表", "en": "Back to my apps"},
    "portal_forbidden_title": {"zh": "无权访问开发者门户", "en": "No access to the developer portal"},
    "portal_forbidden": {
        "zh": "开发者门户仅对“{group}”组的成员开放。如需登记应用，请联系信息中心服务台申请加入。",
        "en": "The developer portal is open to members of the group “{group}”. To register an "
              "app, ask the IT service desk to add you to it.",
    },
    "portal_not_found_title": {"zh": "找不到该应用", "en": "App not found"},
    "portal_not_found": {
        "zh": "该应用不存在，或不属于您的账号。", "en": "This app does not exist or is not yours.",
    },
    "portal_login_failed_title": {"zh": "登录未完成", "en": "Sign-in was not completed"},
    "portal_login_failed": {
        "zh": "登录没有完成（{error}）。请返回开发者门户重试。",
        "en": "The sign-in did not complete ({error}). Go back to the developer portal and "
              "try again.",
    },
    # app states
    "status_active": {"zh": "已启用", "en": "Approved"},
    "status_pending": {"zh": "待审核", "en": "Pending approval"},
    "status_disabled": {"zh": "已停用", "en": "Disabled"},
    "status_pending_help": {
        "zh": "应用申请了需要审核的权限范围，管理员批准后才能使用。在此之前令牌端点会返回 invalid_client。",
        "en": "The app asks for scopes that need an admin's approval; until then the token "
              "endpoint answers invalid_client.",
    },
    # the app form
    "field_name": {"zh": "应用名称", "en": "App name"},
    "field_type": {"zh": "应用类型", "en": "App type"},
    "type_confidential": {
        "zh": "服务器端应用（有客户端密钥）", "en": "Server-side app (with a client secret)",
    },
    "type_public": {
        "zh": "单页应用或移动应用（无密钥，使用 PKCE）",
        "en": "Single-page or mobile app (no secret, uses PKCE)",
    },
    "field_redirect_uris": {"zh": "回调地址（每行一个）", "en": "Redirect URIs (one per line)"},
    "field_redirect_help": {
        "zh": "必须使用 https；仅 localhost / 127.0.0.1 可以使用 http。",
        "en": "Must use https; http only on localhost / 127.0.0.1.",
    },
    "field_post_logout": {
        "zh": "退出后跳转地址（每行一个，可选）", "en": "Post-logout redirect URIs (one per line, optional)",
    },
    "field_backchannel": {"zh": "后端通道退出地址（可选）", "en": "Back-channel logout URI (optional)"},
    "field_scopes": {"zh": "申请的权限范围", "en": "Requested scopes"},
    "field_scopes_help": {
        "zh": "标有“需审核”的范围须填写用途说明，管理员批准后生效。",
        "en": "Scopes marked “needs approval” need a reason and take effect once an admin "
              "approves them.",
    },
    "needs_approval": {"zh": "需审核", "en": "needs approval"},
    "field_required_scope": {"zh": "必需（应用缺少它无法使用）",
                             "en": "required (the app cannot work without it)"},
    "field_required_help": {
        "zh": "用户在授权页上可以取消勾选不需要的项目；勾选“必需”的项目（以及 openid）不能"
              "取消。只把应用确实离不开的信息设为必需。",
        "en": "On the consent page people may untick what they would rather not share; scopes "
              "marked “required” (and openid) cannot be unticked. Mark only what the app truly "
              "cannot work without.",
    },
    "field_reason": {"zh": "用途说明", "en": "Reason"},
    "save": {"zh": "保存", "en": "Save"},
    "register": {"zh": "登记应用", "en": "Register app"},
    "saved": {"zh": "已保存。", "en": "Saved."},
    "err_form": {"zh": "请修正以下问题：{problem}", "en": "Please fix this: {problem}"},
    "err_reason_missing": {
        "zh": "权限范围 {scope} 需要填写用途说明。", "en": "Give a reason for the scope {scope}.",
    },
    "err_no_secret": {
        "zh": "此应用没有客户端密钥。", "en": "This app has no client secret.",
    },
    # credentials
    "credentials": {"zh": "凭据", "en": "Credentials"},
    "client_id": {"zh": "客户端 ID（client_id）", "en": "Client ID (client_id)"},
    "client_secret": {"zh": "客户端密钥（client_secret）", "en": "Client secret (client_secret)"},
    "secret_once": {
        "zh": "密钥只显示这一次，请立即妥善保存。服务器只保存其摘要，无法再次找回。",
        "en": "The secret is shown only this once: store it now. The server keeps only a "
              "digest and cannot show it again.",
    },
    "app_registered": {"zh": "应用已登记", "en": "App registered"},
    "secret_rotated": {"zh": "已生成新密钥", "en": "New secret issued"},
    "secret_grace": {
        "zh": "旧密钥在 {until} 之前仍然有效，请在此之前更新应用配置。",
        "en": "The old secret keeps working until {until}: update your app before then.",
    },
    "rotate_secret": {"zh": "更换密钥", "en": "Rotate secret"},
    "rotate_help": {
        "zh": "生成新密钥；旧密钥在 {days} 天宽限期内仍可使用。",
        "en": "Issues a new secret; the old one keeps working for a {days}-day grace period.",
    },
    "issuer": {"zh": "签发者（issuer）", "en": "Issuer"},
    "edit_app": {"zh": "修改应用", "en": "Edit app"},
    "go_to_app": {"zh": "查看应用", "en": "Open the app"},
    # claims preview
    "preview_title": {"zh": "声明预览", "en": "Claims preview"},
    "preview_help_group": {
        "zh": "查看应用按已批准的权限范围会收到哪些声明。只能预览您自己，或管理员指定的测试账号"
              "（“{group}”组的成员）；每次预览都会记入审计日志。",
        "en": "See exactly which claims this app would receive for the scopes approved so far. "
              "You can preview yourself, or a test account an admin designated (members of the "
              "group “{group}”); every preview is recorded in the audit log.",
    },
    "preview_help_self": {
        "zh": "查看应用按已批准的权限范围会收到哪些声明。只能预览您自己的账号；每次预览都会记入审计日志。",
        "en": "See exactly which claims this app would receive for the scopes approved so far. "
              "You can preview your own account only; every preview is recorded in the audit log.",
    },
    "preview_scopes": {"zh": "预览的权限范围：", "en": "Scopes previewed:"},
    "preview_withheld": {
        "zh": "以下权限范围尚待管理员批准，批准前不会预览，应用也不会收到：",
        "en": "Not approved by an admin yet, so neither previewed nor released to the app:",
    },
    "preview_username": {"zh": "用户名（您自己或测试账号）", "en": "Username (yours or a test account's)"},
    "preview_button": {"zh": "预览", "en": "Preview"},
    "preview_for": {"zh": "{user} 的声明：", "en": "Claims for {user}:"},
    "preview_refused_group": {
        "zh": "只能预览您自己，或管理员指定的测试账号（“{group}”组的成员）。",
        "en": "Only yourself or a test account an admin designated (a member of the group "
              "“{group}”) can be previewed.",
    },
    "preview_refused_self": {
        "zh": "只能预览您自己的账号。",
        "en": "Only your own account can be previewed.",
    },
    # snippets
    "snippets_title": {"zh": "快速接入示例", "en": "Quick-start snippets"},
    "snippets_help": {
        "zh": "以下代码已填入本应用的真实参数；密钥请通过环境变量 CAMPUS_CLIENT_SECRET 提供。",
        "en": "These snippets carry this app's real values; supply the secret through the "
              "CAMPUS_CLIENT_SECRET environment variable.",
    },
    # CAS services (portal_cas.py)
    "cas_new": {"zh": "登记 CAS 应用", "en": "Register a CAS service"},
    "cas_edit": {"zh": "修改 CAS 应用", "en": "Edit the CAS service"},
    "cas_form_help": {
        "zh": "使用 CAS 协议接入的系统（如教务、图书馆、财务系统）在此登记。"
              "登记和新增的服务地址、属性需经管理员审核后生效。",
        "en": "Systems that sign in through the CAS protocol (academic affairs, library, finance) "
              "register here. A registration, and any service URL or attribute added later, "
              "takes effect once an admin approves it.",
    },
    "cas_field_services": {"zh": "服务地址（service）", "en": "Service URLs"},
    "cas_services_help": {
        "zh": "每行一个：完整的 https 地址，或以 ^ 开头、$ 结尾的正则表达式，主机名须写明，例如 ^https://jw\\.example\\.edu/.*$。",
        "en": "One per line: an exact https URL, or a regular expression anchored with ^ and $ "
              "that spells out the host, e.g. ^https://jw\\.example\\.edu/.*$.",
    },
    "cas_field_slo": {"zh": "单点退出地址（可选）", "en": "Single logout URL (optional)"},
    "cas_slo_help": {
        "zh": "用户退出时，统一身份认证向此地址 POST SAML LogoutRequest。",
        "en": "When a person signs out, campus login POSTs a SAML LogoutRequest here.",
    },
    "cas_field_attributes": {"zh": "需要的用户属性", "en": "Attributes the service needs"},
    "cas_attributes_help": {
        "zh": "只勾选业务确实需要的属性（最小必要原则）。",
        "en": "Tick only what the service really needs (minimum necessary).",
    },
    "cas_field_reason": {
        "zh": "应用用途及需要这些属性的理由（供管理员审核）",
        "en": "What the service is and why it needs these attributes (for the admin who approves it)",
    },
    "cas_pending_help": {
        "zh": "等待管理员审核：审核通过前，CAS 服务器不接受此应用的服务地址。",
        "en": "Waiting for an admin's approval: until then the CAS server does not accept this "
              "service's URLs.",
    },
    "cas_settings": {"zh": "接入参数", "en": "Connection settings"},
    "cas_server": {"zh": "CAS 服务器地址", "en": "CAS server URL"},
    "cas_app_id": {"zh": "应用编号", "en": "App id"},
    "cas_snippet_help": {
        "zh": "用 CAS 3.0 校验（/p3/serviceValidate）以获取属性。",
        "en": "Validate with CAS 3.0 (/p3/serviceValidate) to receive the attributes.",
    },
    "err_cas_taken": {
        "zh": "以下服务地址已属于另一个应用：{entries}。如确需接管，请联系管理员。",
        "en": "These service URLs belong to another app: {entries}. Ask an admin if this one "
              "should take them over.",
    },
    # who may use the app (portal_access.py)
    "access_title": {"zh": "谁可以使用此应用", "en": "Who may use this app"},
    "access_everyone": {"zh": "所有已登录的人。", "en": "Everyone signed in."},
    "access_limited": {"zh": "仅限以下组或身份类别：", "en": "Only these groups or affiliations:"},
    "access_waiting": {"zh": "等待管理员审核的新规则：", "en": "New rule waiting for an admin:"},
    "access_help": {
        "zh": "每行一个组名；身份类别用逗号分隔（如 faculty, staff, student）。收紧规则立即生效；"
              "放宽规则（允许更多人）需管理员审核。",
        "en": "One group per line; affiliations separated by commas (e.g. faculty, staff, "
              "student). Narrowing the rule applies at once; widening it (letting more people "
              "in) waits for an admin.",
    },
    "access_groups": {"zh": "允许的组", "en": "Allowed groups"},
    "access_affiliations": {"zh": "允许的身份类别", "en": "Allowed affiliations"},
    "access_save": {"zh": "保存规则", "en": "Save the rule"},
    "access_saved": {"zh": "规则已生效。", "en": "The rule applies now."},
    "access_requested": {
        "zh": "新规则会让更多人使用此应用，已提交管理员审核。",
        "en": "The new rule would let more people in: it waits for an admin's approval.",
    },
}


# this table first, then the interaction pages' catalogue (idp/web/catalogue.py)
text = translator(PORTAL_CATALOGUE, CATALOGUE)
