"""`/v1/apikeys`: create, list, show, rotate and revoke API keys, and verify them for services.
Policy paths are documented in `tessera.apikeys.service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.schemas_apikeys import (
    ApiKeyCreatedOut,
    ApiKeyCreateIn,
    ApiKeyOut,
    ApiKeyPageOut,
    ApiKeyRotatedOut,
    ApiKeyRotateIn,
    ApiKeyVerifiedOut,
    ApiKeyVerifyIn,
)
from tessera.apikeys.models import (
    ApiKey,
    ApiKeyQuery,
    CreateApiKeyRequest,
    RotateApiKeyRequest,
    VerifiedKey,
)
from tessera.core.durations import parse_duration
from tessera.core.paging import MAX_PAGE

router = APIRouter(prefix="/v1/apikeys", tags=["apikeys"])


def key_out(k: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=k.id,
        name=k.name,
        identity=k.identity,
        identity_id=k.identity_id,
        scopes=list(k.scopes),
        status=k.status.value,
        created_at=k.created_at,
        expires_at=k.expires_at,
        revoked_at=k.revoked_at,
        last_used_at=k.last_used_at,
        replaces=k.replaces,
        replaced_by=k.replaced_by,
        credential_id=k.credential_id,
    )


def verified_out(v: VerifiedKey) -> ApiKeyVerifiedOut:
    return ApiKeyVerifiedOut(
        key_id=v.key_id,
        identity=v.identity,
        identity_id=v.identity_id,
        scopes=list(v.scopes),
        expires_at=v.expires_at,
    )


@router.post("", response_model=ApiKeyCreatedOut, status_code=201, summary="Create a key")
def create(body: ApiKeyCreateIn, p: PrincipalDep, c: ContainerDep) -> ApiKeyCreatedOut:
    req = CreateApiKeyRequest(
        identity=body.identity,
        scopes=tuple(body.scopes),
        ttl=parse_duration(body.ttl, "ttl") if body.ttl is not None else None,
        name=body.name,
    )
    created = c.apikeys.create(p, req)
    return ApiKeyCreatedOut(key=created.key, info=key_out(created.info))


@router.get("", response_model=ApiKeyPageOut, summary="List keys")
def list_keys(
    p: PrincipalDep,
    c: ContainerDep,
    identity: Annotated[
        str | None, Query(max_length=255, description="Only this identity's.")
    ] = None,
    limit: Annotated[int, Query(description=f"Page size, 1-{MAX_PAGE}.")] = 100,
    cursor: Annotated[str | None, Query(max_length=256, description="From next_cursor.")] = None,
) -> ApiKeyPageOut:
    page = c.apikeys.list_keys(p, ApiKeyQuery(identity=identity, limit=limit, cursor=cursor))
    return ApiKeyPageOut(items=[key_out(k) for k in page.items], next_cursor=page.next_cursor)


@router.post("/verify", response_model=ApiKeyVerifiedOut, summary="Verify a presented key")
async def verify(body: ApiKeyVerifyIn, p: PrincipalDep, c: ContainerDep) -> ApiKeyVerifiedOut:
    """A cache hit is answered on the event loop; a miss reads the database in a thread."""
    verified = c.apikeys.verify_cached(p, body.key)
    if verified is None:
        verified = await run_in_threadpool(c.apikeys.verify_key, body.key)
    return verified_out(verified)


@router.get("/{key_id}", response_model=ApiKeyOut, summary="Show a key")
def show(key_id: str, p: PrincipalDep, c: ContainerDep) -> ApiKeyOut:
    return key_out(c.apikeys.get(p, key_id))


@router.post("/{key_id}/rotate", response_model=ApiKeyRotatedOut, summary="Rotate a key")
def rotate(
    key_id: str, p: PrincipalDep, c: ContainerDep, body: ApiKeyRotateIn | None = None
) -> ApiKeyRotatedOut:
    body = body or ApiKeyRotateIn()
    req = RotateApiKeyRequest(
        overlap=parse_duration(body.overlap, "overlap") if body.overlap is not None else None,
        ttl=parse_duration(body.ttl, "ttl") if body.ttl is not None else None,
    )
    rotated = c.apikeys.rotate(p, key_id, req)
    return ApiKeyRotatedOut(
        key=rotated.created.key,
        info=key_out(rotated.created.info),
        previous=key_out(rotated.previous),
    )


@router.post("/{key_id}/revoke", response_model=ApiKeyOut, summary="Revoke a key")
def revoke(key_id: str, p: PrincipalDep, c: ContainerDep) -> ApiKeyOut:
    return key_out(c.apikeys.revoke(p, key_id))
