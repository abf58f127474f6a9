"""The house's shape holds: no import cycles among the project's modules (imports inside
functions count, `if TYPE_CHECKING:` ones do not), and the fast path serves exactly what the
routes declare."""

from __future__ import annotations

import grimp
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.routing import iter_route_contexts
from starlette.responses import Response

from idp.app import create_app
from idp.http.routing import Route, Router
from idp.server.routes import RouteDeclarationError, RouteTable
from idp.settings import load_settings


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph.find_modules_directly_imported_by(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("idp", "directory", exclude_type_checking_imports=True)
    assert len(graph.modules) > 100
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z"):
        graph.add_module(module)
    graph.add_import(importer="a.x", imported="a.y")
    graph.add_import(importer="a.y", imported="a.x")
    graph.add_import(importer="a.z", imported="a.x")
    assert _cycles(graph) == [["a.x", "a.y"]]


def test_the_fast_path_serves_what_routes_declare() -> None:
    app = create_app(load_settings())
    table = RouteTable.of(app)
    fast = {(m, p) for m, p in table.exact} | {
        (m, prefix + "/{" + name + "}") for (m, prefix), (_, name) in table.last_segment.items()}
    assert ("POST", "/token") in fast and ("GET", "/login/{signin_id}") in fast
    assert ("GET", "/admin") not in fast
    for route in [r for r in _declared(app) if isinstance(r, Route)]:
        for method in route.methods:
            assert ((method, route.path) in fast) == route.fast, (method, route.path)
    assert "/token" in table.cors_paths and "/introspect" not in table.cors_paths


def _declared(app: FastAPI) -> list[object]:
    return [context.original_route for context in iter_route_contexts(app.routes)]


def test_a_fast_route_that_needs_fastapi_is_refused_at_start() -> None:
    async def dependency() -> str:
        return "x"

    async def needs(request: Request, value: str = Depends(dependency)) -> Response:
        return Response(value)

    async def takes_path(name: str) -> Response:
        return Response(name)

    async def alone(request: Request) -> Response:
        return Response("ok")

    for path, endpoint in (("/a", needs), ("/b/{name}", takes_path), ("/c/{x}/d", alone)):
        router = Router(audience="api")
        router.add_api_route(path, endpoint, fast=True)
        app = FastAPI()
        app.include_router(router)
        with pytest.raises(RouteDeclarationError):
            RouteTable.of(app)
