"""Chinese and English strings of the second-factor and account pages.

They join the interaction pages' catalogue (idp.web.i18n.CATALOGUE) at import, so templates use
the same `t()`; every key has both languages and none may shadow an existing one.
"""

from __future__ import annotations

from idp.web.catalogue import register_catalogue
from idp.web.i18n import CATALOGUE, Locale

MFA_TEXT: dict[str, dict[Locale, str]] = {
    # second factor at login
    "mfa_title": {"zh": "两步验证", "en": "Two-step verification"},
    "mfa_intro": {"zh": "请完成第二步验证，以继续使用 {app}。",
                  "en": "Confirm it is you to continue to {app}."},
    "mfa_reason_client": {"zh": "{app} 要求两步验证。", "en": "{app} requires two-step verification."},
    "mfa_reason_group": {"zh": "您的账号要求两步验证。",
                         "en": "Your account requires two-step verification."},
    "mfa_reason_acr_values": {"zh": "{app} 要求更高的登录安全等级。",
                              "en": "{app} asks for a stronger sign-in."},
    "mfa_reason_step_up": {"zh": "{app} 要求两步验证，您无需重新输入密码。",
                           "en": "{app} requires two-step verification; no need to enter your "
                                 "password again."},
    "mfa_totp_label": {"zh": "身份验证器应用中的 6 位验证码",
                       "en": "6-digit code from your authenticator app"},
    "mfa_verify": {"zh": "验证", "en": "Verify"},
    "mfa_use_passkey": {"zh": "使用通行密钥或安全密钥", "en": "Use a passkey or security key"},
    "mfa_recovery_label": {"zh": "恢复码", "en": "Recovery code"},
    "mfa_use_recovery": {"zh": "使用恢复码", "en": "Use a recovery code"},
    "mfa_recovery_hint": {"zh": "无法使用手机或密钥？输入一个恢复码。",
                          "en": "No phone or key at hand? Enter one of your recovery codes."},
    "mfa_err_wrong_code": {"zh": "验证码不正确，请重试。", "en": "That code is not right. Try again."},
    "mfa_err_throttled": {"zh": "错误次数过多。请 15 分钟后再试。",
                          "en": "Too many wrong answers. Wait 15 minutes and try again."},
    "mfa_err_passkey": {"zh": "通行密钥验证未通过，请重试。",
                        "en": "The passkey could not be verified. Try again."},
    "mfa_needs_js": {"zh": "通行密钥需要浏览器启用 JavaScript。",
                     "en": "Passkeys need JavaScript to be enabled in the browser."},
    "mfa_enrol_title": {"zh": "设置两步验证", "en": "Set up two-step verification"},
    "mfa_enrol_intro": {
        "zh": "请用身份验证器应用（如 Microsoft Authenticator、Google 身份验证器）扫描二维码，"
              "然后输入应用显示的 6 位验证码。",
        "en": "Scan the QR code with an authenticator app (such as Microsoft Authenticator or "
              "Google Authenticator), then enter the 6-digit code it shows.",
    },
    "mfa_enrol_required": {"zh": "登录前需要先设置两步验证。",
                           "en": "You need to set up two-step verification before signing in."},
    "mfa_enrol_secret": {"zh": "无法扫描？在应用中手动输入此密钥：",
                         "en": "Cannot scan? Type this key into the app:"},
    "mfa_qr_alt": {"zh": "身份验证器应用的设置二维码", "en": "QR code for the authenticator app"},
    "mfa_codes_title": {"zh": "保存您的恢复码", "en": "Save your recovery codes"},
    "mfa_codes_intro": {
        "zh": "手机或密钥丢失时，可用这些恢复码登录，每个只能使用一次。离开此页面后将无法再次查看，"
              "请打印或保存在安全的地方。",
        "en": "If you lose your phone or key, each of these codes signs you in once. They are "
              "not shown again after you leave this page: print them or keep them somewhere safe.",
    },
    "mfa_continue": {"zh": "继续", "en": "Continue"},
    # the account page
    "account_title": {"zh": "我的账号", "en": "My account"},
    "account_client_name": {"zh": "账号设置", "en": "Account settings"},
    "account_signed_in_as": {"zh": "当前账号：{user}", "en": "Signed in as {user}"},
    "account_password": {"zh": "修改密码", "en": "Change password"},
    "account_old_password": {"zh": "当前密码", "en": "Current password"},
    "account_new_password": {"zh": "新密码", "en": "New password"},
    "account_confirm_password": {"zh": "再次输入新密码", "en": "New password again"},
    "account_password_changed": {"zh": "密码已修改。", "en": "Your password has been changed."},
    "account_err_old_password": {"zh": "当前密码不正确。", "en": "The current password is not right."},
    "account_err_mismatch": {"zh": "两次输入的新密码不一致。",
                             "en": "The two new passwords do not match."},
    "account_err_too_short": {"zh": "新密码至少需要 {n} 个字符。",
                              "en": "The new password needs at least {n} characters."},
    "account_err_rejected": {"zh": "目录服务拒绝了新密码（可能不符合密码策略）：{reason}",
                             "en": "The directory refused the new password (it may not meet the "
                                   "password policy): {reason}"},
    "account_err_unsupported": {"zh": "暂时无法在此修改密码，请联系信息中心服务台。",
                                "en": "Passwords cannot be changed here right now. Ask the IT "
                                      "service desk."},
    "account_factors": {"zh": "两步验证", "en": "Two-step verification"},
    "account_totp": {"zh": "身份验证器应用", "en": "Authenticator app"},
    "account_totp_on": {"zh": "已设置", "en": "Set up"},
    "account_totp_off": {"zh": "未设置", "en": "Not set up"},
    "account_totp_add": {"zh": "设置身份验证器应用", "en": "Set up an authenticator app"},
    "account_totp_replace": {"zh": "更换身份验证器应用", "en": "Replace the authenticator app"},
    "account_remove": {"zh": "移除", "en": "Remove"},
    "account_passkeys": {"zh": "通行密钥和安全密钥", "en": "Passkeys and security keys"},
    "account_passkey_add": {"zh": "添加通行密钥", "en": "Add a passkey"},
    "account_passkey_name": {"zh": "名称（如“我的手机”）", "en": "Name (such as “my phone”)"},
    "account_none": {"zh": "无", "en": "None"},
    "account_recovery": {"zh": "恢复码", "en": "Recovery codes"},
    "account_recovery_left": {"zh": "剩余 {n} 个未使用", "en": "{n} unused"},
    "account_recovery_new": {"zh": "生成新的恢复码", "en": "Make new recovery codes"},
    "account_sessions": {"zh": "登录中的设备", "en": "Where you are signed in"},
    "account_session_this": {"zh": "（当前设备）", "en": "(this device)"},
    "account_session_since": {"zh": "登录于 {when}，IP {ip}", "en": "Since {when}, IP {ip}"},
    "account_sign_out": {"zh": "退出", "en": "Sign out"},
    "account_consents": {"zh": "已授权的应用", "en": "Apps you allowed"},
    "account_revoke": {"zh": "撤销授权", "en": "Revoke"},
    "account_consent_since": {"zh": "（授权于 {when}）", "en": "(allowed on {when})"},
    "account_consent_declined": {"zh": "您没有同意提供：", "en": "You chose not to share:"},
    "account_revoke_explain": {
        "zh": "撤销后，该应用不能再在后台读取您的信息；下次使用时会重新询问您。",
        "en": "After you revoke, the app can no longer read your details in the background, "
              "and it will ask you again the next time you use it.",
    },
    "account_done": {"zh": "已完成。", "en": "Done."},
    "account_back": {"zh": "返回我的账号", "en": "Back to my account"},
    # step-up before changing factors, recovery codes or the password (account_step_up.py)
    "account_step_up_title": {"zh": "请确认是您本人", "en": "Confirm it is you"},
    "account_step_up_why_factor": {
        "zh": "添加或移除两步验证方式、生成新的恢复码和修改密码，需要在最近 {minutes} 分钟内用"
              "两步验证确认过身份。当前登录没有这样的验证（或已超过时间），所以请再验证一次，"
              "无需重新输入密码。这样，即使有人拿到了您仍登录着的浏览器或您的密码，也无法改动"
              "您账号的保护方式。",
        "en": "Adding or removing a second factor, making new recovery codes and changing your "
              "password need a check with your second factor within the last {minutes} minutes. "
              "This sign-in has none that recent, so please verify again (no password needed). "
              "That way, someone who gets hold of a browser where you are still signed in, or of "
              "your password, cannot change how your account is protected.",
    },
    "account_step_up_why_password": {
        "zh": "添加两步验证方式、生成新的恢复码等安全设置的改动，需要在最近 {minutes} 分钟内"
              "输入过密码。当前登录已超过这个时间，所以请再输入一次密码。这样，即使有人拿到了"
              "您仍登录着的浏览器，也无法改动您账号的保护方式。",
        "en": "Changes to how your account is protected, such as adding a second factor or "
              "making new recovery codes, need your password entered within the last {minutes} "
              "minutes. This sign-in is older, so please enter your password again. That way, "
              "someone who gets hold of a browser where you are still signed in cannot change "
              "how your account is protected.",
    },
    "account_step_up_continue": {"zh": "继续验证", "en": "Continue"},
    "account_step_up_note": {
        "zh": "为保护您的账号：修改两步验证、恢复码或密码时，如果上次验证已超过 {minutes} 分钟"
              "（已设置两步验证的，需用两步验证），会请您再次确认身份。",
        "en": "To protect your account, changing second factors, recovery codes or your password "
              "asks you to confirm it is you again when your last check (with your second factor, "
              "once you have one) is more than {minutes} minutes old.",
    },
    "account_confirmed": {"zh": "身份已确认，现在可以修改两步验证和密码。",
                          "en": "Confirmed. You can now change your second factors and password."},
    # password reset by e-mail
    "forgot_title": {"zh": "忘记密码", "en": "Forgot your password"},
    "forgot_intro": {"zh": "输入您的用户名或邮箱，我们会向账号的邮箱发送重置链接。",
                     "en": "Enter your username or e-mail address and we will send a reset link "
                           "to the account's e-mail address."},
    "forgot_who": {"zh": "用户名或邮箱", "en": "Username or e-mail"},
    "forgot_send": {"zh": "发送重置链接", "en": "Send the reset link"},
    "forgot_sent": {"zh": "如果该账号存在且登记了邮箱，重置链接已发送，30 分钟内有效。",
                    "en": "If the account exists and has an e-mail address, a reset link is on "
                          "its way. It works for 30 minutes."},
    "forgot_link": {"zh": "忘记密码？", "en": "Forgot your password?"},
    "reset_title": {"zh": "设置新密码", "en": "Choose a new password"},
    "reset_for": {"zh": "账号：{user}", "en": "Account: {user}"},
    "reset_save": {"zh": "保存新密码", "en": "Save the new password"},
    "reset_done": {"zh": "密码已重置，请使用新密码登录。",
                   "en": "Your password has been reset. Sign in with the new one."},
    "reset_invalid_title": {"zh": "链接已失效", "en": "This link no longer works"},
    "reset_invalid": {"zh": "此重置链接已过期或已使用。请重新申请。",
                      "en": "This reset link has expired or was already used. Ask for a new one."},
    "reset_mail_subject": {"zh": "重置您的{campus}账号密码", "en": "Reset your {campus} password"},
    "reset_mail_body": {
        "zh": "您好 {name}：\n\n有人（希望是您）申请重置账号 {user} 的密码。请在 30 分钟内打开以下链接"
              "设置新密码：\n\n{link}\n\n如果不是您本人操作，请忽略此邮件，您的密码不会改变。\n\n"
              "{campus} 统一身份认证",
        "en": "Hello {name},\n\nSomeone (we hope you) asked to reset the password of the account "
              "{user}. Open this link within 30 minutes to choose a new password:\n\n{link}\n\n"
              "If this was not you, ignore this message: your password stays as it is.\n\n"
              "{campus} unified identity authentication",
    },
}

register_catalogue(CATALOGUE, MFA_TEXT, source="mfa_text")
