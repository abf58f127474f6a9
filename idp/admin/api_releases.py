"""/admin/api/releases: search the attribute-release record (which claims went to which app for
which person, per day), export it as CSV."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from idp.admin import service_releases
from idp.admin.api_common import ERRORS, AdminApiRoute, AdminDep
from idp.admin.api_models import ErrorOut
from idp.http.routing import Router
from idp.services import ServicesDep


class ReleaseOut(BaseModel):
    subject: str
    client_id: str
    app: str = Field(description="the app's name (its client_id once it is deleted)")
    day: date = Field(description="UTC")
    claims: list[str] = Field(description="claim names (OIDC) or attribute names (CAS; `user` "
                                          "is the username every CAS success carries)")
    first_at: datetime
    last_at: datetime
    count: int = Field(description="answers that carried exactly these claims that day")


class ReleasePageOut(BaseModel):
    items: list[ReleaseOut]
    page: int
    size: int
    has_more: bool

    @classmethod
    def of(cls, page: service_releases.ReleasePage) -> ReleasePageOut:
        return cls(items=[ReleaseOut(subject=r.subject, client_id=r.client_id, app=r.app_name,
                                     day=r.day, claims=r.claims, first_at=r.first_at,
                                     last_at=r.last_at, count=r.count) for r in page.items],
                   page=page.page, size=page.size, has_more=page.has_more)


router = Router(audience="api", route_class=AdminApiRoute, responses=ERRORS,
                tags=["admin: releases"])

Text = Annotated[str | None, Query(max_length=200)]
Person = Annotated[str | None, Query(max_length=200, description="a username")]
Subject = Annotated[str | None, Query(max_length=200, description="a subject id (also of "
                                                                  "people no longer in the "
                                                                  "directory)")]
Since = Annotated[date | None, Query(alias="from", description="first day, YYYY-MM-DD (UTC)")]
Until = Annotated[date | None, Query(alias="to", description="last day, YYYY-MM-DD (UTC)")]
NOT_FOUND = {404: {"model": ErrorOut, "description": "no such person"}}


@router.get("/releases", response_model=ReleasePageOut, responses=NOT_FOUND)
async def search_releases(
    services: ServicesDep, admin: AdminDep, person: Person = None, subject: Subject = None,
    client_id: Text = None, since: Since = None, until: Until = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    size: Annotated[int, Query(ge=1, le=service_releases.MAX_PAGE_SIZE)] = 50,
) -> ReleasePageOut:
    """One row per person, app, claim set and day: the claim names (never values), the first
    and the last time that day, and how many answers carried them. Newest day first."""
    query = service_releases.ReleaseQuery(person=person, subject=subject, client_id=client_id,
                                          since=since, until=until)
    return ReleasePageOut.of(await service_releases.search(services, query, page, size))


@router.get("/releases.csv", response_class=StreamingResponse,
            responses={**NOT_FOUND, 200: {"content": {"text/csv": {}},
                                          "description": "the matching rows"}})
async def export_releases(
    services: ServicesDep, admin: AdminDep, person: Person = None, subject: Subject = None,
    client_id: Text = None, since: Since = None, until: Until = None,
) -> StreamingResponse:
    """The same filters, every match, as CSV (columns: day, subject, client_id, app, claims
    separated by spaces, first_at, last_at, count), streamed."""
    query = service_releases.ReleaseQuery(person=person, subject=subject, client_id=client_id,
                                          since=since, until=until)
    lines = await service_releases.export_csv(services, query)
    await services.audit.record("admin", "success", actor=admin.person.username,
                                client_id=admin.client_id, action="export_releases", via="api",
                                person=person, subject=subject, app=client_id)
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="releases.csv"'})
