"""A server that accepts every TCP connection and never answers: `Blackhole`.

The worst way for a directory server to fail: the host is up, the port accepts, and then
nothing (slapd wedged on a full disk, a stateful firewall that passes the handshake, a load
balancer with no healthy backend). Connecting succeeds at once; every operation waits out its
timeout. Put one ahead of the real slapd in IDP_LDAP_URL and count how many connections it
accepted: each one is a request that paid a timeout.

    with Blackhole() as hole:
        url = f"{hole.url} {slapd.ldap_uri}"
        ...
        assert hole.accepted == 1
"""

from __future__ import annotations

import socket
import threading

HOST = "127.0.0.1"


class Blackhole:
    """Accepts on 127.0.0.1:`port` and holds every connection open, silent, until `close`."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="blackhole")
        self._closed = False

    @property
    def url(self) -> str:
        return f"ldap://{HOST}:{self.port}"

    @property
    def accepted(self) -> int:
        """Connections accepted so far (each held open, never answered)."""
        with self._lock:
            return len(self._held)

    def start(self) -> Blackhole:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._held.append(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            held, self._held = self._held, []
        # shutdown wakes the accept() blocked in the thread; close alone may not
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for conn in held:
            conn.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Blackhole:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
