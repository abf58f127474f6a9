"""campus-idp servers for the MFA and account tests: the shared test server start-up with the
[mfa] and [mail] settings sections (required groups, the test SMTP server)."""

from __future__ import annotations

from typing import Any

from tests.support.server import LiveIdp, start_idp

REQUIRED_GROUP = "finance-staff"


async def start_mfa_idp(*, smtp_port: int, **overrides: Any) -> LiveIdp:
    overrides["mfa"] = {"required_groups": [REQUIRED_GROUP], "max_failures": 3}
    overrides["mail"] = {"host": "127.0.0.1", "port": smtp_port, "starttls": False,
                         "from_address": "idp@example.edu"}
    return await start_idp(**overrides)
