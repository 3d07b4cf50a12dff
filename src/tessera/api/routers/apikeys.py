"""`/v1/apikeys`: create, list, show, rotate and revoke API keys, set their rotation policy,
pick up the successors of scheduled rotations, and verify keys for services. Policy paths are
documented in `tessera.apikeys.service`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.schemas_apikeys import (
    ApiKeyCreatedOut,
    ApiKeyCreateIn,
    ApiKeyOut,
    ApiKeyPageOut,
    ApiKeyPolicyIn,
    ApiKeyRotatedOut,
    ApiKeyRotateIn,
    ApiKeySuccessorIn,
    ApiKeyVerifiedOut,
    ApiKeyVerifyIn,
)
from tessera.apikeys.models import (
    ApiKey,
    ApiKeyQuery,
    CreateApiKeyRequest,
    RotateApiKeyRequest,
    RotationPolicy,
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
        rotate_every_seconds=_seconds(k.rotation.rotate_every),
        overlap_seconds=_seconds(k.rotation.overlap),
        rotate_at=k.rotate_at,
        generation=k.generation,
        awaiting_pickup=k.awaiting_pickup,
    )


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def _optional(value: str | int | None, field: str) -> timedelta | None:
    return None if value is None else parse_duration(value, field)


def _policy(rotate_every: str | int | None, overlap: str | int | None) -> RotationPolicy:
    return RotationPolicy(
        rotate_every=_optional(rotate_every, "rotate_every"), overlap=_optional(overlap, "overlap")
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
        rotation=_policy(body.rotate_every, body.overlap),
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


@router.post("/successor", response_model=ApiKeyCreatedOut, summary="Collect a scheduled successor")
def successor(body: ApiKeySuccessorIn, c: ContainerDep) -> ApiKeyCreatedOut:
    """No Tessera token: the old key proves possession. Answers the new key once."""
    created = c.apikeys.successors.by_old_key(body.key)
    return ApiKeyCreatedOut(key=created.key, info=key_out(created.info))


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


@router.patch("/{key_id}", response_model=ApiKeyOut, summary="Set a key's rotation policy")
def set_policy(key_id: str, body: ApiKeyPolicyIn, p: PrincipalDep, c: ContainerDep) -> ApiKeyOut:
    policy = _policy(body.rotate_every, body.overlap)
    return key_out(c.apikeys.set_rotation(p, key_id, policy))


@router.post(
    "/{key_id}/pickup", response_model=ApiKeyCreatedOut, summary="Pick up a sealed successor"
)
def pickup(key_id: str, p: PrincipalDep, c: ContainerDep) -> ApiKeyCreatedOut:
    """The key made by a scheduled rotation, answered once (`update` on its path)."""
    created = c.apikeys.successors.by_id(p, key_id)
    return ApiKeyCreatedOut(key=created.key, info=key_out(created.info))


@router.post("/{key_id}/revoke", response_model=ApiKeyOut, summary="Revoke a key")
def revoke(key_id: str, p: PrincipalDep, c: ContainerDep) -> ApiKeyOut:
    return key_out(c.apikeys.revoke(p, key_id))
