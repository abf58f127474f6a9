"""WeChat (微信) sign-in: the official account's web authorization inside WeChat's browser,
the Open Platform's website QR sign-in, and the mini-program's `wx.login` code.

Documented at developers.weixin.qq.com:
- official account (公众号网页授权), only inside WeChat's browser, silent with snsapi_base:
  https://open.weixin.qq.com/connect/oauth2/authorize?appid=APPID&redirect_uri=...
  &response_type=code&scope=snsapi_base&state=...#wechat_redirect
- website QR sign-in (网站应用微信登录), on a PC:
  https://open.weixin.qq.com/connect/qrconnect?appid=APPID&redirect_uri=...&response_type=code
  &scope=snsapi_login&state=...#wechat_redirect
  Both come back to redirect_uri?code=CODE&state=STATE, and the code is redeemed with
  GET https://api.weixin.qq.com/sns/oauth2/access_token?appid=&secret=&code=
  &grant_type=authorization_code -> {"access_token", "openid", "unionid"?, "scope", ...};
  with snsapi_login, GET /sns/userinfo?access_token=&openid= gives the nickname (and unionid).
- mini-program (小程序登录): wx.login's code, sent by the campus mini-program to campus-idp,
  GET https://api.weixin.qq.com/sns/jscode2session?appid=&secret=&js_code=
  &grant_type=authorization_code -> {"openid", "session_key", "unionid"?}.
Errors come as {"errcode": n, "errmsg": "..."} (40029: invalid code, 40163: code been used).

The account: the `unionid` when WeChat gives one (the official account, website and
mini-program bound to one Open Platform account share it, so one binding serves all three), in
the space `wechat-union`; otherwise the app's `openid`, in the space wechat:<AppID>.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from idp.upstream.base import (
    Connector,
    RoundTrip,
    UpstreamAccount,
    UpstreamError,
    UpstreamUnavailable,
    get_json,
)

AUTHORIZE_URL = "https://open.weixin.qq.com"
API_URL = "https://api.weixin.qq.com"
UNION = "wechat-union"
IN_APP_MARKER = "MicroMessenger"


class WeChatConnector(Connector):
    """What the three WeChat sign-ins share: the API, errors, and which id is the account."""

    @property
    def issuer(self) -> str:
        """The space of the ids an admin binds in bulk: unionids."""
        return UNION

    @property
    def openid_space(self) -> str:
        return f"wechat:{self.config.client_id}"

    @property
    def api(self) -> str:
        return (self.config.api_url or API_URL).rstrip("/")

    def in_app(self, user_agent: str) -> bool:
        # WeCom's browser says MicroMessenger too
        return IN_APP_MARKER.lower() in user_agent.lower() and "wxwork" not in user_agent.lower()

    @property
    def in_app_marker(self) -> str | None:
        return IN_APP_MARKER

    async def _call(self, path: str, **params: str) -> dict[str, Any]:
        async with self.client() as http:
            body = await get_json(http, "GET", f"{self.api}{path}", params=params)
        errcode = body.get("errcode", 0)
        if errcode == -1:
            raise UpstreamUnavailable(f"WeChat {path}: busy")
        if errcode != 0:
            raise UpstreamError(f"WeChat {path}: {errcode} {body.get('errmsg')}")
        return body

    def _account(self, body: dict[str, Any], name: object = None) -> UpstreamAccount:
        unionid, openid = body.get("unionid"), body.get("openid")
        if isinstance(unionid, str) and 0 < len(unionid) <= 200:
            issuer, external_id = UNION, unionid
        elif isinstance(openid, str) and 0 < len(openid) <= 200:
            issuer, external_id = self.openid_space, openid
        else:
            raise UpstreamError("WeChat: the answer names no openid")
        return UpstreamAccount(provider=self.name, issuer=issuer, external_id=external_id,
                               display_name=name[:200] if isinstance(name, str) and name else None)

    async def _redeem(self, code: str) -> dict[str, Any]:
        return await self._call("/sns/oauth2/access_token", appid=self.config.client_id,
                                secret=self.config.client_secret.get_secret_value(), code=code,
                                grant_type="authorization_code")

    async def authorization_url(self, trip: RoundTrip) -> str:
        raise NotImplementedError


class WeChatOfficialAccount(WeChatConnector):
    """snsapi_base inside WeChat's browser: no page, no consent, the openid (and unionid)."""

    def offered(self, user_agent: str) -> bool:
        return self.in_app(user_agent)

    async def authorization_url(self, trip: RoundTrip) -> str:
        query = urlencode({"appid": self.config.client_id, "redirect_uri": trip.redirect_uri,
                           "response_type": "code", "scope": self.config.scope or "snsapi_base",
                           "state": trip.state})
        base = (self.config.authorize_url or AUTHORIZE_URL).rstrip("/")
        return f"{base}/connect/oauth2/authorize?{query}#wechat_redirect"

    async def account(self, code: str, trip: RoundTrip) -> UpstreamAccount:
        return self._account(await self._redeem(code))


class WeChatWebsite(WeChatConnector):
    """The Open Platform's QR sign-in for browsers outside WeChat (a PC)."""

    def offered(self, user_agent: str) -> bool:
        return not self.in_app(user_agent)

    async def authorization_url(self, trip: RoundTrip) -> str:
        query = urlencode({"appid": self.config.client_id, "redirect_uri": trip.redirect_uri,
                           "response_type": "code", "scope": "snsapi_login",
                           "state": trip.state})
        base = (self.config.authorize_url or AUTHORIZE_URL).rstrip("/")
        return f"{base}/connect/qrconnect?{query}#wechat_redirect"

    async def account(self, code: str, trip: RoundTrip) -> UpstreamAccount:
        token = await self._redeem(code)
        access_token, openid = token.get("access_token"), token.get("openid")
        name = None
        if isinstance(access_token, str) and isinstance(openid, str):
            try:
                info = await self._call("/sns/userinfo", access_token=access_token, openid=openid)
            except UpstreamError:
                info = {}  # the nickname is only a label: the token's ids are the account
            if info.get("openid") == openid:
                name = info.get("nickname")
                token = {**token, "unionid": token.get("unionid") or info.get("unionid")}
        return self._account(token, name)


class WeChatMiniProgram(WeChatConnector):
    """No browser: the mini-program posts wx.login's code to campus-idp (upstream_api.py)."""

    @property
    def browser_sign_in(self) -> bool:
        return False

    async def account(self, code: str, trip: RoundTrip) -> UpstreamAccount:
        # session_key stays here: campus-idp decrypts nothing the mini-program sends
        return self._account(await self._call(
            "/sns/jscode2session", appid=self.config.client_id,
            secret=self.config.client_secret.get_secret_value(), js_code=code,
            grant_type="authorization_code"))
