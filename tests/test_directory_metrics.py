"""LDAP latency and errors reach /metrics per server and operation."""

from __future__ import annotations

import re

from tests.support.server import LiveIdp


def _count(text: str, server: str, operation: str) -> float:
    labels = rf'[^}}]*operation="{operation}"[^}}]*server="{re.escape(server)}"[^}}]*'
    pattern = rf"idp_directory_operation_seconds_count\{{{labels}\}} ([0-9.e+]+)"
    return sum(float(v) for v in re.findall(pattern, text))


async def test_binds_and_searches_are_measured_per_server(live_idp_production: LiveIdp) -> None:
    server = live_idp_production.settings.ldap.urls[0]
    async with live_idp_production.client() as http:
        before = (await http.get("/metrics")).text
        await live_idp_production.services.directory.authenticate("student", "student123")
        after = (await http.get("/metrics")).text
    assert _count(after, server, "bind") > _count(before, server, "bind")
    assert _count(after, server, "search") > _count(before, server, "search")
