"""Each response leaves the server in one write (idp/server/transport.py): counted from the client
side of a real TCP connection, as data segments received (Linux TCP_INFO)."""

from __future__ import annotations

import asyncio
import socket
import struct
from urllib.parse import urlsplit

from idp.server.transport import CoalescingTransport
from tests.support.server import LiveIdp

# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, a __u32 at byte 152 (Linux 4.6 and later)
DATA_SEGS_IN = 152


def data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, DATA_SEGS_IN)[0])


def read_response(sock: socket.socket, *, head: bool = False) -> bytes:
    """One whole HTTP/1.1 response with a Content-Length (no body for HEAD)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    header, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = 0 if head else int(value)
    while len(body) < length:
        body += sock.recv(65536)
    return header + b"\r\n\r\n" + body


def exchange(live: LiveIdp, *requests: bytes) -> tuple[list[bytes], list[int]]:
    """Send each request on one keep-alive connection; the responses and, after each, how
    many data segments the connection had received so far."""
    url = urlsplit(live.base_url)
    responses, segments = [], []
    with socket.create_connection((url.hostname, url.port), timeout=5) as sock:
        for request in requests:
            sock.sendall(request)
            responses.append(read_response(sock, head=request.startswith(b"HEAD")))
            segments.append(data_segments_in(sock))
    return responses, segments


async def test_each_response_is_one_segment(live_idp: LiveIdp) -> None:
    get = b"GET /jwks HTTP/1.1\r\nHost: idp\r\n\r\n"
    form = b"grant_type=client_credentials"
    token = (b"POST /token HTTP/1.1\r\nHost: idp\r\nContent-Type: application/x-www-form-urlencoded"
             b"\r\nContent-Length: %d\r\n\r\n%s" % (len(form), form))
    responses, segments = await asyncio.to_thread(exchange, live_idp, get, token, get)
    assert responses[0].startswith(b"HTTP/1.1 200") and b'"keys"' in responses[0]
    assert responses[1].startswith(b"HTTP/1.1 401") and b"invalid_client" in responses[1]
    assert responses[2] == responses[0].replace(responses[0].split(b"x-request-id: ")[1][:32],
                                                responses[2].split(b"x-request-id: ")[1][:32])
    # headers and body together: one data segment per response, not two
    assert segments == [1, 2, 3]


async def test_head_and_connection_close_still_answer(live_idp: LiveIdp) -> None:
    head = b"HEAD /healthz HTTP/1.1\r\nHost: idp\r\n\r\n"
    close = b"GET /healthz HTTP/1.1\r\nHost: idp\r\nConnection: close\r\n\r\n"
    responses, segments = await asyncio.to_thread(exchange, live_idp, head, close)
    assert responses[0].startswith(b"HTTP/1.1 ")
    assert responses[1].startswith(b"HTTP/1.1 200") and b"connection: close" in responses[1]
    assert segments == [1, 2]


async def test_writes_arrive_whole_and_in_order_across_turns_and_the_flush_size() -> None:
    """Many writes in one turn (past FLUSH_AT, sent early), more in later turns, then close():
    the client reads every byte, in order, then the end of the stream."""
    loop = asyncio.get_running_loop()
    chunks = [b"%05d" % i + b"x" * 995 for i in range(150)]  # 150 kB, over two FLUSH_ATs
    held: list[int] = []

    class Writer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            out = CoalescingTransport(transport, loop)  # type: ignore[arg-type]
            for chunk in chunks[:100]:
                out.write(chunk)
            # 66 kB went out when the turn's writes passed FLUSH_AT; 34 kB wait for its end
            held.append(out.held)
            loop.call_soon(self.more, out)

        def more(self, out: CoalescingTransport) -> None:
            out.writelines(chunks[100:])
            out.close()

    server = await loop.create_server(Writer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        received = await reader.read()
        writer.close()
    finally:
        server.close()
    assert received == b"".join(chunks)
    assert held == [34_000]
