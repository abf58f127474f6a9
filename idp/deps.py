"""FastAPI dependencies: the one way routes reach the backends opened in the lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from idp.app import Services


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop on
    # every request for a field read
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]
