"""FastAPI dependencies: the one way routes reach the backends opened in the lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from idp.app import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
