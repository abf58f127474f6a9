"""Chinese and English strings of the device sign-in pages (/device and the confirmation).

They join the interaction pages' catalogue (idp.web.i18n.CATALOGUE) at import, so templates and
the protocol's PageErrors use the same keys; every key has both languages and none may shadow
an existing one.
"""

from __future__ import annotations

from idp.web.catalogue import register_catalogue
from idp.web.i18n import CATALOGUE, Locale

DEVICE_TEXT: dict[str, dict[Locale, str]] = {
    "device_title": {"zh": "设备登录", "en": "Sign in a device"},
    "device_intro": {
        "zh": "请输入设备（命令行工具、教室显示屏等）上显示的代码。",
        "en": "Enter the code shown on the device (a command-line tool, a classroom display...).",
    },
    "device_code_label": {"zh": "设备代码", "en": "Device code"},
    "device_continue": {"zh": "继续", "en": "Continue"},
    "device_warning": {
        "zh": "只输入您本人正在使用的设备上显示的代码。不要输入别人通过消息、邮件或电话发给您的代码。",
        "en": "Only enter a code shown on a device you are using yourself, never one someone "
              "sent you by message, mail or phone.",
    },
    "device_err_format": {
        "zh": "代码由 8 个字母组成，例如 BCDF-GHJK。",
        "en": "The code is 8 letters, such as BCDF-GHJK.",
    },
    "device_err_unknown": {
        "zh": "该代码无效或已过期，请核对设备上的代码，或在设备上重新开始。",
        "en": "This code is not valid or has expired. Check the code on the device, or start "
              "again there.",
    },
    "device_err_throttled": {
        "zh": "错误次数过多，请 {minutes} 分钟后再试。",
        "en": "Too many wrong codes. Try again in {minutes} minutes.",
    },
    "device_confirm_intro": {
        "zh": "一台设备请求以您的身份登录 {app}。请确认设备上显示的代码与下面的代码一致：",
        "en": "A device asks to sign in to {app} as you. Check that the device shows this "
              "code:",
    },
    "device_confirm_from": {"zh": "请求来自 {ip}，时间 {time}（UTC）",
                            "en": "Requested from {ip} at {time} (UTC)"},
    "device_allow": {"zh": "确认登录该设备", "en": "Sign in the device"},
    "device_deny": {"zh": "拒绝", "en": "Refuse"},
    "device_done_title": {"zh": "设备已登录", "en": "The device is signed in"},
    "device_done": {"zh": "请返回设备继续操作。本页面可以关闭。",
                    "en": "Go back to the device to continue. You can close this page."},
    "device_denied_title": {"zh": "已拒绝", "en": "Refused"},
    "device_denied": {"zh": "该设备不会获得登录。", "en": "The device will not be signed in."},
    "device_expired_title": {"zh": "设备代码已失效", "en": "This device code is no longer valid"},
    "device_expired": {
        "zh": "该代码已过期或已被使用。请在设备上重新开始。",
        "en": "The code has expired or has already been used. Start again on the device.",
    },
    "device_app_gone": {
        "zh": "请求登录的应用已停用。", "en": "The app that asked has been disabled.",
    },
}

register_catalogue(CATALOGUE, DEVICE_TEXT, source="device_text")
