"""hypothesis over the QR sign-in forms: the PC's redemption and fresh-code request, the phone's
confirm/refuse. Each pushes against a live code (a PC that shows it, a phone session that
scanned it) with junk around the real CSRF token and action. Zero 500s; no stored record
changed by a refused request."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.checks import BUDGET
from tests.fuzz.forms import TEXT, XFF, bodies
from tests.fuzz.server import FuzzServer
from tests.fuzz.test_form_fuzz import COOKIE, _exchange, _interaction, _session, form_field

SETTINGS = settings(**BUDGET, suppress_health_check=list(HealthCheck))


def _shown(server: FuzzServer, client: httpx.Client) -> tuple[str, str, str]:
    """A PC (this client) showing a code: (the sign-in id, the code, the CSRF token)."""
    signin = _interaction(server)
    page = client.get(f"/login/{signin}/qr")
    assert page.status_code == 200, page.text[:1000]
    url = re.search(r'data-url="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return signin, urlsplit(url).path.split("/")[2], form_field(page.text, "csrf")


def _path(data: st.DataObject, real: str) -> str:
    return quote(data.draw(st.sampled_from([real, real, "", "x" * 300]) | TEXT), safe="")


@SETTINGS
@given(data=st.data())
def test_redeem_and_fresh_code(fuzz_server: FuzzServer, client: httpx.Client,
                               data: st.DataObject) -> None:
    signin, code, token = _shown(fuzz_server, client)
    body = data.draw(bodies(["csrf", "ui_locales"], token, "en", "zh"))
    headers = {"x-forwarded-for": data.draw(XFF)}
    _exchange(fuzz_server, client, "POST", f"/qr/{_path(data, code)}/redeem", body, headers)
    _exchange(fuzz_server, client, "POST", f"/login/{_path(data, signin)}/qr/new", body, headers)


@SETTINGS
@given(data=st.data())
def test_phone_answer(fuzz_server: FuzzServer, client: httpx.Client,
                      data: st.DataObject) -> None:
    _, code, _ = _shown(fuzz_server, client)
    with httpx.Client(base_url=fuzz_server.base_url, timeout=20) as phone:
        phone.cookies.set(COOKIE, data.draw(st.sampled_from([_session(fuzz_server), "", "x"])))
        page = phone.get(f"/qr/{code}")
        assert page.status_code < 500, page.text[:1000]
        body = data.draw(bodies(["csrf", "action", "ui_locales"], form_field(page.text, "csrf"),
                                "confirm", "refuse", "en"))
        _exchange(fuzz_server, phone, "POST", f"/qr/{_path(data, code)}", body,
                  {"x-forwarded-for": data.draw(XFF)})
