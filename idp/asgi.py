"""ASGI entry point for `idp serve` workers: settings from the environment (and IDP_CONFIG)."""

import logging

# a library's warning (authlib's deprecations, at import) becomes a log line like any other, one
# JSON object on the log stream, not Python's bare text on stderr; logging is configured by now
logging.captureWarnings(True)

from idp.app import create_app  # noqa: E402
from idp.settings import config_file_from_env, load_settings  # noqa: E402

app = create_app(load_settings(config_file_from_env()))
