"""Every route of campus-idp with the directory, the Store or the database out of reach: never a
500, never a hang, a 503 in the shape its callers expect, and back to normal by itself.

How it works:
- conftest.py starts one IdP as in production (a slapd of its own, Redis, PostgreSQL), each
  backend reached through a CutProxy (tests/support/cut.py) that can refuse and drop connections.
- world.py builds, with every backend up, what lets a request get deep into its handler: signed-in
  browsers, clients, tokens, codes, sign-ins paused at each page, import jobs, reset links...
- calls.py lists the routes from the app object itself; recipes.py has, per (method, route), the
  plausible request(s) to send; sweep.py sends them all concurrently and judges the answers.
- test_outages.py: for each backend, cut it, sweep, restore it, then check the server works
  again at once; also that every route has a recipe and that every recipe works while all is up.

To add a route: add its recipe to recipes.py (test_every_route_has_a_recipe names routes without
one; they are swept with a generic request meanwhile). If it needs something to exist first
(a session, an id), build that in world.py.

To add a backend (say the SMTP server, or a second LDAP server): put a CutProxy in front of it in
the `proxies` fixture under a new name, point the IdP's setting at the proxy in `outage_idp`, add
the name to BACKENDS (conftest.py) and, if /readyz reports it, to READY_CHECK (sweep.py).
"""
