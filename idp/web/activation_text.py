"""Chinese and English strings of the activation pages (/activate), and what each fact is called.

They join the interaction pages' catalogue at import, as the account pages' strings do.
"""

from __future__ import annotations

from idp.settings import ActivationSettings
from idp.web.catalogue import register_catalogue
from idp.web.i18n import CATALOGUE, Locale

ACTIVATION_TEXT: dict[str, dict[Locale, str]] = {
    "activate_link": {"zh": "新生激活", "en": "Activate your account"},
    "activate_title": {"zh": "激活账号", "en": "Activate your account"},
    "activate_intro": {
        "zh": "新生及新入职人员首次使用前请激活账号：填写以下信息以证明身份，然后设置密码。",
        "en": "New students and staff activate their account before first use: confirm who you "
              "are with the details below, then choose a password."},
    "activate_username": {"zh": "用户名（登录名）", "en": "Username (the name you sign in with)"},
    "activate_continue": {"zh": "下一步", "en": "Continue"},
    "activate_err_fields": {"zh": "请填写所有项目。", "en": "Fill in every field."},
    "activate_err_facts": {
        "zh": "信息不匹配。请核对后重试；如仍无法激活，请联系信息中心服务台。",
        "en": "These details do not match our records. Check them and try again, or ask the IT "
              "service desk."},
    "activate_err_throttled": {
        "zh": "尝试次数过多。请 {minutes} 分钟后再试。",
        "en": "Too many attempts. Wait {minutes} minute(s) and try again."},
    "activate_password_title": {"zh": "设置密码与找回方式", "en": "Choose a password and a recovery contact"},
    "activate_for": {"zh": "账号：{user}", "en": "Account: {user}"},
    "activate_password_hint": {
        "zh": "密码须符合学校的密码策略（长度与复杂度）。",
        "en": "The password must meet the campus password policy (length and complexity)."},
    "activate_contact_intro": {
        "zh": "请至少填写一项，忘记密码时用于找回。",
        "en": "Give at least one: it is how you get back in if you forget the password."},
    "activate_email": {"zh": "邮箱", "en": "E-mail"},
    "activate_phone": {"zh": "手机号", "en": "Mobile phone"},
    "activate_save": {"zh": "激活账号", "en": "Activate"},
    "activate_err_contact": {"zh": "请填写邮箱或手机号（至少一项）。",
                             "en": "Give an e-mail address or a phone number (at least one)."},
    "activate_err_email": {"zh": "邮箱格式不正确。", "en": "That is not an e-mail address."},
    "activate_err_phone": {"zh": "手机号格式不正确。", "en": "That is not a phone number."},
    "activate_err_password": {"zh": "请输入两次相同的新密码。",
                              "en": "Enter the same new password twice."},
    "activate_err_contact_rejected": {
        "zh": "目录服务未能保存该联系方式，请检查后重试。",
        "en": "The directory could not save that contact; check it and try again."},
    "activate_done_title": {"zh": "账号已激活", "en": "Your account is active"},
    "activate_done": {"zh": "账号已激活，请使用新密码登录。",
                      "en": "Your account is active. Sign in with your new password."},
    "activate_sign_in": {"zh": "登录", "en": "Sign in"},
    "activate_already_title": {"zh": "账号无需激活", "en": "This account needs no activation"},
    "activate_already": {
        "zh": "该账号已激活（或无需激活）。请直接登录；忘记密码请使用“忘记密码”找回。",
        "en": "This account is already active (or never needed activating). Sign in, or use "
              "\u201cForgot your password?\u201d if you do not know it."},
    "activate_off_title": {"zh": "未开放账号激活", "en": "Account activation is not offered"},
    "activate_off": {
        "zh": "本站未开放自助激活。请联系信息中心服务台领取初始密码。",
        "en": "Self-service activation is not offered here. Ask the IT service desk for your "
              "first password."},
    "activate_expired_title": {"zh": "激活已过期", "en": "This activation has expired"},
    "activate_expired": {
        "zh": "此激活页面已过期或已使用。请重新开始激活。",
        "en": "This activation page has expired or was already used. Start again."},
    "activate_busy": {"zh": "该账号正在激活中，请稍后再试。",
                      "en": "This account is being activated right now; try again in a minute."},
    "activate_err_config": {
        "zh": "激活功能配置有误，暂不可用。请联系信息中心服务台。",
        "en": "Activation is misconfigured and cannot be used now. Ask the IT service desk."},
}

# what people call the attributes campuses usually prove identity with ("中文", "English")
FACT_LABELS: dict[str, tuple[str, str]] = {
    "employeenumber": ("学号/工号", "Student or staff number"),
    "employeeid": ("学号/工号", "Student or staff number"),
    "number": ("学号/工号", "Student or staff number"),
    "sn": ("姓", "Family name"),
    "family_name": ("姓", "Family name"),
    "givenname": ("名", "Given name"),
    "given_name": ("名", "Given name"),
    "cn": ("姓名", "Full name"),
    "displayname": ("姓名", "Full name"),
    "name": ("姓名", "Full name"),
    "mail": ("邮箱", "E-mail"),
    "email": ("邮箱", "E-mail"),
    "telephonenumber": ("手机号", "Phone number"),
    "mobile": ("手机号", "Mobile phone"),
    "phone": ("手机号", "Phone number"),
    "birthdate": ("出生日期（如 2006-09-01）", "Date of birth (e.g. 2006-09-01)"),
    "dateofbirth": ("出生日期（如 2006-09-01）", "Date of birth (e.g. 2006-09-01)"),
    "schacdateofbirth": ("出生日期（如 20060901）", "Date of birth (e.g. 20060901)"),
}

register_catalogue(CATALOGUE, ACTIVATION_TEXT, source=__name__)


def fact_label(settings: ActivationSettings, attribute: str, locale: Locale) -> str:
    """The label of a fact's field: the operator's (IDP_ACTIVATION_LABELS, "中文 / English"),
    else a known attribute's, else the attribute name itself."""
    configured = {key.casefold(): value for key, value in settings.labels.items()}
    given = configured.get(attribute.casefold())
    if given:
        zh, _, en = given.partition(" / ")
        return (zh.strip() if locale == "zh" else (en or zh).strip()) or attribute
    known = FACT_LABELS.get(attribute.casefold())
    if known:
        return known[0] if locale == "zh" else known[1]
    return attribute
