"""The route table: what the server serves, and what each route declared about itself.

`include_routes` mounts every package's router, in one readable list. `RouteTable.of(app)` then
reads the declarations (idp/http/routing.py) off the app once, at start:
- the fast routes, which the edge (idp/server/edge.py) calls directly by method and path,
  without FastAPI's routing and dependency solving (the protocol endpoints called at volume and
  the pages every sign-in passes). A fast route takes the request alone: one that declares a
  dependency, a parameter FastAPI would have to solve, or a route class of its own is refused
  here, at start, so nothing declared on a route is ever skipped on the fast path;
- the paths browser apps may call from other origins (cors=True);
- the documents (idp/http/documents.py): fast GET routes whose endpoint is a Document's, which
  `idp serve` answers from their bytes (Edge.document_answer).
Everything else goes through FastAPI's routing; errors on both paths go through the one error
policy (idp/server/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from idp.admin.api import router as admin_api_router
from idp.admin.console import router as admin_console_router
from idp.admin.portal import router as portal_router
from idp.admin.portal_access import router as portal_access_router
from idp.admin.portal_cas import router as portal_cas_router
from idp.http.documents import Document, document_of
from idp.http.routing import Route
from idp.protocols.cas.routes import router as cas_router
from idp.protocols.oidc.registration import router as registration_router
from idp.protocols.oidc.routes import router as oidc_router
from idp.server.health import router as health_router
from idp.web.routes import router as web_router

ROUTERS = (health_router, oidc_router, cas_router, web_router, registration_router,
           portal_router, portal_cas_router, portal_access_router,
           admin_api_router, admin_console_router)


def include_routes(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)


class RouteDeclarationError(Exception):
    """A route declared fast that the fast path could not serve exactly as FastAPI would."""


@dataclass
class RouteTable:
    # (method, path) -> route, for paths without parameters
    exact: dict[tuple[str, str], Route] = field(default_factory=dict)
    # (method, the path up to its last "/") -> (route, the name of the last segment's parameter)
    last_segment: dict[tuple[str, str], tuple[Route, str]] = field(default_factory=dict)
    cors_paths: frozenset[str] = frozenset()
    # path -> the document a GET of it answers (exact paths of fast routes only)
    documents: dict[str, Document] = field(default_factory=dict)

    @classmethod
    def of(cls, app: FastAPI) -> RouteTable:
        table = cls()
        cors: set[str] = set()
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, Route):
                continue
            path = context.path
            if route.cors:
                cors.add(path)
            if route.fast:
                table._add_fast(route, path, context.methods or set(), context.dependant)
                document = document_of(route.endpoint)
                if document is not None and "GET" in (context.methods or ()) \
                        and "{" not in path:
                    table.documents[path] = document
        table.cors_paths = frozenset(cors)
        return table

    def _add_fast(self, route: Route, path: str, methods: set[str], dependant: object) -> None:
        where = f"fast route {sorted(methods)} {path}"
        handling = type(route)
        if handling.get_route_handler is not APIRoute.get_route_handler \
                or handling.handle is not APIRoute.handle:
            raise RouteDeclarationError(f"{where}: its route class handles requests itself")
        solved = ("dependencies", "path_params", "query_params", "header_params",
                  "cookie_params", "body_params")
        if any(getattr(dependant, name) for name in solved) \
                or not getattr(dependant, "request_param_name", None):
            raise RouteDeclarationError(
                f"{where}: a fast endpoint takes the request alone (read path parameters from "
                "request.path_params) and declares no dependency")
        prefix, _, last = path.rpartition("/")
        if "{" not in path:
            for method in methods:
                self.exact[(method, path)] = route
        elif "{" not in prefix and last.startswith("{") and last.endswith("}") \
                and ":" not in last:
            for method in methods:
                self.last_segment[(method, prefix)] = (route, last[1:-1])
        else:
            raise RouteDeclarationError(f"{where}: only a last path segment may be a parameter")

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The fast route for this request and its path parameters, or None."""
        route = self.exact.get((method, path))
        if route is not None:
            return route, {}
        prefix, _, value = path.rpartition("/")
        found = self.last_segment.get((method, prefix)) if value else None
        if found is None:
            return None
        return found[0], {found[1]: value}
