"""A real SMTP server for the tests (aiosmtpd on a free local port) and the mail it received."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

WAIT = 15.0  # seconds a mail may take to arrive


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    recipients: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return part.get_content()

    def link(self, prefix: str) -> str:
        match = re.search(re.escape(prefix) + r"\S+", self.body)
        assert match, f"no link starting {prefix} in:\n{self.body}"
        return match.group(0)


@dataclass
class Mailbox:
    """What the SMTP server accepted, in order."""

    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=policy.default)
        with self.lock:
            self.messages.append(Received(list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.recipients]

    async def wait_for(self, address: str, *, count: int = 1) -> Received:
        """The count-th message to `address`, waiting up to WAIT seconds for it to arrive."""
        for _ in range(int(WAIT / 0.05)):
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no mail #{count} to {address} within {WAIT} s")


def start_mailbox() -> tuple[Mailbox, Controller]:
    mailbox = Mailbox("127.0.0.1", free_port())
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    return mailbox, controller
