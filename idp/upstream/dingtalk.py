"""DingTalk (钉钉) sign-in for an internal app (企业内部应用) of the campus's organisation.

Documented at open.dingtalk.com ("实现登录第三方网站", "获取用户token", "获取用户通讯录个人信息",
"根据unionid获取用户userid"):
- the browser goes to https://login.dingtalk.com/oauth2/auth?redirect_uri=...
  &response_type=code&client_id=CLIENT_ID&scope=openid&state=...&prompt=consent (a QR code on
  a PC; inside the DingTalk app its signed-in user is asked no QR), and comes back to
  redirect_uri?authCode=CODE&state=STATE;
- POST https://api.dingtalk.com/v1.0/oauth2/userAccessToken {"clientId", "clientSecret",
  "code", "grantType": "authorization_code"} -> {"accessToken", "expireIn", ...};
- GET https://api.dingtalk.com/v1.0/contact/users/me with header x-acs-dingtalk-access-token
  -> {"unionId", "nick", ...};
- the organisation's userid (what its contact list and a bulk binding CSV name): the app
  token GET https://oapi.dingtalk.com/gettoken?appkey=&appsecret= -> {"access_token",
  "expires_in"}, then POST https://oapi.dingtalk.com/topapi/user/getbyunionid?access_token=
  {"unionid"} -> {"errcode": 0, "result": {"userid"}}; someone outside the organisation has
  none (errcode 60121) and is refused.
The v1.0 API answers errors with an HTTP 4xx and {"code", "message"}; the oapi with errcode.
The account is the `userid` in the space dingtalk:<ClientID>. `IDP_UPSTREAM_<NAME>_API_URL`,
when set, serves both APIs (a gateway, or the tests' stand-in).
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

LOGIN_URL = "https://login.dingtalk.com"
API_URL = "https://api.dingtalk.com"
OAPI_URL = "https://oapi.dingtalk.com"
TOKEN_INVALID = {40014, 42001, 88}
NOT_A_MEMBER = 60121


class DingTalkConnector(Connector):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app_token = AppToken(self._fetch_token)

    @property
    def issuer(self) -> str:
        return f"dingtalk:{self.config.client_id}"

    @property
    def in_app_marker(self) -> str | None:
        return "DingTalk"

    @property
    def api(self) -> str:
        return (self.config.api_url or API_URL).rstrip("/")

    @property
    def oapi(self) -> str:
        return (self.config.api_url or OAPI_URL).rstrip("/")

    async def authorization_url(self, trip: RoundTrip) -> str:
        query = urlencode({"redirect_uri": trip.redirect_uri, "response_type": "code",
                           "client_id": self.config.client_id, "scope": "openid",
                           "state": trip.state, "prompt": "consent"})
        return f"{(self.config.authorize_url or LOGIN_URL).rstrip('/')}/oauth2/auth?{query}"

    async def _fetch_token(self) -> tuple[str, int]:
        async with self.client() as http:
            body = await get_json(http, "GET", f"{self.oapi}/gettoken", params={
                "appkey": self.config.client_id,
                "appsecret": self.config.client_secret.get_secret_value()})
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if body.get("errcode", 0) != 0 or not isinstance(token, str):
            raise UpstreamError(f"DingTalk gettoken: {body.get('errcode')} {body.get('errmsg')}")
        return token, lifetime if isinstance(lifetime, int) else 7200

    async def _userid(self, union_id: str) -> str:
        body: dict[str, Any] = {}
        for renew in (False, True):
            token = await self.app_token.get(renew=renew)
            async with self.client() as http:
                body = await get_json(http, "POST", f"{self.oapi}/topapi/user/getbyunionid",
                                      params={"access_token": token}, json={"unionid": union_id})
            if body.get("errcode", 0) not in TOKEN_INVALID:
                break
        errcode = body.get("errcode", 0)
        if errcode == -1:
            raise UpstreamUnavailable("DingTalk getbyunionid: busy")
        if errcode == NOT_A_MEMBER:
            raise UpstreamError("DingTalk: not a member of the organisation")
        result = body.get("result")
        userid = result.get("userid") if isinstance(result, dict) else None
        if errcode != 0 or not isinstance(userid, str) or not 0 < len(userid) <= 200:
            raise UpstreamError(f"DingTalk getbyunionid: {errcode} {body.get('errmsg')}")
        return userid

    async def account(self, code: str, trip: RoundTrip) -> UpstreamAccount:
        async with self.client() as http:
            token = await get_json(http, "POST", f"{self.api}/v1.0/oauth2/userAccessToken", json={
                "clientId": self.config.client_id,
                "clientSecret": self.config.client_secret.get_secret_value(),
                "code": code, "grantType": "authorization_code"})
            access_token = token.get("accessToken")
            if not isinstance(access_token, str):
                raise UpstreamError("DingTalk userAccessToken: no accessToken")
            me = await get_json(http, "GET", f"{self.api}/v1.0/contact/users/me",
                                headers={"x-acs-dingtalk-access-token": access_token})
        union_id = me.get("unionId")
        if not isinstance(union_id, str) or not union_id:
            raise UpstreamError("DingTalk users/me: no unionId")
        nick = me.get("nick")
        return UpstreamAccount(provider=self.name, issuer=self.issuer,
                               external_id=await self._userid(union_id),
                               display_name=nick[:200] if isinstance(nick, str) else None)
