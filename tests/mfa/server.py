"""campus-idp servers for the MFA and account tests: the shared test server start-up with the
[mfa] and [mail] settings sections (required groups, the test SMTP server).

"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from idp.app import create_app, open_services
from idp.settings import load_settings
from tests.support.server import LiveIdp, _listen

REQUIRED_GROUP = "finance-staff"


async def start_mfa_idp(*, smtp_port: int, **overrides: Any) -> LiveIdp:
    sock = _listen()
    port = sock.getsockname()[1]
    overrides.setdefault("issuer", f"http://127.0.0.1:{port}")
    overrides["mfa"] = {"required_groups": [REQUIRED_GROUP], "max_failures": 3}
    overrides["mail"] = {"host": "127.0.0.1", "port": smtp_port, "starttls": False,
                         "from_address": "idp@example.edu"}
    settings = load_settings(**overrides)
    services = await open_services(settings)
    app = create_app(settings, services)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning",
                                           access_log=False))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    else:
        raise RuntimeError("campus-idp test server did not start within 4 s")
    return LiveIdp(f"http://127.0.0.1:{port}", settings, services, server, task)
