"""A STAND-IN for WeCom's, DingTalk's and WeChat's servers, which cannot be reached from the
test machines.

It is not WeCom, DingTalk or WeChat: it implements exactly the requests and answers their public
documentation describes for the sign-in campus-idp uses, and nothing else (idp/upstream/wecom.py,
dingtalk.py and wechat.py cite the pages). Where the real service shows a page (a QR code,
DingTalk's authorization page) the stand-in acts as if the person the test chose (`signing_in`) had scanned
or agreed, and redirects at once. Codes are single use; every call is counted so the tests can
see what campus-idp asked.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.server import _listen, serve_app

CORP_ID = "ww" + secrets.token_hex(8)
CORP_SECRET = secrets.token_urlsafe(30)
AGENT_ID = "1000002"
DT_CLIENT_ID = "ding" + secrets.token_hex(8)
DT_CLIENT_SECRET = secrets.token_urlsafe(40)
WX_MP_APPID, WX_OPEN_APPID, WX_MINI_APPID = ("wx" + secrets.token_hex(8) for _ in range(3))
WX_SECRETS = {appid: secrets.token_hex(16) for appid in (WX_MP_APPID, WX_OPEN_APPID, WX_MINI_APPID)}


@dataclass
class StandIn:
    base_url: str = ""
    wecom_members: set[str] = field(default_factory=set)  # userids of the organisation
    dingtalk_members: dict[str, str] = field(default_factory=dict)  # unionId -> userid
    signing_in: str = ""  # the WeCom userid / DingTalk unionId (or an outsider) who signs in next
    calls: Counter[str] = field(default_factory=Counter)
    codes: dict[str, str] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    user_tokens: dict[str, str] = field(default_factory=dict)
    authorize_queries: list[dict[str, str]] = field(default_factory=list)

    def _code_for_redirect(self, request: Request, code_name: str) -> Response:
        query = dict(request.query_params)
        self.authorize_queries.append(query)
        code = secrets.token_urlsafe(24)
        self.codes[code] = self.signing_in
        target = query["redirect_uri"] + "?" + urlencode({code_name: code,
                                                          "state": query.get("state", "")})
        return RedirectResponse(target, status_code=302)

    # --- WeCom ------------------------------------------------------------------------------

    async def in_app_authorize(self, request: Request) -> Response:
        """open.weixin.qq.com/connect/oauth2/authorize: WeCom's (appid = CorpID) or a WeChat
        official account's, inside the app: no page."""
        if request.query_params.get("appid") == WX_MP_APPID:
            return await self.wechat_authorize(request, "snsapi_base")
        self.calls["wecom_in_app"] += 1
        q = request.query_params
        if q.get("appid") != CORP_ID or q.get("response_type") != "code" or q.get(
                "scope") != "snsapi_base" or not q.get("redirect_uri"):
            return Response("invalid request", status_code=400)
        return self._code_for_redirect(request, "code")

    async def wecom_qr(self, request: Request) -> Response:
        """login.work.weixin.qq.com/wwlogin/sso/login (the QR page: scanned at once here)."""
        self.calls["wecom_qr"] += 1
        q = request.query_params
        if (q.get("login_type") != "CorpApp" or q.get("appid") != CORP_ID
                or q.get("agentid") != AGENT_ID or not q.get("redirect_uri")):
            return Response("invalid request", status_code=400)
        return self._code_for_redirect(request, "code")

    async def wecom_gettoken(self, request: Request) -> Response:
        self.calls["wecom_gettoken"] += 1
        q = request.query_params
        if q.get("corpid") != CORP_ID:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid corpid"})
        if q.get("corpsecret") != CORP_SECRET:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        token = secrets.token_urlsafe(32)
        self.tokens.add(token)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "access_token": token,
                             "expires_in": 7200})

    async def wecom_getuserinfo(self, request: Request) -> Response:
        self.calls["wecom_getuserinfo"] += 1
        q = request.query_params
        if q.get("access_token") not in self.tokens:
            return JSONResponse({"errcode": 40014, "errmsg": "invalid access_token"})
        who = self.codes.pop(q.get("code", ""), None)
        if who is None:
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        if who in self.wecom_members:
            return JSONResponse({"errcode": 0, "errmsg": "ok", "userid": who,
                                 "user_ticket": secrets.token_urlsafe(16)})
        # not a member: an openid, as for any WeChat user outside the organisation
        return JSONResponse({"errcode": 0, "errmsg": "ok", "openid": f"o-{who}",
                             "external_userid": ""})

    # --- DingTalk ---------------------------------------------------------------------------

    async def dingtalk_auth(self, request: Request) -> Response:
        """login.dingtalk.com/oauth2/auth (the person agrees at once here)."""
        self.calls["dingtalk_auth"] += 1
        q = request.query_params
        if (q.get("client_id") != DT_CLIENT_ID or q.get("response_type") != "code"
                or "openid" not in (q.get("scope") or "").split() or not q.get("redirect_uri")):
            return Response("invalid request", status_code=400)
        return self._code_for_redirect(request, "authCode")

    async def dingtalk_user_token(self, request: Request) -> Response:
        self.calls["dingtalk_user_token"] += 1
        body = await request.json()
        if body.get("clientId") != DT_CLIENT_ID or body.get("clientSecret") != DT_CLIENT_SECRET:
            return JSONResponse({"code": "invalidClientIdOrSecret",
                                 "message": "无效的clientId或者clientSecret"}, status_code=400)
        who = self.codes.pop(body.get("code", ""), None)
        if who is None or body.get("grantType") != "authorization_code":
            return JSONResponse({"code": "invalidAuthCode", "message": "不合法的临时授权码"},
                                status_code=400)
        token = secrets.token_urlsafe(32)
        self.user_tokens[token] = who
        return JSONResponse({"accessToken": token, "refreshToken": secrets.token_urlsafe(32),
                             "expireIn": 7200, "corpId": "ding-corp"})

    async def dingtalk_me(self, request: Request) -> Response:
        self.calls["dingtalk_me"] += 1
        who = self.user_tokens.get(request.headers.get("x-acs-dingtalk-access-token", ""))
        if who is None:
            return JSONResponse({"code": "InvalidAuthentication", "message": "不合法的access_token"},
                                status_code=401)
        return JSONResponse({"nick": f"钉钉 {who}", "unionId": who, "openId": f"open-{who}",
                             "avatarUrl": "", "mobile": "", "stateCode": "86"})

    async def dingtalk_gettoken(self, request: Request) -> Response:
        self.calls["dingtalk_gettoken"] += 1
        q = request.query_params
        if q.get("appkey") != DT_CLIENT_ID or q.get("appsecret") != DT_CLIENT_SECRET:
            return JSONResponse({"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"})
        token = secrets.token_urlsafe(32)
        self.tokens.add(token)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "access_token": token,
                             "expires_in": 7200})

    async def dingtalk_getbyunionid(self, request: Request) -> Response:
        self.calls["dingtalk_getbyunionid"] += 1
        if request.query_params.get("access_token") not in self.tokens:
            return JSONResponse({"errcode": 40014, "errmsg": "不合法的access_token"})
        userid = self.dingtalk_members.get((await request.json()).get("unionid", ""))
        if userid is None:
            return JSONResponse({"errcode": 60121, "errmsg": "找不到该用户"})
        return JSONResponse({"errcode": 0, "errmsg": "ok", "request_id": secrets.token_hex(8),
                             "result": {"contact_type": 0, "userid": userid}})

    # --- WeChat -----------------------------------------------------------------------------
    # a WeChat user `w` is openid "<appid>-o-<w>" in each app, and unionid "union-<w>" in all
    # of them (the apps are bound to one Open Platform account)

    def wx_login(self, user: str) -> str:
        """What wx.login() gives the campus mini-program when `user` opens it."""
        code = secrets.token_urlsafe(24)
        self.codes[code] = f"{WX_MINI_APPID}|{user}"
        return code

    def _wechat_error(self, errcode: int, errmsg: str) -> Response:
        return JSONResponse({"errcode": errcode, "errmsg": errmsg})

    async def wechat_authorize(self, request: Request, scope: str) -> Response:
        self.calls[f"wechat_{scope}"] += 1
        q = request.query_params
        appid = q.get("appid", "")
        if (appid not in WX_SECRETS or q.get("response_type") != "code" or q.get("scope") != scope
                or not q.get("redirect_uri")):
            return Response("invalid request", status_code=400)
        self.authorize_queries.append(dict(q))
        code = secrets.token_urlsafe(24)
        self.codes[code] = f"{appid}|{self.signing_in}"
        return RedirectResponse(q["redirect_uri"] + "?" + urlencode(
            {"code": code, "state": q.get("state", "")}), status_code=302)

    async def wechat_qrconnect(self, request: Request) -> Response:
        """open.weixin.qq.com/connect/qrconnect (the QR page: scanned at once here)."""
        return await self.wechat_authorize(request, "snsapi_login")

    def _wechat_user(self, appid: str, code: str) -> str | None:
        tagged = self.codes.pop(code, "")
        code_appid, _, user = tagged.partition("|")
        return user if code_appid == appid and user else None

    def _ids(self, appid: str, user: str) -> dict[str, str]:
        return {"openid": f"{appid}-o-{user}", "unionid": f"union-{user}"}

    async def wechat_access_token(self, request: Request) -> Response:
        self.calls["wechat_access_token"] += 1
        q = request.query_params
        appid = q.get("appid", "")
        if WX_SECRETS.get(appid) != q.get("secret") or q.get("grant_type") != "authorization_code":
            return self._wechat_error(40125, "invalid appsecret")
        user = self._wechat_user(appid, q.get("code", ""))
        if user is None:
            return self._wechat_error(40029, "invalid code")
        token = secrets.token_urlsafe(32)
        self.user_tokens[token] = f"{appid}|{user}"
        scope = "snsapi_login" if appid == WX_OPEN_APPID else "snsapi_base"
        return JSONResponse({"access_token": token, "expires_in": 7200,
                             "refresh_token": secrets.token_urlsafe(32), "scope": scope,
                             **self._ids(appid, user)})

    async def wechat_userinfo(self, request: Request) -> Response:
        self.calls["wechat_userinfo"] += 1
        q = request.query_params
        appid, _, user = self.user_tokens.get(q.get("access_token", ""), "").partition("|")
        if not user or q.get("openid") != self._ids(appid, user)["openid"]:
            return self._wechat_error(40001, "invalid credential, access_token is invalid")
        return JSONResponse({"nickname": f"微信 {user}", "sex": 0, "province": "", "city": "",
                             "country": "", "headimgurl": "", "privilege": [],
                             **self._ids(appid, user)})

    async def wechat_jscode2session(self, request: Request) -> Response:
        self.calls["wechat_jscode2session"] += 1
        q = request.query_params
        appid = q.get("appid", "")
        if WX_SECRETS.get(appid) != q.get("secret") or q.get("grant_type") != "authorization_code":
            return self._wechat_error(40125, "invalid appsecret")
        user = self._wechat_user(appid, q.get("js_code", ""))
        if user is None:
            return self._wechat_error(40029, "invalid code")
        return JSONResponse({"session_key": secrets.token_urlsafe(16), **self._ids(appid, user)})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/connect/oauth2/authorize", self.in_app_authorize),
            Route("/connect/qrconnect", self.wechat_qrconnect),
            Route("/sns/oauth2/access_token", self.wechat_access_token),
            Route("/sns/userinfo", self.wechat_userinfo),
            Route("/sns/jscode2session", self.wechat_jscode2session),
            Route("/wwlogin/sso/login", self.wecom_qr),
            Route("/cgi-bin/gettoken", self.wecom_gettoken),
            Route("/cgi-bin/auth/getuserinfo", self.wecom_getuserinfo),
            Route("/oauth2/auth", self.dingtalk_auth),
            Route("/v1.0/oauth2/userAccessToken", self.dingtalk_user_token, methods=["POST"]),
            Route("/v1.0/contact/users/me", self.dingtalk_me),
            Route("/gettoken", self.dingtalk_gettoken),
            Route("/topapi/user/getbyunionid", self.dingtalk_getbyunionid, methods=["POST"]),
        ])


async def start_stand_in() -> tuple[StandIn, object]:
    """The stand-in served over real HTTP on a free port; returns it and its uvicorn server."""
    stand_in = StandIn()
    sock = _listen()
    stand_in.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server, task = await serve_app(stand_in.app(), sock, lifespan="off")
    return stand_in, (server, task)


def platform_settings(base_url: str) -> dict[str, str]:
    """The upstream settings of the stand-in's WeCom, DingTalk and WeChat (official account
    "wechat", website "wechatweb", mini-program "wechatmini"; base URLs pointed at it)."""
    return {
        "wecom_kind": "wecom", "wecom_client_id": CORP_ID, "wecom_client_secret": CORP_SECRET,
        "wecom_agent_id": AGENT_ID, "wecom_label": "WeCom", "wecom_label_zh": "企业微信",
        "wecom_authorize_url": base_url, "wecom_api_url": base_url, "wecom_silent": "true",
        "dingtalk_kind": "dingtalk", "dingtalk_client_id": DT_CLIENT_ID,
        "dingtalk_client_secret": DT_CLIENT_SECRET, "dingtalk_label": "DingTalk",
        "dingtalk_label_zh": "钉钉", "dingtalk_authorize_url": base_url,
        "dingtalk_api_url": base_url, "dingtalk_silent": "true",
        **{f"{name}_{key}": value for name, appid in (
            ("wechat", WX_MP_APPID), ("wechatweb", WX_OPEN_APPID), ("wechatmini", WX_MINI_APPID))
           for key, value in {"client_id": appid, "client_secret": WX_SECRETS[appid],
                              "authorize_url": base_url, "api_url": base_url}.items()},
        "wechat_kind": "wechat_mp", "wechat_silent": "true", "wechat_label_zh": "微信",
        "wechatweb_kind": "wechat_open", "wechatweb_label_zh": "微信扫码",
        "wechatmini_kind": "wechat_mini",
    }
