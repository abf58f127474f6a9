"""A replica that is asked to stop leaves its load balancer's rotation before it stops answering.

On SIGTERM (`docker stop`, a rolling upgrade) uvicorn at once closes its listening socket and the
idle keep-alive connections. A proxy that has just picked one of those pooled connections for a
request gets a reset instead of an answer, and a POST that may have reached the replica is not
safe to send again (Caddy retries only what never connected, and GET/HEAD by rule). So for
`IDP_SHUTDOWN_DRAIN_SECONDS` after SIGTERM the replica keeps serving every request while
/readyz answers 503 ("draining"): the proxy's next active health check takes it out of rotation,
no new request arrives, and only then does uvicorn's graceful shutdown begin. Longer than the
proxy's health interval (deploy/Caddyfile: 5 s; docker-compose.yml sets 8).

`draining` is per process, as the signal is: `idp serve --workers 1`, one per container."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import uvicorn

logger = logging.getLogger("idp.server")

draining = threading.Event()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with `drain_seconds` of draining between SIGTERM and its shutdown."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain_seconds <= 0 or draining.is_set():
            super().handle_exit(sig, frame)  # Ctrl+C, a second SIGTERM: at once
            return
        draining.set()
        logger.info("SIGTERM: /readyz answers 503 for %s s, then shutdown", self.drain_seconds)
        timer = threading.Timer(self.drain_seconds, super().handle_exit, (sig, None))
        timer.daemon = True
        timer.start()
