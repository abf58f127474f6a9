"""A new app's id (idp/sso/apps.py new_app_id), whichever way the app is registered: the
console or the CLI (OIDC and CAS), or RFC 7591 dynamic registration."""

from __future__ import annotations

import re

from idp.http.csv_cells import safe_cell
from idp.sso.apps import new_app_id

ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{23}$")


def test_an_app_id_is_random_url_safe_and_begins_with_a_letter_or_digit() -> None:
    # 2,000 ids: token_urlsafe alone begins one in 32 with `-` or `_`, so ~62 of them would
    ids = [new_app_id() for _ in range(2000)]
    assert all(ID.match(app_id) for app_id in ids), [i for i in ids if not ID.match(i)][:5]
    assert len(set(ids)) == len(ids)
    # every character of the alphabet still occurs after the first (144 random bits)
    assert set("".join(app_id[1:] for app_id in ids)) == set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    # so an export writes the id as it is, never as a guarded text cell
    assert all(safe_cell(app_id) == app_id for app_id in ids)
