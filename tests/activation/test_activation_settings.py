"""IDP_ACTIVATION_FACTS and IDP_ACTIVATION_LABELS: read from the environment, checked at start."""

from __future__ import annotations

import pytest

from idp.settings import SettingsError, load_settings
from idp.web.activation_text import fact_label


def test_facts_and_labels_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_DIRECTORY", "ldap")
    monkeypatch.setenv("IDP_LDAP_USER_BASE", "ou=people,dc=example,dc=edu")
    monkeypatch.setenv("IDP_ACTIVATION_FACTS", "employeeNumber, sn ,idCardSuffix")
    monkeypatch.setenv("IDP_ACTIVATION_LABELS", "idCardSuffix=身份证号后六位 / Last 6 of ID card")
    settings = load_settings()
    activation = settings.activation
    assert activation.enabled and activation.facts == ["employeeNumber", "sn", "idCardSuffix"]
    assert fact_label(activation, "idcardsuffix", "zh") == "身份证号后六位"
    assert fact_label(activation, "idCardSuffix", "en") == "Last 6 of ID card"
    assert fact_label(activation, "employeeNumber", "zh") == "学号/工号"
    assert fact_label(activation, "roomNumber", "en") == "roomNumber"


@pytest.mark.parametrize(("directory", "facts", "says"), [
    ("local", "employeeNumber,birthDate", "the local directory has no attribute birthDate"),
    ("ldap", "employeeNumber,sn;x", "is not an attribute name"),
    ("ldap", "sn,SN", "named twice"),
])
def test_facts_that_cannot_work_are_refused_at_start(
        monkeypatch: pytest.MonkeyPatch, directory: str, facts: str, says: str) -> None:
    monkeypatch.setenv("IDP_DIRECTORY", directory)
    monkeypatch.setenv("IDP_LDAP_USER_BASE", "ou=people,dc=example,dc=edu")
    monkeypatch.setenv("IDP_ACTIVATION_FACTS", facts)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert says in str(refused.value) and "IDP_ACTIVATION" in str(refused.value)
