"""Services: every backend a request may need, opened once per process (idp/app.py
`open_services`) and handed down. Routes reach it through `ServicesDep` (or `services_of` where
no FastAPI dependency runs); nothing below this layer knows it exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from directory.base import Directory
from directory.writes import DirectoryWriter
from idp.db.audit import Audit
from idp.db.releases import ReleaseLog
from idp.keys.ring import KeyRing
from idp.settings import Settings
from idp.sso.logout import SingleLogout
from idp.sso.revocation import PersonRevocation
from idp.sso.revoked import RevokedList
from idp.sso.sessions import SessionManager
from idp.sso.signins import SignIns
from idp.store import Store
from idp.upstream.registry import Upstreams


@dataclass
class Services:
    """Everything a request may need, opened once per process."""

    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker
    store: Store
    directory: Directory
    keys: KeyRing
    sessions: SessionManager  # SSO sessions and the apps each signed into
    signins: SignIns  # sign-ins parked by a protocol, waiting for the pages
    logout: SingleLogout  # ends a session everywhere, through each protocol's notifier
    revocation: PersonRevocation  # ends everything a person holds (reset, change, disable)
    revoked: RevokedList  # revoked token ids and people's marks, read in memory on every replica
    audit: Audit
    releases: ReleaseLog  # which claims went to which app for whom, written behind
    writer: DirectoryWriter  # writes people: the local directory itself, or LDAP's admin bind
    upstreams: Upstreams  # upstream providers people sign in with, and their bindings


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on
    # every request for a field read
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]
