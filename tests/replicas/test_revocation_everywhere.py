"""A person disabled, or their password reset, by an operator on one node: their tokens stop at
once on every replica, although each replica keeps the person it last read for 30 seconds (the
default IDP_LDAP_PERSON_CACHE_SECONDS) and would still think them active (issue 15 item 6,
issue 24 item 2). The revocation is a mark in the shared Redis that every replica checks."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.replicas.conftest import Cluster
from tests.replicas.test_two_replicas import authorize_params, code_from, csrf_of
from tests.support.slapd import SUFFIX, Campus


def new_person(campus: Campus) -> tuple[str, str]:
    username, password = "rep" + secrets.token_hex(4), "Pw-" + secrets.token_urlsafe(10)
    campus.server.ldapadd(
        f"dn: uid={username},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\n"
        f"uid: {username}\ncn: Replicated {username}\nsn: {username}\n"
        f"userPassword: {password}\n")
    return username, password


def tokens_from(cluster: Cluster, replica_url: str, username: str,
                password: str) -> dict[str, Any]:
    """A login on one replica and the code redeemed there: openid and offline_access."""
    params, verifier = authorize_params()
    params.update(client_id=cluster.client_id, scope="openid profile offline_access")
    with httpx.Client(timeout=15) as browser:
        login = browser.get(f"{replica_url}/authorize", params=params).headers["location"]
        page = browser.get(f"{replica_url}{login}")
        done = browser.post(f"{replica_url}{login}", data={
            "csrf": csrf_of(page.text), "username": username, "password": password})
        assert done.status_code == 303, done.text
        resumed = browser.get(f"{replica_url}{done.headers['location']}")
    response = httpx.post(f"{replica_url}/token", auth=(cluster.client_id, cluster.client_secret),
                          data={"grant_type": "authorization_code",
                                "code": code_from(resumed.headers["location"]),
                                "redirect_uri": params["redirect_uri"],
                                "code_verifier": verifier})
    assert response.status_code == 200, response.text
    return response.json()


def seen_by(cluster: Cluster, replica_url: str, tokens: dict[str, Any]) -> dict[str, bool]:
    """What one replica makes of the tokens: introspection, userinfo (the refresh token is left
    alone, so that asking does not rotate it)."""
    auth = (cluster.client_id, cluster.client_secret)
    introspected = httpx.post(f"{replica_url}/introspect", auth=auth,
                              data={"token": tokens["access_token"]})
    refresh = httpx.post(f"{replica_url}/introspect", auth=auth,
                         data={"token": tokens["refresh_token"]})
    userinfo = httpx.get(f"{replica_url}/userinfo",
                         headers={"Authorization": f"Bearer {tokens['access_token']}"})
    return {"access": introspected.json()["active"], "refresh": refresh.json()["active"],
            "userinfo": userinfo.status_code == 200}


LIVE = {"access": True, "refresh": True, "userinfo": True}
GONE = {"access": False, "refresh": False, "userinfo": False}


def test_a_disable_ends_the_tokens_on_every_replica_at_once(cluster: Cluster,
                                                             campus_slapd: Campus) -> None:
    a, b = cluster.replicas[0], cluster.replicas[1]
    username, password = new_person(campus_slapd)
    tokens = tokens_from(cluster, a.url, username, password)
    for replica in (a, b):  # each replica has now read the person and keeps them
        assert seen_by(cluster, replica.url, tokens) == LIVE

    assert "disabled" in cluster.idp("users", "disable", username)  # an operator, on a node

    for replica in (a, b):
        assert seen_by(cluster, replica.url, tokens) == GONE
    refreshed = httpx.post(f"{b.url}/token", auth=(cluster.client_id, cluster.client_secret),
                           data={"grant_type": "refresh_token",
                                 "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_a_reset_ends_the_old_tokens_on_every_replica(cluster: Cluster,
                                                      campus_slapd: Campus) -> None:
    a, b = cluster.replicas[0], cluster.replicas[1]
    username, password = new_person(campus_slapd)
    tokens = tokens_from(cluster, b.url, username, password)
    other = tokens_from(cluster, a.url, *new_person(campus_slapd))
    assert seen_by(cluster, a.url, tokens) == LIVE

    output = cluster.idp("users", "reset-password", username)

    for replica in (a, b):
        assert seen_by(cluster, replica.url, tokens) == GONE
        assert seen_by(cluster, replica.url, other) == LIVE  # somebody else's stay
    new_password = output.split()[-1]
    assert seen_by(cluster, a.url, tokens_from(cluster, a.url, username, new_password)) == LIVE
