"""Admin API and console, developer portal and client registration.

Admin side (issue 7 parts 3 and 4): `service_*.py` is the one implementation of every admin action
(people, groups, clients, sessions, audit, import), shared by the REST API (`api*.py`, router in
api.py), the console (`console*.py`, router in console.py) and `idp users …` (idp/cli/users.py).
`auth.py` decides who may use them. The developer side is registration*.py and portal*.py.
"""
