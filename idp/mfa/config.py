"""The [mfa] and [mail] settings sections, re-exported for the MFA and mail code."""

from __future__ import annotations

from idp.settings import MailSettings, MfaSettings, Settings

__all__ = ["MailSettings", "MfaSettings", "mail_settings", "mfa_settings"]


def mfa_settings(settings: Settings) -> MfaSettings:
    return settings.mfa


def mail_settings(settings: Settings) -> MailSettings:
    return settings.mail
