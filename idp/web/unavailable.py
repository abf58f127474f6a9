"""A route class for the interaction pages: a Store or database outage becomes a readable 503
page in the person's language, never a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from idp.store.base import StoreUnavailable
from idp.web.pages import error_page

log = logging.getLogger("idp.web")

OUTAGES = (StoreUnavailable, SQLAlchemyError, OSError)


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except OUTAGES:
                log.exception("backend outage on %s", request.url.path)
                return error_page(request, status=503, title="err_directory_unavailable_title",
                                  detail="err_service_unavailable")

        return handle
