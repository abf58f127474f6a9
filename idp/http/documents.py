"""Documents: responses that every request for them gets alike until what they are made from
changes (the provider's metadata, from the settings; the JWKS, from the key ring).

A document's route is declared with its endpoint made here, `Document.endpoint`, so the route
table (idp/server/routes.py) knows the response without calling anything. `idp serve` then
answers a plain GET for it from bytes built once per body (idp/server/edge.py
`Edge.document_answer`, idp/server/transport.py): the same bytes the endpoint's response gets
through the edge, without an ASGI task, a request object or a response object per request.
Anything else (a HEAD, a request with a body, the tests' in-process client) reaches the endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response


@dataclass(frozen=True, eq=False)
class Document:
    # the body, read from the app: the same bytes object for as long as the document is unchanged
    body: Callable[[Any], bytes]
    media_type: str
    headers: Mapping[str, str]

    def response(self, app: Any) -> Response:
        return Response(self.body(app), media_type=self.media_type, headers=dict(self.headers))

    def endpoint(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        """The route's endpoint, named `name`, carrying this document for the route table."""

        async def endpoint(request: Request) -> Response:
            return self.response(request.app)

        endpoint.__name__ = endpoint.__qualname__ = name
        endpoint.document = self  # type: ignore[attr-defined]
        return endpoint


def document_of(endpoint: Any) -> Document | None:
    document = getattr(endpoint, "document", None)
    return document if isinstance(document, Document) else None
