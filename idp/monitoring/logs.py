"""JSON logs, one object per line, each carrying the id of the request it belongs to.

Every request gets an id (`request_id_for`), returned in the X-Request-ID response header and
kept in the `request_id` contextvar for every log line written while the request runs, and one
access line (`log_access`); idp/server/edge.py does both for every request.

`server_log_config(level)` is the `log_config` for uvicorn.run (each worker applies it);
`configure_logging(level)` does the same for any other process.
"""

from __future__ import annotations

import itertools
import json
import logging
import logging.config
import os
import re
import secrets
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
access_log = logging.getLogger("idp.access")

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# LogRecord attributes that are not "extra" fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Short lines for a person at a terminal: time, level, what happened (the request id and
    the exception's traceback when there are)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{when} {record.levelname:<7} {record.getMessage()}"
        duration = getattr(record, "duration_ms", None)
        if duration is not None:
            line += f" ({duration} ms)"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream (stderr) written in batches: lines wait at most `interval` seconds (a daemon
    thread writes them) or until 64 KiB are waiting; a WARNING or worse goes out at once, with
    everything before it. One access line per request would otherwise cost a write and a flush
    each, a measurable share of a cheap request such as /jwks."""

    MAX_WAITING = 64 * 1024

    def __init__(self, stream: Any = None, interval: float = 0.2) -> None:
        super().__init__(stream)
        self.interval = interval
        self._waiting: list[str] = []
        self._size = 0
        self._flusher_pid: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)
            return
        self.write_line(line, urgent=record.levelno >= logging.WARNING)

    def write_line(self, line: str, *, urgent: bool = False) -> None:
        """Queue a formatted line (log_access's fast path calls this directly); `urgent` writes
        it, with everything before it, at once."""
        with self.lock:  # type: ignore[union-attr]
            self._waiting.append(line)
            self._size += len(line) + 1
            if urgent or self._size >= self.MAX_WAITING:
                self._write()
        if self._flusher_pid != os.getpid():  # first line in this process (workers are spawned)
            self._flusher_pid = os.getpid()
            threading.Thread(target=self._flush_every_interval, name="log-flusher",
                             daemon=True).start()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def _write(self) -> None:
        if not self._waiting:
            return
        text = "\n".join(self._waiting) + "\n"
        self._waiting.clear()
        self._size = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: nothing left to tell
            pass

    def _flush_every_interval(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()


def server_log_config(level: str = "info", log_format: str = "json",
                      stream: str = "stderr") -> dict[str, Any]:
    """Everything (our loggers, granian's and uvicorn's) on one stream (stderr, or stdout in a
    container), as JSON lines or as short text lines (`log_format`); the servers' own access
    logs are replaced by idp/server/edge.py's, which knows the request id."""
    level = level.upper()
    formatter = "TextFormatter" if log_format == "text" else "JsonFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # by name, so the dict is also valid JSON (a server's --log-config file)
        "formatters": {"lines": {"()": f"idp.monitoring.logs.{formatter}"}},
        "handlers": {"stderr": {"class": "idp.monitoring.logs.BatchedStreamHandler",
                                "formatter": "lines", "stream": f"ext://sys.{stream}"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "_granian": {"handlers": [], "propagate": True, "level": level},
            "granian.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure_logging(level: str = "info", log_format: str = "json",
                      stream: str = "stderr") -> None:
    logging.config.dictConfig(server_log_config(level, log_format, stream))


def request_id_for(offered: bytes | None) -> str:
    """The caller's X-Request-ID when it is a sane token (a proxy's, so one id follows the
    request through nginx/Caddy and every replica), else a fresh one: a random per-process prefix
    and a counter, 32 hex characters, unique across processes without a syscall per request."""
    if offered:
        text = offered.decode("latin-1")
        if _SANE_ID.match(text):
            return text
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(secrets.randbits(32))


def log_access(scope: Scope, status: int, rid: str, seconds: float) -> None:
    """One access line per request. Only the path: query strings carry codes, state and
    id_token_hint."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    method, path, client = scope["method"], scope.get("path", ""), scope.get("client")
    host = client[0] if client else None
    duration_ms = round(seconds * 1000, 1)
    sink = _direct_sink()
    if sink is None:
        access_log.info("%s %s %s", method, path, status, extra={
            "request_id": rid, "method": method, "path": path, "status": status, "client": host,
            "duration_ms": duration_ms})
        return
    # the line JsonFormatter would write (json.dumps of the same dict, key for key), without a
    # LogRecord and the handler chain, and without json.dumps walking a dict: a tenth the cost
    sink.write_line(
        f'{{"ts": "{datetime.now(UTC).isoformat(timespec="milliseconds")}", "level": "info", '
        f'"logger": "idp.access", "message": {_json_str(f"{method} {path} {status}")}, '
        f'"request_id": {_json_str(rid)}, "method": {_json_str(method)}, '
        f'"path": {_json_str(path)}, "status": {int(status)}, '
        f'"client": {"null" if host is None else _json_str(host)}, '
        f'"duration_ms": {duration_ms!r}}}')


# a str as a JSON string, non-ASCII kept (json.dumps(…, ensure_ascii=False) writes the same)
_json_str = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _direct_sink() -> BatchedStreamHandler | None:
    """The handler an access line would reach, when the configuration is server_log_config's
    (one JSON BatchedStreamHandler on the root logger, nothing on the way); otherwise None, and
    the line goes through logging as usual (a test capturing logs, a custom configuration)."""
    if access_log.handlers or access_log.filters or not access_log.propagate:
        return None
    handlers = logging.root.handlers
    if len(handlers) != 1 or logging.root.filters:
        return None
    handler = handlers[0]
    if (type(handler) is not BatchedStreamHandler or handler.filters
            or type(handler.formatter) is not JsonFormatter or handler.level > logging.INFO):
        return None
    return handler


