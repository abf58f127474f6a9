"""Documents answered at once (idp/http/documents.py, Edge.document_answer, the protocol in
idp/server/transport.py): over a real TCP connection to a live server, a plain GET of the
provider metadata or the JWKS gets byte for byte what the endpoint's way in gives (a GET that
announces a body still takes that way), pipelined requests are answered in order, the answer
follows a key rotation, and each is measured and logged as every request is."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from urllib.parse import urlsplit

import pytest
from prometheus_client import REGISTRY

from idp.app import IdpApp
from tests.support.server import LiveIdp

DOCUMENTS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
             "/jwks"]


def _read(sock: socket.socket, answers: int) -> list[bytes]:
    """`answers` whole responses (each with a Content-Length), however the reads split them:
    pipelined answers may arrive together."""
    data, out = b"", []
    while len(out) < answers:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            length = 0
            for line in data[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(data) >= end:
                out.append(data[:end])
                data = data[end:]
                continue
        more = sock.recv(65536)
        assert more, "the server closed the connection"
        data += more
    return out


def _send(live: LiveIdp, data: bytes, answers: int) -> list[bytes]:
    url = urlsplit(live.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        sock.sendall(data)
        return _read(sock, answers)


def _split(response: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b": ")
        assert name not in headers, f"{name!r} twice"
        headers[name] = value
    return status, headers, body


def _edge_heads(live: LiveIdp) -> dict[str, tuple[bytes, bytes]]:
    app = live.server.config.app
    assert isinstance(app, IdpApp)
    heads: dict[str, tuple[bytes, bytes]] = app.document_answer.__self__._document_heads
    return heads


@pytest.mark.parametrize("path", DOCUMENTS)
async def test_a_document_answered_at_once_is_what_its_endpoint_answers(
    live_idp: LiveIdp, path: str,
) -> None:
    plain = b"GET %s HTTP/1.1\r\nHost: idp\r\nX-Request-ID: req-plain-1\r\n\r\n" % path.encode()
    # a GET announcing a (empty) body is answered by the endpoint, through the edge
    endpoint = (b"GET %s HTTP/1.1\r\nHost: idp\r\nContent-Length: 0\r\n"
                b"X-Request-ID: req-endpoint-1\r\n\r\n" % path.encode())
    _edge_heads(live_idp).pop(path, None)
    fast, slow = await asyncio.to_thread(_send, live_idp, plain + endpoint, 2)
    assert path in _edge_heads(live_idp)  # the first was answered from the document's bytes
    fast_status, fast_headers, fast_body = _split(fast)
    slow_status, slow_headers, slow_body = _split(slow)
    assert fast_status == slow_status == b"HTTP/1.1 200 OK"
    assert fast_body == slow_body and fast_body.startswith(b"{")
    assert fast_headers.pop(b"x-request-id") == b"req-plain-1"
    assert slow_headers.pop(b"x-request-id") == b"req-endpoint-1"
    fast_headers.pop(b"date"), slow_headers.pop(b"date")
    assert fast_headers == slow_headers
    assert list(fast_headers) == list(slow_headers)  # in the same order, too
    assert fast_headers[b"access-control-allow-origin"] == b"*"
    assert fast_headers[b"cache-control"] == b"public, max-age=300"
    assert fast_headers[b"content-length"] == str(len(fast_body)).encode()


async def test_pipelined_requests_are_answered_in_order(live_idp: LiveIdp) -> None:
    requests = (b"GET /jwks HTTP/1.1\r\nHost: idp\r\n\r\n"
                b"GET /healthz HTTP/1.1\r\nHost: idp\r\n\r\n"
                b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: idp\r\n\r\n"
                b"GET /jwks HTTP/1.1\r\nHost: idp\r\n\r\n")
    answers = await asyncio.to_thread(_send, live_idp, requests, 4)
    bodies = [_split(answer)[2] for answer in answers]
    assert b'"keys"' in bodies[0] and bodies[3] == bodies[0]
    assert b'"keys"' not in bodies[1] and b"issuer" not in bodies[1]
    assert b'"issuer"' in bodies[2]
    ids = [_split(answer)[1][b"x-request-id"] for answer in answers]
    assert len(set(ids)) == 4


async def test_a_closing_request_is_answered_then_closed(live_idp: LiveIdp) -> None:
    url = urlsplit(live_idp.base_url)

    def ask(request: bytes) -> tuple[bytes, bytes]:
        with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
            sock.sendall(request)
            answer = _read(sock, 1)[0]
            return answer, sock.recv(1024)  # b"": the server closed the connection

    for request in (b"GET /jwks HTTP/1.1\r\nHost: idp\r\nConnection: close\r\n\r\n",
                    b"GET /jwks HTTP/1.0\r\n\r\n"):
        answer, after = await asyncio.to_thread(ask, request)
        assert answer.startswith(b"HTTP/1.1 200") and b'"keys"' in answer
        assert _split(answer)[1][b"connection"] == b"close" and after == b""


async def test_the_jwks_answered_follows_a_rotation(live_idp: LiveIdp) -> None:
    def kids() -> set[str]:
        answer = _send(live_idp, b"GET /jwks HTTP/1.1\r\nHost: idp\r\n\r\n", 1)[0]
        return {key["kid"] for key in json.loads(_split(answer)[2])["keys"]}

    before = await asyncio.to_thread(kids)
    await asyncio.to_thread(live_idp.services.keys.rotate)  # a new next key is published
    after = await asyncio.to_thread(kids)
    assert after - before  # the new keys, answered at once
    assert after == {key["kid"] for key in live_idp.services.keys.jwks()["keys"]}


async def test_each_answer_is_measured_and_logged_with_the_forwarded_client(
    live_idp: LiveIdp, caplog: pytest.LogCaptureFixture,
) -> None:
    labels = {"method": "GET", "route": "/jwks", "status": "2xx"}
    counted = REGISTRY.get_sample_value("idp_http_request_duration_seconds_count", labels) or 0
    request = (b"GET /jwks HTTP/1.1\r\nHost: idp\r\nX-Forwarded-For: 198.51.100.7\r\n"
               b"X-Request-ID: req-logged-1\r\n\r\n")
    with caplog.at_level(logging.INFO, logger="idp.access"):
        await asyncio.to_thread(_send, live_idp, request, 1)
    lines = [record for record in caplog.records if record.name == "idp.access"
             and getattr(record, "request_id", None) == "req-logged-1"]
    assert len(lines) == 1
    assert (lines[0].path, lines[0].status) == ("/jwks", 200)  # type: ignore[attr-defined]
    assert lines[0].client == "198.51.100.7"  # type: ignore[attr-defined]  # a trusted proxy's
    assert REGISTRY.get_sample_value("idp_http_request_duration_seconds_count",
                                     labels) == counted + 1
