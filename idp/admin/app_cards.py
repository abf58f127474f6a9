"""The card of an app in the app portal at / (idp/sso/catalogue.py), as the CLI, the console, the
admin API and the developer portal set it: the home page and the icon are checked by the rule
registration applies to RFC 7591's client_uri and logo_uri (validate_redirect_uri), so a card
reads the same whichever door set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idp.protocols.oidc.clients import validate_redirect_uri
from idp.sso.catalogue import MAX_DESCRIPTION

MAX_URL = 2000


def _card_url(value: str, what: str) -> str:
    if len(value) > MAX_URL or not value.isprintable():
        raise ValueError(f"{what}: a URL of at most {MAX_URL} characters")
    return validate_redirect_uri(value, what=what)


def checked_card(changes: Mapping[str, Any]) -> dict[str, str | None]:
    """The card fields among `changes` (home_url, icon_url, description; empty clears one), as
    the `extra` keys they are kept under, or ValueError saying what is wrong."""
    cleaned: dict[str, str | None] = {}
    for key, field in (("home_url", "client_uri"), ("icon_url", "logo_uri")):
        if key in changes:
            value = changes[key]
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key}: a URL")
            cleaned[field] = _card_url(value.strip(), key) if value and value.strip() else None
    if "description" in changes:
        text = changes["description"]
        if text is not None and not isinstance(text, str):
            raise ValueError("description: one line of text")
        text = " ".join((text or "").split())
        if len(text) > MAX_DESCRIPTION:
            raise ValueError(f"description: at most {MAX_DESCRIPTION} characters")
        cleaned["description"] = text or None
    return cleaned


def with_card(extra: Mapping[str, Any] | None, card: Mapping[str, str | None]) -> dict[str, Any]:
    """The app's `extra` with these card fields (a None removes one)."""
    result = dict(extra or {})
    for key, value in card.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result
