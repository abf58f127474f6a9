"""Device sign-in across replicas: the device code, its user code, the polling pace and the
person's answer live in the shared Store, so the device may poll one replica while the person
confirms through another, and each step may land anywhere."""

from __future__ import annotations

import json
import re

import httpx

from tests.replicas.conftest import Cluster

DEVICE = "urn:ietf:params:oauth:grant-type:device_code"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def test_device_polls_one_replica_while_the_person_confirms_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.replicas[0].url, cluster.replicas[1].url
    client = json.loads(cluster.idp("clients", "add", "--name", "Replicated display",
                                    "--grant-type", DEVICE, "--json"))
    auth = (client["client_id"], client["client_secret"])
    started = httpx.post(f"{a}/device_authorization", data={"scope": "openid"}, auth=auth).json()
    poll = {"grant_type": DEVICE, "device_code": started["device_code"]}
    assert httpx.post(f"{b}/token", data=poll, auth=auth).json()["error"] == "authorization_pending"
    # the pace is shared: polling the other replica at once is still too fast
    assert httpx.post(f"{a}/token", data=poll, auth=auth).json()["error"] == "slow_down"

    with httpx.Client() as browser:
        form = browser.get(f"{b}/device")
        entered = browser.post(f"{a}/device", data={"csrf": _csrf(form.text),
                                                    "user_code": started["user_code"]})
        assert entered.status_code == 303, entered.text
        login = entered.headers["location"]
        page = browser.get(f"{b}{login}")
        signed_in = browser.post(f"{a}{login}", data={
            "csrf": _csrf(page.text), "username": "student", "password": "student123"})
        consent = browser.get(f"{b}{signed_in.headers['location']}").headers["location"]
        page = browser.get(f"{a}{consent}")
        answered = browser.post(f"{b}{consent}", data={"csrf": _csrf(page.text),
                                                       "decision": "allow"})
        done = browser.get(f"{a}{answered.headers['location']}")
        assert done.status_code == 303 and "outcome=approved" in done.headers["location"]

    tokens = httpx.post(f"{b}/token", data=poll, auth=auth)
    assert tokens.status_code == 200 and tokens.json()["id_token"], tokens.text
    assert httpx.post(f"{a}/token", data=poll, auth=auth).json()["error"] == "invalid_grant"
