"""Server logging (idp/monitoring/logs.py): JSON lines on stderr (or stdout) written in batches, and the
access line's direct path writing exactly what the logging path writes."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
import time
import warnings
from collections.abc import Iterator

import pytest

from idp.monitoring.logs import BatchedStreamHandler, JsonFormatter, log_access, server_log_config

SCOPE = {"method": "POST", "path": "/token", "client": ("10.1.2.3", 5555)}


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """server_log_config applied, writing to a buffer instead of stderr; logging restored after."""
    saved = logging.root.handlers[:], logging.root.level
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stderr", buffer)
    logging.config.dictConfig(server_log_config("info"))
    yield buffer
    handlers, level = saved
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def _handler() -> BatchedStreamHandler:
    handler = logging.root.handlers[0]
    assert isinstance(handler, BatchedStreamHandler)
    return handler


def test_info_lines_wait_for_the_interval_and_warnings_go_at_once(stderr: io.StringIO) -> None:
    log = logging.getLogger("idp.test")
    log.info("first")
    log.info("second")
    assert stderr.getvalue() == ""  # batched
    log.warning("trouble")  # written at once, with everything before it
    assert [json.loads(line)["message"] for line in stderr.getvalue().splitlines()] == [
        "first", "second", "trouble"]
    log.info("later")
    deadline = time.monotonic() + 5 * _handler().interval + 1
    while "later" not in stderr.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads(stderr.getvalue().splitlines()[-1])["message"] == "later"


def _both_ways(stderr: io.StringIO, scope: dict[str, object], status: int, rid: str,
               seconds: float) -> tuple[str, str]:
    """The access line as the direct path writes it and as the logging path would."""
    log_access(scope, status, rid, seconds)
    _handler().flush()
    direct = stderr.getvalue().rstrip("\n")

    # the same call through the logging path (a second handler turns the direct path off)
    records: list[logging.LogRecord] = []
    catcher = logging.Handler()
    catcher.emit = records.append  # type: ignore[method-assign]
    logging.root.addHandler(catcher)
    try:
        log_access(scope, status, rid, seconds)
    finally:
        logging.root.removeHandler(catcher)
    return direct, JsonFormatter().format(records[0])


def test_the_direct_access_line_is_the_one_logging_writes(stderr: io.StringIO) -> None:
    direct_text, logging_text = _both_ways(stderr, SCOPE, 200, "rid-1", 0.01234)
    direct, through_logging = json.loads(direct_text), json.loads(logging_text)
    assert list(direct) == list(through_logging)  # same keys, same order
    direct.pop("ts"), through_logging.pop("ts")
    assert direct == through_logging == {
        "level": "info", "logger": "idp.access", "message": "POST /token 200",
        "request_id": "rid-1", "method": "POST", "path": "/token", "status": 200,
        "client": "10.1.2.3", "duration_ms": 12.3}


@pytest.mark.parametrize("scope", [
    {"method": "GET", "path": '/统一身份认证/"quoted"\\back\tslash\u2028', "client": None},
    {"method": "GET", "path": "/x", "client": ("2001:db8::1", 1)},
])
def test_the_direct_access_line_is_written_character_for_character(
        stderr: io.StringIO, scope: dict[str, object]) -> None:
    direct, through_logging = _both_ways(stderr, scope, 404, "0123abcd", 2.0)
    # the timestamps may differ in their last digits: everything after them must not
    assert direct.split('"level"', 1)[1] == through_logging.split('"level"', 1)[1]
    assert json.loads(direct)["path"] == scope["path"]


def test_text_lines_for_a_terminal() -> None:
    """IDP_LOG_FORMAT=text (what `idp demo` runs): short lines a person reads, not JSON."""
    config = server_log_config("info", "text")
    formatter = logging.config.DictConfigurator(config).configure_custom(
        dict(config["formatters"]["lines"]))
    record = logging.LogRecord("idp.access", logging.INFO, __file__, 1, "%s %s %s",
                               ("POST", "/token", 200), None)
    record.duration_ms = 3.1
    line = formatter.format(record)
    assert line.endswith("INFO    POST /token 200 (3.1 ms)") and not line.startswith("{")


def test_stdout_for_a_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """IDP_LOG_STREAM=stdout (the container image): every line on stdout, none on stderr, and a
    library's warning (captured, as idp/asgi.py does) is a JSON line too."""
    saved = logging.root.handlers[:], logging.root.level
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    logging.config.dictConfig(server_log_config("info", "json", "stdout"))
    logging.captureWarnings(True)
    try:
        logging.getLogger("idp.test").warning("to stdout")
        warnings.warn("a library's deprecation", UserWarning, stacklevel=1)
        _handler().flush()
    finally:
        logging.captureWarnings(False)
        handlers, level = saved
        logging.root.handlers[:] = handlers
        logging.root.setLevel(level)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["logger"] for line in lines] == ["idp.test", "py.warnings"]
    assert "a library's deprecation" in lines[1]["message"]
    assert err.getvalue() == ""
