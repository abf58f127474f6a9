"""record_json (idp/store/records.py) writes what json.dumps(asdict(record)) wrote for every
record kept in the Store, and refuses a field that is not JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pytest

from idp.protocols.cas.tickets import ProxyGrant, Ticket
from idp.protocols.oidc.models import StoredCode
from idp.sso.sessions import SsoSession
from idp.sso.signins import PendingSignIn
from idp.store.records import record_json

RECORDS = [
    PendingSignIn(id="s1", protocol="oidc", resume="/authorize/resume/s1", page="login",
                  app_id="portal", app_name="门户", scopes=["openid", "profile"],
                  request={"client_id": "portal", "nonce": "n"}, acr_values=["mfa"],
                  extra={"csrf": "t", "password_change": {"username": "a", "reason": "x"},
                         "login_at": 1, "tried": True}),
    SsoSession(sid="sid", subject="u1", username="alice", auth_time=5, amr=["pwd", "otp"],
               identities=["u2"]),
    StoredCode(client_id="portal", subject="u1", redirect_uri="https://rp/cb", scope="openid",
               issued_at=3, amr=["pwd"], resource=["https://api"]),
    Ticket(service="https://svc/", app_id="svc", subject="u1", sid="sid", auth_time=5,
           new_login=True, amr=["pwd"], proxies=["https://p/"]),
    ProxyGrant(callback="https://p/cb", app_id="svc", subject="u1", sid="sid", auth_time=5),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_the_json_is_what_asdict_gave(record: object) -> None:
    assert record_json(record) == json.dumps(asdict(record))  # type: ignore[call-overload]
    assert json.loads(record_json(record)) == asdict(record)  # type: ignore[call-overload]


def test_a_field_holding_a_dataclass_is_refused() -> None:
    @dataclass
    class Inner:
        value: int

    @dataclass
    class Outer:
        inner: Inner

    with pytest.raises(TypeError):
        record_json(Outer(Inner(1)))
