"""WeCom (企业微信) sign-in for a self-built app (自建应用) of the campus's organisation.

Documented at developer.work.weixin.qq.com:
- in the WeCom app's browser, silent (网页授权登录, "构造网页授权链接"):
  https://open.weixin.qq.com/connect/oauth2/authorize?appid=CORPID&redirect_uri=...
  &response_type=code&scope=snsapi_base&state=...&agentid=AGENTID#wechat_redirect
- in any other browser, the QR sign-in (企业微信Web登录, "构造网页登录链接"):
  https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid=CORPID
  &agentid=AGENTID&redirect_uri=...&state=...
Both come back to redirect_uri?code=CODE&state=STATE. The code is turned into the member with
the app's access token: GET https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=&corpsecret=
(`access_token`, `expires_in`), then GET /cgi-bin/auth/getuserinfo?access_token=&code=, which
answers `userid` for a member of the organisation (an `openid` for anyone else, who is refused).
Errors come as {"errcode": n, "errmsg": "..."}; 40014 and 42001 mean the access token is no
longer valid (fetched again once). The account is the `userid` in the space wecom:<CorpID>.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from idp.upstream.app_token import AppToken
from idp.upstream.base import (
    Connector,
    RoundTrip,
    UpstreamAccount,
    UpstreamError,
    UpstreamUnavailable,
    get_json,
)

IN_APP_URL = "https://open.weixin.qq.com"
QR_URL = "https://login.work.weixin.qq.com"
API_URL = "https://qyapi.weixin.qq.com"
TOKEN_INVALID = {40014, 42001}
IN_APP_MARKER = "wxwork/"  # the WeCom app's browser says so in its User-Agent


class WeComConnector(Connector):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app_token = AppToken(self._fetch_token)

    @property
    def issuer(self) -> str:
        return f"wecom:{self.config.client_id}"

    @property
    def in_app_marker(self) -> str | None:
        return IN_APP_MARKER

    @property
    def api(self) -> str:
        return (self.config.api_url or API_URL).rstrip("/")

    async def authorization_url(self, trip: RoundTrip) -> str:
        config = self.config
        if trip.silent:
            query = urlencode({"appid": config.client_id, "redirect_uri": trip.redirect_uri,
                               "response_type": "code", "scope": "snsapi_base",
                               "state": trip.state, "agentid": config.agent_id})
            base = (config.authorize_url or IN_APP_URL).rstrip("/")
            return f"{base}/connect/oauth2/authorize?{query}#wechat_redirect"
        query = urlencode({"login_type": "CorpApp", "appid": config.client_id,
                           "agentid": config.agent_id, "redirect_uri": trip.redirect_uri,
                           "state": trip.state})
        return f"{(config.authorize_url or QR_URL).rstrip('/')}/wwlogin/sso/login?{query}"

    async def _call(self, path: str, **params: str) -> dict[str, Any]:
        async with self.client() as http:
            body = await get_json(http, "GET", f"{self.api}{path}", params=params)
        errcode = body.get("errcode", 0)
        if errcode == -1:  # "系统繁忙": the provider's own trouble
            raise UpstreamUnavailable(f"WeCom {path}: busy")
        return body

    async def _fetch_token(self) -> tuple[str, int]:
        body = await self._call("/cgi-bin/gettoken", corpid=self.config.client_id,
                                corpsecret=self.config.client_secret.get_secret_value())
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if body.get("errcode", 0) != 0 or not isinstance(token, str):
            raise UpstreamError(f"WeCom gettoken: {body.get('errcode')} {body.get('errmsg')}")
        return token, lifetime if isinstance(lifetime, int) else 7200

    async def account(self, code: str, trip: RoundTrip) -> UpstreamAccount:
        body: dict[str, Any] = {}
        for renew in (False, True):
            token = await self.app_token.get(renew=renew)
            body = await self._call("/cgi-bin/auth/getuserinfo", access_token=token, code=code)
            if body.get("errcode", 0) not in TOKEN_INVALID:
                break
        if body.get("errcode", 0) != 0:
            raise UpstreamError(f"WeCom getuserinfo: {body.get('errcode')} {body.get('errmsg')}")
        userid = body.get("userid")
        if not isinstance(userid, str) or not 0 < len(userid) <= 200:
            # an openid: someone outside the organisation (WeChat user), never a campus member
            raise UpstreamError("WeCom getuserinfo: not a member of the organisation")
        return UpstreamAccount(provider=self.name, issuer=self.issuer, external_id=userid)
