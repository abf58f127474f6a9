"""The `idp` command (idp/cli/main.py); `idp.cli:main` is its entry point."""

from idp.cli.main import main

__all__ = ["main"]
