"""Fixtures of the second-factor tests (shared with tests/account)."""

from tests.mfa.fixtures import live, mailbox, mfa_idp, mfa_idp_production  # noqa: F401
