"""Routes are declared once, where their endpoint lives, and the declaration says everything the
server needs to know about them:

- who calls them (`audience`): "page" routes are navigated to by people, and every error on them
  is a readable page; "api" routes are called by programs, and every error is JSON; "cas" routes
  are called by CAS clients, and every error is an answer in CAS's own format;
- whether the edge calls the endpoint directly (`fast=True`), without FastAPI's routing and
  dependency solving: for the endpoints called at volume (idp/server/edge.py and routes.py);
- whether browser apps on other origins may call them (`cors=True`, idp/server/cors.py).

    router = Router(audience="api", tags=["oauth"])

    @router.post("/token", fast=True, cors=True)
    async def token(request: Request) -> Response: ...

The flags travel on the route's class (FastAPI keeps a route's class when a router is included
in another), so the server reads them off `app.routes`. A fast route takes the request alone and
declares no dependency: the server refuses to start otherwise, so nothing declared on a route can
be silently skipped on the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, ClassVar, Literal

from fastapi import APIRouter
from fastapi.routing import APIRoute

Audience = Literal["page", "api", "cas"]
DecoratedEndpoint = Callable[[Callable[..., Any]], Callable[..., Any]]


class Route(APIRoute):
    """A route of campus-idp; subclasses made by `route_class` carry the declaration."""

    audience: ClassVar[Audience] = "api"
    fast: ClassVar[bool] = False
    cors: ClassVar[bool] = False


@cache
def route_class(base: type[Route], audience: Audience, fast: bool, cors: bool) -> type[Route]:
    if (base.audience, base.fast, base.cors) == (audience, fast, cors):
        return base
    name = f"{base.__name__}_{audience}{'_fast' if fast else ''}{'_cors' if cors else ''}"
    return type(name, (base,), {"audience": audience, "fast": fast, "cors": cors})


def audience_of(route: object) -> Audience | None:
    """The declared audience of a matched route (None: not a route of ours, e.g. /docs)."""
    return route.audience if isinstance(route, Route) else None


class Router(APIRouter):
    """An APIRouter whose every route declares its audience (and, where it matters, fast and
    cors). `route_class` may be a subclass of Route that adds behaviour of its own (the admin
    API's refusals as JSON, for example); such routes cannot be fast."""

    def __init__(self, *, audience: Audience, route_class: type[Route] = Route,
                 **kwargs: Any) -> None:
        if not issubclass(route_class, Route):
            raise TypeError("a Router's route_class must be a subclass of idp.http.routing.Route")
        super().__init__(route_class=route_class, **kwargs)
        self.audience: Audience = audience
        self.base_route: type[Route] = route_class

    def add_api_route(self, path: str, endpoint: Callable[..., Any], *, fast: bool = False,
                      cors: bool = False, audience: Audience | None = None,
                      route_class_override: type[APIRoute] | None = None, **kwargs: Any) -> None:
        if route_class_override is None or not issubclass(route_class_override, Route):
            # declared here (not an included router's route, which keeps its own class)
            route_class_override = route_class(self.base_route, audience or self.audience, fast,
                                               cors)
        super().add_api_route(path, endpoint, route_class_override=route_class_override,
                              **kwargs)

    def api_route(self, path: str, **kwargs: Any) -> DecoratedEndpoint:
        """Takes `fast`, `cors` and `audience` (this router's when not given) besides
        FastAPI's own arguments."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            self.add_api_route(path, func, **kwargs)
            return func

        return decorator

    def get(self, path: str, **kwargs: Any) -> DecoratedEndpoint:  # type: ignore[override]
        return self.api_route(path, methods=["GET"], **kwargs)

    def post(self, path: str, **kwargs: Any) -> DecoratedEndpoint:  # type: ignore[override]
        return self.api_route(path, methods=["POST"], **kwargs)

    def put(self, path: str, **kwargs: Any) -> DecoratedEndpoint:  # type: ignore[override]
        return self.api_route(path, methods=["PUT"], **kwargs)

    def patch(self, path: str, **kwargs: Any) -> DecoratedEndpoint:  # type: ignore[override]
        return self.api_route(path, methods=["PATCH"], **kwargs)

    def delete(self, path: str, **kwargs: Any) -> DecoratedEndpoint:  # type: ignore[override]
        return self.api_route(path, methods=["DELETE"], **kwargs)
