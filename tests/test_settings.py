"""The settings tree: the documented variable names, the TOML file, and errors that name the setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from directory.config import LdapConfig
from idp.settings import SettingsError, documented_settings, effective_settings, load_settings

REQUIRED_NAMES = [
    "IDP_ISSUER", "IDP_DATABASE_URL", "IDP_REDIS_URL", "IDP_DIRECTORY", "IDP_LDAP_URL",
    "IDP_LDAP_BIND_DN", "IDP_LDAP_BIND_PASSWORD", "IDP_LDAP_USER_BASE", "IDP_LDAP_USER_FILTER",
    "IDP_LDAP_GROUP_BASE", "IDP_LDAP_START_TLS", "IDP_LDAP_CA_FILE", "IDP_KEYS_DIR",
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("IDP_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_issue_variable_names_all_work(clean_env: pytest.MonkeyPatch) -> None:
    env = {
        "IDP_ISSUER": "https://id.example.edu/", "IDP_DATABASE_URL": "postgresql://u@db/idp",
        "IDP_REDIS_URL": "redis://cache:6379/0", "IDP_DIRECTORY": "ldap",
        "IDP_LDAP_URL": "ldap://dead.example.edu ldaps://live.example.edu",
        "IDP_LDAP_BIND_DN": "cn=idp,ou=services,dc=example,dc=edu",
        "IDP_LDAP_BIND_PASSWORD": "s3cret", "IDP_LDAP_USER_BASE": "ou=people,dc=example,dc=edu",
        "IDP_LDAP_USER_FILTER": "(&(objectClass=person)(uid={username}))",
        "IDP_LDAP_GROUP_BASE": "ou=groups,dc=example,dc=edu", "IDP_LDAP_START_TLS": "true",
        "IDP_LDAP_CA_FILE": "/etc/ssl/campus-ca.pem", "IDP_KEYS_DIR": "/srv/keys",
    }
    for name, value in env.items():
        clean_env.setenv(name, value)
    s = load_settings()
    assert s.issuer == "https://id.example.edu"  # trailing slash removed: iss must match exactly
    assert s.database_url == "postgresql://u@db/idp"
    assert s.redis_url == "redis://cache:6379/0"
    assert s.directory == "ldap"
    assert s.ldap.urls == ["ldap://dead.example.edu", "ldaps://live.example.edu"]
    assert s.ldap.bind_dn == "cn=idp,ou=services,dc=example,dc=edu"
    assert s.ldap.bind_password.get_secret_value() == "s3cret"
    assert s.ldap.user_base == "ou=people,dc=example,dc=edu"
    assert s.ldap.user_filter == "(&(objectClass=person)(uid={username}))"
    assert s.ldap.group_base == "ou=groups,dc=example,dc=edu"
    assert s.ldap.start_tls is True
    assert s.ldap.ca_file == "/etc/ssl/campus-ca.pem"
    assert s.keys_dir == Path("/srv/keys")
    assert s.https


def test_defaults_are_the_embedded_ones(clean_env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.directory == "local"
    assert s.redis_url is None
    assert s.database_url.startswith("sqlite:///var/")
    assert s.ldap.user_filter == "(uid={username})"
    assert "secret" not in repr(s.ldap.bind_password)


def test_toml_file_and_environment_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "idp.toml"
    config.write_text(
        'issuer = "https://sso.example.edu"\ndirectory = "ldap"\n'
        '[ldap]\nurl = "ldap://a.example.edu"\nuser_base = "ou=people,dc=example,dc=edu"\n'
        '[tokens]\naccess_token_ttl = 300\n'
    )
    s = load_settings(config)
    assert s.issuer == "https://sso.example.edu"
    assert s.ldap.urls == ["ldap://a.example.edu"]
    assert s.tokens.access_token_ttl == 300
    clean_env.setenv("IDP_LDAP_URL", "ldap://b.example.edu")
    assert load_settings(config).ldap.urls == ["ldap://b.example.edu"]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IDP_ISSUER", "not-a-url", "IDP_ISSUER: must be an absolute http(s) URL"),
        ("IDP_ISSUER", "http://id.example.edu", "IDP_ISSUER: must be https"),
        ("IDP_LDAP_URL", "http://x", "IDP_LDAP_URL: 'http://x' is not an ldap://"),
        ("IDP_LDAP_USER_FILTER", "(uid=alice)", "IDP_LDAP_USER_FILTER: the filter must contain {username}"),
        ("IDP_DATABASE_URL", "mysql://x/y", "IDP_DATABASE_URL: must be a sqlite"),
        ("IDP_DIRECTORY", "nis", "IDP_DIRECTORY:"),
        ("IDP_TOKENS_CODE_TTL", "600", "IDP_TOKENS_CODE_TTL:"),
        ("IDP_LDAP_START_TLS", "perhaps", "IDP_LDAP_START_TLS:"),
    ],
)
def test_errors_name_the_variable(clean_env: pytest.MonkeyPatch, variable: str, value: str,
                                  expected: str) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert expected in str(error.value)


def test_ldap_directory_needs_a_user_base(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IDP_DIRECTORY", "ldap")
    with pytest.raises(SettingsError, match="IDP_LDAP_USER_BASE is required"):
        load_settings()


def test_missing_config_file_is_a_clear_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    documented = set(re.findall(r"`(IDP_[A-Z_]+)`", readme))
    variables = [row[0] for row in documented_settings()]
    assert set(REQUIRED_NAMES) <= set(variables)
    missing = [v for v in variables if v not in documented]
    assert not missing, f"README lacks: {missing}"


def test_every_ldap_setting_is_listed() -> None:
    """The [ldap] section is the directory's own model (directory/config.py); the settings table
    still lists each of its fields under IDP_LDAP_*."""
    variables = {row[0] for row in documented_settings()}
    assert {f"IDP_LDAP_{name.upper()}" for name in LdapConfig.model_fields} <= variables


def test_unknown_ldap_setting_is_refused_by_name(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "idp.toml"
    config.write_text('[ldap]\nuser_bass = "ou=people,dc=example,dc=edu"\n')
    with pytest.raises(SettingsError, match=r"\[ldap\] user_bass in "):
        load_settings(config)


def test_lists_and_dicts_take_json_or_the_plain_form(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IDP_MFA_REQUIRED_GROUPS", "idp-admins, 计算机学院教师")
    clean_env.setenv("IDP_LDAP_ATTRIBUTES", "number=employeeID, department=ou")
    settings = load_settings()
    assert settings.mfa.required_groups == ["idp-admins", "计算机学院教师"]
    assert settings.ldap.attributes == {"number": "employeeID", "department": "ou"}
    clean_env.setenv("IDP_MFA_REQUIRED_GROUPS", '["a", "b"]')
    clean_env.setenv("IDP_LDAP_ATTRIBUTES", '{"number": "employeeID"}')
    settings = load_settings()
    assert settings.mfa.required_groups == ["a", "b"]
    assert settings.ldap.attributes == {"number": "employeeID"}


@pytest.mark.parametrize("variable, value, words", [
    ("IDP_LDAP_ATTRIBUTES", "number", "IDP_LDAP_ATTRIBUTES: write a JSON object"),
    ("IDP_LDAP_ATTRIBUTES", "=x", "IDP_LDAP_ATTRIBUTES"),
    ("IDP_MFA_REQUIRED_GROUPS", "[broken", "IDP_MFA_REQUIRED_GROUPS: not a JSON list"),
])
def test_a_structured_value_that_cannot_be_read_names_its_variable(
        clean_env: pytest.MonkeyPatch, variable: str, value: str, words: str) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert words in str(caught.value)


def test_a_bad_file_value_names_its_key_and_file(clean_env: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    config = tmp_path / "idp.toml"
    config.write_text('[ldap]\nurll = "ldap://x"\n[tokens]\ncode_ttl = 999\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert f"[ldap] urll in {config}" in message
    assert f"[tokens] code_ttl in {config}" in message and "IDP_LDAP_URLL" not in message
    config.write_text('[ldap\nurl = "x"')
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert "is not valid TOML" in str(caught.value)


def test_effective_values_say_where_they_came_from(clean_env: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    config = tmp_path / "idp.toml"
    config.write_text('[ldap]\nuser_base = "ou=people,dc=x"\nbind_password = "hidden"\n')
    clean_env.setenv("IDP_ISSUER", "https://id.example.edu")
    rows = {variable: (value, origin) for variable, value, origin in
            effective_settings(load_settings(config), config)}
    assert rows["IDP_ISSUER"] == ("https://id.example.edu", "env")
    assert rows["IDP_LDAP_USER_BASE"] == ("ou=people,dc=x", "file")
    assert rows["IDP_LDAP_BIND_PASSWORD"] == ("********", "file")  # never shown
    assert rows["IDP_TOKENS_CODE_TTL"] == ("60", "default")


def test_offline_login_is_for_ldap_with_last_known_people(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IDP_DIRECTORY_OFFLINE_LOGIN", "true")
    with pytest.raises(SettingsError, match="IDP_DIRECTORY_OFFLINE_LOGIN is for IDP_DIRECTORY=ldap"):
        load_settings()
    clean_env.setenv("IDP_DIRECTORY", "ldap")
    clean_env.setenv("IDP_LDAP_USER_BASE", "ou=people,dc=example,dc=edu")
    clean_env.setenv("IDP_DIRECTORY_MAX_STALENESS", "0")
    with pytest.raises(SettingsError, match="set IDP_DIRECTORY_MAX_STALENESS above 0"):
        load_settings()
    clean_env.setenv("IDP_DIRECTORY_MAX_STALENESS", "3600")
    clean_env.setenv("IDP_DIRECTORY_OFFLINE_LOGIN_DAYS", "3")
    settings = load_settings()
    assert settings.directory == "ldap" and settings.directory_offline_login is True
    assert (settings.directory_max_staleness, settings.directory_offline_login_days) == (3600, 3)


# --- IDP_REDIS_URL for Redis behind Sentinel ---------------------------------------------------


def test_a_sentinel_url_names_the_sentinels_the_service_and_both_passwords(
        clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IDP_REDIS_URL", "redis+sentinel://:data%40pw+1@s1.example.edu,"
                     "s2.example.edu:26380,[fd00::3]:26381/campus/2"
                     "?sentinel_password=sent%26pw+2&sentinel_username=watcher")
    target = load_settings().redis_sentinel
    assert target is not None
    assert target.sentinels == (("s1.example.edu", 26379), ("s2.example.edu", 26380),
                                ("fd00::3", 26381))
    assert (target.service, target.db) == ("campus", 2)
    # percent-decoded, and a + stays a + (it is not a query string's space)
    assert (target.username, target.password) == (None, "data@pw+1")
    assert (target.sentinel_username, target.sentinel_password) == ("watcher", "sent&pw+2")


def test_the_short_sentinel_form_of_the_issue_works(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("IDP_REDIS_URL", "redis+sentinel://host:26379,host2:26379/mymaster/0")
    target = load_settings().redis_sentinel
    assert target is not None and target.service == "mymaster" and target.db == 0
    assert target.password is None and target.sentinel_password is None
    clean_env.setenv("IDP_REDIS_URL", "redis+sentinel://alice:pw@host/mymaster")
    target = load_settings().redis_sentinel
    assert target is not None and (target.username, target.password, target.db) == ("alice", "pw", 0)
    clean_env.setenv("IDP_REDIS_URL", "redis://cache:6379/0")
    assert load_settings().redis_sentinel is None


@pytest.mark.parametrize(("url", "expected"), [
    ("redis+sentinel://secret@host/campus", "the userinfo must be :password or user:password"),
    ("redis+sentinel:///campus", "name at least one sentinel"),
    ("redis+sentinel://host:26379", "the path must name the service"),
    ("redis+sentinel://host/", "the path must name the service"),
    ("redis+sentinel://host:0/campus", "has no valid port"),
    ("redis+sentinel://host:26379,:26380/campus", "has no valid host"),
    ("redis+sentinel://host/campus/zero", "after the service, only a database number"),
    ("redis+sentinel://host/campus/0/extra", "after the service, only a database number"),
    ("redis+sentinel://host/campus?password=x", "unknown or repeated option(s) password"),
    ("redis+sentinel://host/campus?sentinel_password=a&sentinel_password=b", "repeated"),
    ("redis+sentinel://host/campus?sentinel_password", "name=value pairs"),
    ("redis+sentinel://:pa/ss@host/campus", "percent-encode / ? # @ in the password"),
    ("redis+sentinel://host/campus#x", "no #fragment"),
    ("sentinel://host/campus", "redis+sentinel://"),
])
def test_a_wrong_sentinel_url_is_a_clear_error_that_never_shows_the_password(
        clean_env: pytest.MonkeyPatch, url: str, expected: str) -> None:
    clean_env.setenv("IDP_REDIS_URL", url)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "IDP_REDIS_URL" in str(error.value) and expected in str(error.value)
    assert "secret" not in str(error.value) and "pa/ss" not in str(error.value)
