"""ASGI entry point for `idp serve` workers: settings from the environment (and IDP_CONFIG).

X-Forwarded-For / X-Forwarded-Proto are believed only from IDP_TRUSTED_PROXIES (the address
the audit log and the login throttle see is the client's, not the proxy's)."""

from granian.utils.proxies import wrap_asgi_with_proxy_headers
from starlette.types import Receive, Scope, Send

from idp.app import create_app
from idp.settings import config_file_from_env, load_settings

settings = load_settings(config_file_from_env())
_proxied = wrap_asgi_with_proxy_headers(create_app(settings), settings.trusted_proxies)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    # a coroutine function, so that every ASGI server (uvicorn included) sees ASGI 3
    await _proxied(scope, receive, send)
