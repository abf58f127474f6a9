"""The portal's strings: every key in both languages, every key a template uses exists."""

from __future__ import annotations

import re

from idp.admin.pages import ADMIN_TEMPLATES
from idp.admin.portal_i18n import PORTAL_CATALOGUE, text
from idp.web.i18n import CATALOGUE


def test_every_portal_string_is_in_chinese_and_english() -> None:
    for key, entry in PORTAL_CATALOGUE.items():
        assert set(entry) == {"zh", "en"}, key
        assert all(value.strip() for value in entry.values()), key
        # the same placeholders in both, so formatting never fails in one language only
        assert set(re.findall(r"{(\w+)}", entry["zh"])) == \
            set(re.findall(r"{(\w+)}", entry["en"])), key


def test_every_key_the_templates_use_exists() -> None:
    used: set[str] = set()
    for template in ADMIN_TEMPLATES.glob("portal*.html"):
        used |= set(re.findall(r"""(?<![\w.])t\('([a-z_]+)'\s*[,)]""", template.read_text(encoding="utf-8")))
    assert used, "the templates use no strings?"
    missing = sorted(key for key in used if key not in PORTAL_CATALOGUE and key not in CATALOGUE)
    assert missing == []


def test_status_names_exist_for_every_client_status() -> None:
    from idp.protocols.oidc.clients import CLIENT_STATUSES

    for status in CLIENT_STATUSES:
        assert text(f"status_{status}", "en") != f"status_{status}"


def test_portal_strings_fall_back_to_the_web_catalogue() -> None:
    assert text("csrf_title", "en") == CATALOGUE["csrf_title"]["en"]
    assert text("portal_forbidden", "zh", group="g").startswith("开发者门户")
