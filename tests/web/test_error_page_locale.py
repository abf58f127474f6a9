"""The error page for a bad authorization request speaks the person's language."""

from __future__ import annotations

from tests.support.server import LiveIdp


async def test_unknown_client_error_page_in_chinese_and_english(live_idp: LiveIdp) -> None:
    params = {"response_type": "code", "client_id": "no-such-app",
              "redirect_uri": "https://evil.example.com/cb", "scope": "openid"}
    async with live_idp.client() as http:
        zh = await http.get("/authorize", params={**params, "ui_locales": "zh-CN"})
        en = await http.get("/authorize", params=params, headers={"Accept-Language": "en-GB,en"})
    for response in (zh, en):
        assert response.status_code == 400
        assert "location" not in response.headers  # never a redirect to an unchecked URI
    assert "应用发来的登录请求有误" in zh.text
    assert "The app sent an invalid sign-in request" in en.text
    assert "invalid_client" in en.text  # the OAuth error stays visible for the app's developers
