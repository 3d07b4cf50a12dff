"""FastAPI dependencies: the container and the authenticated Principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from tessera.app import Container
from tessera.auth.models import Principal
from tessera.core.errors import Unauthenticated

TOKEN_HEADER = "x-tessera-token"


async def container(request: Request) -> Container:
    c: Container = request.app.state.container
    return c


def presented_token(headers: Headers) -> str | None:
    """The token from `X-Tessera-Token` or `Authorization: Bearer` (exact, never trimmed).
    The one extractor: authentication and the audit trail must agree on which token it was."""
    token = headers.get(TOKEN_HEADER)
    if token is not None:
        return token
    auth = headers.get("authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value
        raise Unauthenticated("use 'Authorization: Bearer <token>' or X-Tessera-Token")
    return None


async def principal(request: Request) -> Principal:
    """A cache hit is answered on the event loop; a miss reads the database in a thread."""
    token = presented_token(request.headers)
    if token is None:
        raise Unauthenticated("a token is required")
    c: Container = request.app.state.container
    cached = c.tokens.authenticate_cached(token)
    if cached is not None:
        return cached
    return await run_in_threadpool(c.tokens.authenticate, token)


ContainerDep = Annotated[Container, Depends(container)]
PrincipalDep = Annotated[Principal, Depends(principal)]
