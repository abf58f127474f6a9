"""ASGI entry point for `idp serve` workers: settings from the environment (and IDP_CONFIG)."""

from idp.app import create_app
from idp.settings import config_file_from_env, load_settings

app = create_app(load_settings(config_file_from_env()))
