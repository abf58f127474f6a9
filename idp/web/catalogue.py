"""Looking up the site's strings: one lookup, with its fallback, for every string table.

The tables are data and stay with what they name: the interaction pages' (idp/web/i18n.py, which
the second-factor and account strings of idp/web/mfa_text.py join), the developer portal's and
the admin console's (idp/admin/portal_i18n.py, console_i18n.py). An area with a table of its own
looks there first and falls back to the interaction pages' catalogue for the chrome they share
(language switch, footer, CSRF and outage messages):

    text = translator(PORTAL_CATALOGUE, CATALOGUE)
    text("portal_title", "en")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from idp.web.i18n import Locale

Table = Mapping[str, Mapping["Locale", str]]
Text = Callable[..., str]  # text(key, locale, **values) -> str


def lookup(key: str, locale: Locale, tables: Sequence[Table], values: Mapping[str, object]) -> str:
    """The string for key in locale from the first table that has the key, formatted with
    `values`; an unknown key is returned as is (so engine-supplied free text can pass through
    an error page unchanged)."""
    for table in tables:
        entry = table.get(key)
        if entry is not None:
            return entry[locale].format(**values) if values else entry[locale]
    return key.format(**values) if values else key


def translator(*tables: Table) -> Text:
    """`text(key, locale, **values)` over these tables, the first one first."""

    def text(key: str, locale: Locale, **values: object) -> str:
        return lookup(key, locale, tables, values)

    return text


def register_catalogue(catalogue: dict[str, dict[Locale, str]],
                       strings: Mapping[str, dict[Locale, str]], *, source: str) -> None:
    """Add `strings` (from the module `source`) to a catalogue, so pages rendered with it find
    them; a key may not shadow a different string already there."""
    clash = sorted(key for key in strings if key in catalogue and catalogue[key] != strings[key])
    if clash:
        raise RuntimeError(f"{source} strings shadow the catalogue: {clash}")
    catalogue.update(strings)
