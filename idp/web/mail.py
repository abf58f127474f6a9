"""Outgoing mail over SMTP (password-reset links), with the [mail] settings.

smtplib is blocking, so a message is sent in a worker thread. TLS is never given up silently:
with `starttls` on, a server that does not offer STARTTLS is an error, not a plaintext send.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

from idp.settings import MailSettings, Settings


class MailError(Exception):
    """The message could not be handed to the SMTP server (the reason is in the message)."""


def sender(settings: Settings) -> str:
    configured = settings.mail.from_address
    return configured or f"noreply@{urlsplit(settings.issuer).hostname or 'localhost'}"


def build_message(settings: Settings, *, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender(settings)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender(settings).rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to us
    message.set_content(body, charset="utf-8")
    return message


def _deliver(config: MailSettings, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    password = config.password.get_secret_value()
    smtp: smtplib.SMTP
    if config.tls:
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with smtp:
        smtp.ehlo()
        if config.starttls and not config.tls:
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.username:
            smtp.login(config.username, password)
        smtp.send_message(message)


async def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; raises MailError."""
    config = settings.mail
    if not config.host:
        raise MailError("no SMTP server is configured (IDP_MAIL_HOST)")
    message = build_message(settings, to=to, subject=subject, body=body)
    try:
        await asyncio.to_thread(_deliver, config, message)
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}") from exc
