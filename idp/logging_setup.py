"""JSON logs, one object per line, each carrying the id of the request it belongs to.

Every request gets an id (`request_id_for`), returned in the X-Request-ID response header and
kept in the `request_id` contextvar for every log line written while the request runs, and one
access line (`log_access`); idp/edge.py does both for every request.

`server_log_config(level)` is the `log_config` for uvicorn.run (each worker applies it);
`configure_logging(level)` does the same for any other process.
"""

from __future__ import annotations

import itertools
import json
import logging
import logging.config
import re
import secrets
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


def server_log_config(level: str = "info") -> dict[str, Any]:
    """Everything (our loggers and uvicorn's) as JSON on stderr; uvicorn's own access log is
    replaced by idp/edge.py's, which knows the request id."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure_logging(level: str = "info") -> None:
    logging.config.dictConfig(server_log_config(level))


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
    access_log.info("%s %s %s", method, path, status,
                    extra={"request_id": rid, "method": method, "path": path, "status": status,
                           "client": client[0] if client else None,
                           "duration_ms": round(seconds * 1000, 1)})
