"""The configured upstream providers, opened once per process (Services.upstreams)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from idp.settings import Settings
from idp.store.base import Store
from idp.upstream.base import Connector
from idp.upstream.bindings import Bindings
from idp.upstream.dingtalk import DingTalkConnector
from idp.upstream.oidc import OidcConnector
from idp.upstream.states import Trips
from idp.upstream.wechat import WeChatMiniProgram, WeChatOfficialAccount, WeChatWebsite
from idp.upstream.wecom import WeComConnector

CONNECTORS: dict[str, type[Connector]] = {
    "oidc": OidcConnector,
    "wecom": WeComConnector,
    "dingtalk": DingTalkConnector,
    "wechat_mp": WeChatOfficialAccount,
    "wechat_open": WeChatWebsite,
    "wechat_mini": WeChatMiniProgram,
}


class Upstreams:
    def __init__(self, settings: Settings, store: Store, db: async_sessionmaker) -> None:
        self.connectors: dict[str, Connector] = {
            name: CONNECTORS[config.kind](config) for name, config in settings.upstream.by_name.items()}
        self.bindings = Bindings(db)
        self.trips = Trips(store, settings.upstream.state_ttl)

    def get(self, name: str) -> Connector | None:
        return self.connectors.get(name)

    def buttons(self, user_agent: str = "") -> list[Connector]:
        """The providers the login page offers this browser, in IDP_UPSTREAM_PROVIDERS order."""
        return [c for c in self.connectors.values()
                if c.browser_sign_in and c.offered(user_agent)]
