"""A Store or database outage on an interaction page becomes a readable 503 page in the person's
language, never a bare 500: for the pages FastAPI routes (PageRoute) and for those the edge calls
directly (`outage_page`, idp/direct.py)."""

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

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def outage_page(handler: Handler) -> Handler:
    async def handle(request: Request) -> Response:
        try:
            return await handler(request)
        except OUTAGES:
            log.exception("backend outage on %s", request.url.path)
            return error_page(request, status=503, title="err_directory_unavailable_title",
                              detail="err_service_unavailable")

    return handle


class PageRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        return outage_page(super().get_route_handler())
