"""Fixtures of the account page tests (shared with tests/mfa)."""

from tests.mfa.fixtures import live, mailbox, mfa_idp, mfa_idp_production  # noqa: F401
