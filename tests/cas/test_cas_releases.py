"""The attribute-release record through CAS: every successful ticket validation records `user`
(the username every success carries) and, on the p3/ endpoints, each attribute the answer
carried; failed validations record nothing. Embedded defaults and slapd + Redis + PostgreSQL."""

from __future__ import annotations

from idp.sso import releases
from idp.sso.releases import ReleaseFilter
from tests.cas.conftest import register_cas, service_url
from tests.cas.flow import cas_login, ticket_of, validate
from tests.oauth.flow import Browser
from tests.support.server import LiveIdp


async def _recorded(live: LiveIdp, app_id: str) -> list[tuple[list[str], int]]:
    await live.services.releases.flush()
    rows = await releases.search(live.services.db, ReleaseFilter(client_id=app_id))
    student = await live.services.directory.find("student")
    assert student is not None and all(r.subject == student.subject for r in rows)
    return sorted((r.claims, r.count) for r in rows)


async def test_p3_validation_records_the_attributes_it_released(
        live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    app = await register_cas(live, service, attributes=["uid", "mail", "telephoneNumber"])
    answer = await validate(browser, "p3/serviceValidate", service,
                            ticket_of(await cas_login(browser, service), service), format="JSON")
    success = answer.json()["serviceResponse"]["authenticationSuccess"]
    carried = [name for name in success["attributes"]
               if name not in ("authenticationDate", "longTermAuthenticationRequestTokenUsed",
                               "isFromNewLogin")]
    assert "mail" in carried and "uid" in carried
    assert await _recorded(live, app.client_id) == [(sorted(["user", *carried]), 1)]


async def test_cas_2_and_1_validations_record_the_user_only(
        live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    app = await register_cas(live, service, attributes=["mail"])
    for path in ("serviceValidate", "validate"):
        ticket = ticket_of(await cas_login(browser, service), service)
        answer = await validate(browser, path, service, ticket)
        assert answer.status_code == 200 and "student" in answer.text
    assert await _recorded(live, app.client_id) == [(["user"], 2)]


async def test_a_failed_validation_records_nothing(live: LiveIdp, browser: Browser) -> None:
    service = service_url()
    app = await register_cas(live, service, attributes=["mail"])
    ticket = ticket_of(await cas_login(browser, service), service)
    assert "authenticationSuccess" in (await validate(browser, "p3/serviceValidate", service,
                                                      ticket)).text
    replayed = await validate(browser, "p3/serviceValidate", service, ticket)
    assert "INVALID_TICKET" in replayed.text
    other = await validate(browser, "p3/serviceValidate", service_url(), "ST-" + "x" * 40)
    assert "authenticationFailure" in other.text
    assert [count for _, count in await _recorded(live, app.client_id)] == [1]
