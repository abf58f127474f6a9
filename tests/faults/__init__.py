"""Backends killed in the middle of a run of logins and token requests, and what people saw.

tests/outages/ sends every route one request while a backend is away; this suite keeps a steady
load running (browsers signing in through the real pages and redeeming their codes, apps
refreshing tokens, machines asking for client_credentials tokens, signed-in browsers going
through SSO) and takes a backend away in the middle of it, then gives it back:

- the directory: the suite's own slapd, stopped (SIGTERM) and started again on its port;
- the Store: Redis behind a CutProxy (tests/support/cut.py), the shared server being no one's to
  kill; and, in test_sentinel_failover.py, a Redis primary of a Sentinel topology of the test's
  own, killed for real (SIGKILL), with the replica promoted by the sentinels;
- the database: PostgreSQL behind a CutProxy.

Every answer is counted (load.py): 0 answers that are a 5xx other than a well-formed 503, 0
answers slower than the configured timeouts allow, every request after the backend is back
served again without restarting anything, and 0 audit rows lost: each login and token the run
was given has its row in the audit log (accounts.py), even those given while the database was
away (idp/db/audit.py holds them until it is back). What each fault let through and refused is
printed (pytest -s), and README's "When a backend fails" has the numbers.
"""
