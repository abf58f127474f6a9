"""schemathesis over the OpenAPI schema of every JSON endpoint: valid and invalid inputs, with
no credentials, a real client's, and a wrong secret. Zero 500s; a refused request changes no
stored record."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.fuzz.checks import BUDGET, basic, check
from tests.fuzz.oauth_openapi import patched
from tests.fuzz.server import FuzzServer

# interaction and account pages are HTML forms (fuzzed by test_form_fuzz.py), not JSON
# endpoints; they appear in /openapi.json only because their routers do not say
# include_in_schema=False
HTML_PREFIXES = ("/login", "/consent", "/logout", "/password", "/authorize", "/account", "/mfa",
                 "/static", "/portal", "/docs", "/redoc")
EXPECTED = {"/token", "/introspect", "/revoke", "/userinfo", "/jwks", "/healthz",
            "/.well-known/openid-configuration"}


def _json_operations(server: FuzzServer) -> list[schemathesis.APIOperation]:
    raw = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(patched(raw))
    operations = [result.ok() for result in schema.get_all_operations()]
    chosen = [op for op in operations if not op.path.startswith(HTML_PREFIXES)
              and not (op.path == "/admin" or op.path.startswith("/admin/") and
                       not op.path.startswith("/admin/api"))]
    assert EXPECTED <= {op.path for op in chosen}
    return chosen


def _fuzz(server: FuzzServer, operation: schemathesis.APIOperation, mode: GenerationMode,
          auths: st.SearchStrategy[dict[str, str]]) -> None:
    label = f"{mode.value} {operation.label}"

    @settings(**{**BUDGET, "max_examples": BUDGET["max_examples"] // 2},
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), headers=auths)
    def fuzz(case: schemathesis.Case, headers: dict[str, str]) -> None:
        before = server.snapshot()
        response = case.call(base_url=server.base_url, headers=headers, timeout=15)
        check(server, before, label, response.status_code, response.text)

    fuzz()


def test_json_endpoints_never_fail(fuzz_server: FuzzServer) -> None:
    auths = st.sampled_from([
        {}, {"Authorization": basic(fuzz_server.client_id, fuzz_server.secret)},
        {"Authorization": basic(fuzz_server.client_id, "wrong-secret")},
        {"Authorization": "Bearer not.a.token"},
    ])
    ran: set[tuple[str, GenerationMode]] = set()
    for operation in _json_operations(fuzz_server):
        has_inputs = bool(list(operation.iter_parameters())) or bool(
            operation.get_request_payload_content_types())
        # without parameters or a body there is nothing to make invalid
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_inputs else [])
        for mode in modes:
            try:
                _fuzz(fuzz_server, operation, mode, auths)
            except Unsatisfiable:
                # a form of optional free-text fields has no invalid instance: nothing to run
                assert mode is GenerationMode.NEGATIVE, operation.label
                continue
            ran.add((operation.label, mode))
    # the endpoints that take input were fuzzed with invalid input too
    for label in ("POST /token", "POST /introspect", "POST /revoke"):
        assert (label, GenerationMode.NEGATIVE) in ran, label
