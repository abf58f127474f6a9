"""`idp clients add ... --grant-type urn:ietf:params:oauth:grant-type:device_code`: a device-only
app (a command-line tool, a classroom display) needs no redirect URI; public ones too."""

from __future__ import annotations

import json

from tests.cli.conftest import Runner

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def test_a_device_app(run_idp: Runner) -> None:
    added = run_idp("clients", "add", "--name", "教室大屏", "--grant-type", DEVICE,
                    "--grant-type", "refresh_token", "--json", check=True)
    data = json.loads(added.stdout)
    assert data["grant_types"] == [DEVICE, "refresh_token"] and data["client_secret"]
    public = run_idp("clients", "add", "--name", "campus-cli", "--public", "--grant-type", DEVICE,
                     "--json", check=True)
    info = json.loads(public.stdout)
    assert info["grant_types"] == [DEVICE] and not info.get("client_secret")
    listed = json.loads(run_idp("clients", "list", "--json", check=True).stdout)
    assert sorted(c["name"] for c in listed) == ["campus-cli", "教室大屏"]


def test_a_misspelt_grant_is_refused(run_idp: Runner) -> None:
    wrong = run_idp("clients", "add", "--name", "x", "--grant-type", "device_code")
    assert wrong.returncode == 2 and DEVICE in wrong.stderr
