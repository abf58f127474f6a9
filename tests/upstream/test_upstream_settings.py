"""IDP_UPSTREAM_PROVIDERS and IDP_UPSTREAM_<NAME>_<FIELD>: read from the environment (and the
TOML file) once, at start; every mistake stops the start with the variable it is about."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.settings import SettingsError, load_settings


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def test_providers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, IDP_UPSTREAM_PROVIDERS="pku,wecom", IDP_UPSTREAM_PKU_KIND="oidc",
         IDP_UPSTREAM_PKU_ISSUER="https://id.pku.edu.cn/", IDP_UPSTREAM_PKU_CLIENT_ID="c",
         IDP_UPSTREAM_PKU_CLIENT_SECRET="s", IDP_UPSTREAM_PKU_LABEL_ZH="北京大学",
         IDP_UPSTREAM_WECOM_KIND="wecom", IDP_UPSTREAM_WECOM_CLIENT_ID="ww1",
         IDP_UPSTREAM_WECOM_CLIENT_SECRET="x", IDP_UPSTREAM_WECOM_AGENT_ID="1000002",
         IDP_UPSTREAM_WECOM_SILENT="true")
    upstream = load_settings().upstream
    assert list(upstream.by_name) == ["pku", "wecom"]  # the buttons' order
    pku, wecom = upstream.by_name["pku"], upstream.by_name["wecom"]
    assert pku.issuer == "https://id.pku.edu.cn" and pku.label_zh == "北京大学"
    assert pku.client_secret.get_secret_value() == "s"
    assert wecom.silent is True and wecom.agent_id == "1000002"


@pytest.mark.parametrize(("values", "message"), [
    ({"IDP_UPSTREAM_PROVIDERS": "pku", "IDP_UPSTREAM_PKU_KIND": "oidc",
      "IDP_UPSTREAM_PKU_ISUER": "https://x"}, "IDP_UPSTREAM_PKU_ISUER: unknown field 'isuer'"),
    ({"IDP_UPSTREAM_PROVIDERS": "pku", "IDP_UPSTREAM_PKU_KIND": "oidc"},
     "needs IDP_UPSTREAM_PKU_CLIENT_ID, IDP_UPSTREAM_PKU_CLIENT_SECRET, IDP_UPSTREAM_PKU_ISSUER"),
    ({"IDP_UPSTREAM_PROVIDERS": "pku", "IDP_UPSTREAM_PKU_KIND": "saml"},
     "IDP_UPSTREAM_PKU_KIND"),
    ({"IDP_UPSTREAM_OTHER_KIND": "oidc"}, "'other' is not listed in IDP_UPSTREAM_PROVIDERS"),
    ({"IDP_UPSTREAM_PROVIDERS": "Bad_Name"}, "is not a name of lowercase letters and digits"),
    ({"IDP_UPSTREAM_PROVIDERS": "w", "IDP_UPSTREAM_W_KIND": "wecom",
      "IDP_UPSTREAM_W_CLIENT_ID": "ww", "IDP_UPSTREAM_W_CLIENT_SECRET": "s"},
     "needs IDP_UPSTREAM_W_AGENT_ID"),
])
def test_mistakes_name_their_variable(monkeypatch: pytest.MonkeyPatch, values: dict[str, str],
                                      message: str) -> None:
    _env(monkeypatch, **values)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert message in str(refused.value)


def test_providers_from_the_toml_file(tmp_path: Path) -> None:
    config = tmp_path / "idp.toml"
    config.write_text('[upstream]\nproviders = ["dt"]\ndt_kind = "dingtalk"\n'
                      'dt_client_id = "ding1"\ndt_client_secret = "s"\n', encoding="utf-8")
    assert load_settings(config).upstream.by_name["dt"].kind == "dingtalk"


def test_none_by_default() -> None:
    assert load_settings().upstream.by_name == {}
