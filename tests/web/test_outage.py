"""A Store outage on the interaction pages is a readable 503 page, not a 500."""

from __future__ import annotations

from tests.support.server import start_idp
from tests.web.conftest import browser


async def test_store_outage_is_a_503_page(tmp_path) -> None:  # noqa: ANN001
    # a port nothing listens on: every Store call fails
    live = await start_idp(database_url=f"sqlite:///{tmp_path}/idp.db",
                           keys_dir=tmp_path / "keys", redis_url="redis://127.0.0.1:9/0")
    try:
        async with browser(live, **{"accept-language": "en"}) as client:
            for method, path in (("GET", "/login/abc"), ("POST", "/login/abc"),
                                 ("GET", "/consent/abc"), ("GET", "/logout")):
                page = await client.request(method, path)
                assert page.status_code == 503, (method, path, page.text[:200])
                assert "temporarily unavailable" in page.text
    finally:
        await live.stop()
