"""Chinese and English strings of the QR sign-in pages (the PC's tab, the phone's confirmation).

They join the interaction pages' catalogue (idp.web.i18n.CATALOGUE) at import, as mfa_text.py's
do; every key has both languages and none may shadow an existing one.
"""

from __future__ import annotations

from idp.web.catalogue import register_catalogue
from idp.web.i18n import CATALOGUE, Locale

QR_TEXT: dict[str, dict[Locale, str]] = {
    # the PC's tab
    "qr_tab": {"zh": "扫码登录", "en": "Scan to sign in"},
    "password_tab": {"zh": "账号登录", "en": "Password"},
    "qr_intro": {"zh": "请用已登录统一身份认证的手机扫描二维码，并在手机上确认。",
                 "en": "Scan the code with a phone that is signed in, then confirm on the phone."},
    "qr_image_alt": {"zh": "登录二维码", "en": "Sign-in QR code"},
    "qr_status_waiting": {"zh": "等待扫码……", "en": "Waiting for a scan…"},
    "qr_status_scanned": {"zh": "已扫码，请在手机上确认。",
                          "en": "Scanned. Confirm on your phone."},
    "qr_status_confirmed": {"zh": "已确认，正在登录……", "en": "Confirmed. Signing you in…"},
    "qr_status_refused": {"zh": "已在手机上拒绝。", "en": "Refused on the phone."},
    "qr_status_expired": {"zh": "二维码已过期，正在刷新……", "en": "The code expired. Getting a new one…"},
    "qr_status_failed": {"zh": "无法获取新的二维码，请刷新页面。",
                         "en": "Could not get a new code. Reload the page."},
    "qr_refresh": {"zh": "刷新二维码", "en": "New code"},
    "qr_valid_for": {"zh": "二维码 {seconds} 秒内有效，过期后自动刷新。",
                     "en": "The code works for {seconds} seconds, then a new one appears."},
    "qr_noscript": {"zh": "扫码登录需要启用 JavaScript；也可以使用账号登录。",
                    "en": "Scanning needs JavaScript; you can sign in with your password instead."},
    # the phone's confirmation
    "qr_phone_app": {"zh": "扫码登录确认", "en": "QR sign-in confirmation"},
    "qr_confirm": {"zh": "确认登录", "en": "Confirm sign-in"},
    "qr_confirm_question": {"zh": "是否允许另一台设备以您的身份（{user}）登录？",
                            "en": "Let another device sign in as you ({user})?"},
    "qr_app_label": {"zh": "应用", "en": "App"},
    "qr_device_label": {"zh": "设备", "en": "Device"},
    "qr_ip_label": {"zh": "IP 地址", "en": "IP address"},
    "qr_when_label": {"zh": "时间", "en": "When"},
    "qr_account_label": {"zh": "账号", "en": "Account"},
    "qr_when_now": {"zh": "刚刚", "en": "just now"},
    "qr_when_minutes": {"zh": "{minutes} 分钟前", "en": "{minutes} minute(s) ago"},
    "qr_warning": {"zh": "只有当这台设备就在您面前、且是您本人在操作时才确认。不认识的请求请拒绝。",
                   "en": "Confirm only if that device is in front of you and you are the one "
                         "using it. Refuse anything you do not recognise."},
    "qr_confirm_button": {"zh": "确认登录", "en": "Confirm"},
    "qr_refuse_button": {"zh": "拒绝", "en": "Refuse"},
    "qr_done_confirmed": {"zh": "已确认。请回到另一台设备继续。",
                          "en": "Confirmed. Continue on the other device."},
    "qr_done_refused": {"zh": "已拒绝，另一台设备不会登录。",
                        "en": "Refused. The other device will not be signed in."},
    "qr_gone_title": {"zh": "二维码已失效", "en": "This code no longer works"},
    "qr_gone": {"zh": "二维码已过期或已使用。请在电脑上获取新的二维码后重新扫描。",
                "en": "The code has expired or was used. Get a new one on the computer and scan "
                      "again."},
    "qr_taken_title": {"zh": "二维码已被扫描", "en": "This code was already scanned"},
    "qr_taken": {"zh": "该二维码已被另一台设备扫描。请在电脑上获取新的二维码。",
                 "en": "Another device scanned this code. Get a new one on the computer."},
    "qr_wrong_browser_title": {"zh": "无法在此浏览器登录", "en": "Cannot sign in this browser"},
    "qr_wrong_browser": {"zh": "该二维码只能让显示它的那台设备登录。",
                         "en": "A code signs in only the device that showed it."},
    "qr_bad_action_title": {"zh": "无效的请求", "en": "Invalid request"},
    "qr_bad_action": {"zh": "请选择“确认登录”或“拒绝”。", "en": "Choose Confirm or Refuse."},
}

register_catalogue(CATALOGUE, QR_TEXT, source="qr_text")
