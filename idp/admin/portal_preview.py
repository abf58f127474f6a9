"""The developer portal's claims preview: what an app would receive, shown to its developer.

It shows real people's data, so three rules hold (issue 15 item 4):
- only the scopes the app is approved for: what it asks for and an admin has accepted
  (registration_store.approved_scopes); a pending scope shows nothing until it is approved, and
  the page names the scopes held back;
- only for the developer themself, or for a test person an admin designated: a member of the
  directory group IDP_ACCESS_PREVIEW_GROUP (default "idp-test-people"; empty: the developer
  only). A group, because admins already manage people and groups in the directory and the
  console, and an admin can see who is in it; anyone else (existing or not) gets the same
  refusal, so the preview tells nothing about who has an account;
- every preview is audited (kind "developer", action "claims_preview"), shown or refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from directory.base import Person
from idp.db.models import Client
from idp.protocols.oidc import registration_store as store
from idp.protocols.oidc.claims import person_claims
from idp.services import Services

MAX_USERNAME = 256


@dataclass(frozen=True)
class PreviewScopes:
    shown: list[str]  # asked for and approved: what the preview (and a token today) carries
    withheld: list[str] = field(default_factory=list)  # asked for, not approved yet


@dataclass(frozen=True)
class Preview:
    username: str
    allowed: bool  # the developer themself or a designated test person
    json: str | None = None


def preview_scopes(client: Client) -> PreviewScopes:
    approved = store.approved_scopes(client)
    asked = list(client.scopes or [])
    return PreviewScopes([s for s in asked if s in approved],
                         [s for s in asked if s not in approved])


def may_preview(services: Services, developer_subject: str, person: Person) -> bool:
    if person.disabled:
        return False
    if person.subject == developer_subject:
        return True
    group = services.settings.access.preview_group
    return bool(group) and group in person.groups


async def preview_claims(services: Services, developer_subject: str, client: Client,
                         typed: str) -> Preview:
    """The preview for `typed` (a username; empty: the developer themself). A directory outage
    raises, and the one error policy answers it (idp/server/errors.py)."""
    username = typed.strip()[:MAX_USERNAME]
    person = await services.directory.find(username) if username else (
        await services.directory.by_subject(developer_subject))
    if person is None or not may_preview(services, developer_subject, person):
        return Preview(username, allowed=False)
    claims = person_claims(person, preview_scopes(client).shown)
    return Preview(person.username, allowed=True,
                   json=json.dumps(claims, ensure_ascii=False, indent=2))
