"""Operations: JSON log lines that carry the request id, and the metrics an operator reads."""

from __future__ import annotations

import json
import logging

import pytest

from idp.monitoring.logs import JsonFormatter, request_id
from idp.monitoring.metrics import observe_directory
from tests.support.server import LiveIdp


async def test_access_log_is_json_with_the_request_id(live_idp: LiveIdp,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idp.access")
    async with live_idp.client() as http:
        given = await http.get("/healthz", headers={"X-Request-ID": "edge-7f3a"})
        insane = await http.get("/authorize?code=secret-code", headers={"X-Request-ID": "a b\"c"})
    assert given.headers["x-request-id"] == "edge-7f3a"
    fresh = insane.headers["x-request-id"]
    assert fresh != 'a b"c' and len(fresh) == 32

    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "idp.access"]
    by_id = {line.get("request_id"): line for line in lines}
    assert by_id["edge-7f3a"]["path"] == "/healthz" and by_id["edge-7f3a"]["status"] == 200
    assert by_id[fresh]["path"] == "/authorize"
    assert "secret-code" not in json.dumps(lines)  # query strings are never logged
    assert {"ts", "level", "logger", "message", "duration_ms"} <= set(by_id[fresh])


def test_log_lines_inside_a_request_carry_its_id() -> None:
    record = logging.LogRecord("idp.web", logging.WARNING, __file__, 1, "会话 %s", ("x",), None)
    token = request_id.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line == {**line, "request_id": "req-1", "level": "warning", "message": "会话 x"}


async def test_metrics_endpoint_exposes_the_directory_hook(live_idp: LiveIdp) -> None:
    observe_directory("ldap://ldap1.example.edu", "bind", 0.004)
    observe_directory("ldap://ldap1.example.edu", "search", 1.2, error="unavailable")
    async with live_idp.client() as http:
        text = (await http.get("/metrics")).text
    assert ('idp_directory_operation_seconds_count{operation="bind",'
            'server="ldap://ldap1.example.edu"}') in text
    assert ('idp_directory_errors_total{kind="unavailable",operation="search",'
            'server="ldap://ldap1.example.edu"}') in text


async def test_pages_the_edge_calls_directly_are_counted_by_route_template(
        live_idp: LiveIdp) -> None:
    """/login/{id} and /authorize/resume/{id} skip FastAPI's router (idp/server/routes.py): their
    metrics still carry the route's template, never the id a browser sent."""
    async with live_idp.client() as http:
        login = await http.get("/login/no-such-signin-4711",
                               headers={"Accept-Language": "en"})
        resume = await http.get("/authorize/resume/no-such-signin-4712")
        text = (await http.get("/metrics")).text
    assert login.status_code == 400 and "expired" in login.text.lower()
    assert resume.status_code < 500
    assert 'route="/login/{signin_id}"' in text
    assert 'route="/authorize/resume/{signin_id}"' in text
    assert "no-such-signin" not in text
