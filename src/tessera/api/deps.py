"""FastAPI dependencies: the container and the authenticated Principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tessera.app import Container
from tessera.auth.models import Principal
from tessera.core.errors import Unauthenticated

TOKEN_HEADER = "x-tessera-token"


async def container(request: Request) -> Container:
    c: Container = request.app.state.container
    return c


def presented_token(request: Request) -> str | None:
    """The token from `X-Tessera-Token` or `Authorization: Bearer` (exact, never trimmed)."""
    token = request.headers.get(TOKEN_HEADER)
    if token is not None:
        return token
    auth = request.headers.get("authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value
        raise Unauthenticated("use 'Authorization: Bearer <token>' or X-Tessera-Token")
    return None


async def principal(request: Request) -> Principal:
    """Runs on the event loop: a cache hit costs microseconds; a miss does one short read."""
    token = presented_token(request)
    if token is None:
        raise Unauthenticated("a token is required")
    c: Container = request.app.state.container
    return c.tokens.authenticate(token)


ContainerDep = Annotated[Container, Depends(container)]
PrincipalDep = Annotated[Principal, Depends(principal)]
