"""`/v1/auth/token/*`: create, lookup, renew and revoke tokens (self, by token, by accessor)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.schemas import (
    AccessorIn,
    RenewIn,
    RenewSelfIn,
    RevokedOut,
    TokenCreatedOut,
    TokenCreateIn,
    TokenOut,
    TokenRefIn,
)
from tessera.app import Container
from tessera.auth.models import CreateTokenRequest, TokenInfo
from tessera.core.durations import parse_duration

router = APIRouter(prefix="/v1/auth/token", tags=["tokens"])


def token_out(info: TokenInfo, c: Container) -> TokenOut:
    left = 0
    if info.expires_at is not None:
        left = max(0, int((info.expires_at - c.clock.now()).total_seconds()))
    return TokenOut(
        accessor=info.accessor,
        policies=list(info.policies),
        display_name=info.display_name,
        identity_id=info.identity_id,
        meta=dict(info.meta),
        renewable=info.renewable,
        ttl=left,
        creation_ttl=info.ttl_seconds,
        created_at=info.created_at,
        expires_at=info.expires_at,
        max_expires_at=info.max_expires_at,
        parent_accessor=info.parent_accessor,
        revoked=info.revoked_at is not None,
    )


@router.post("/create", response_model=TokenCreatedOut, summary="Create a child token")
def create(body: TokenCreateIn, p: PrincipalDep, c: ContainerDep) -> TokenCreatedOut:
    req = CreateTokenRequest(
        policies=tuple(body.policies),
        ttl=parse_duration(body.ttl, "ttl") if body.ttl is not None else None,
        explicit_max_ttl=(
            parse_duration(body.explicit_max_ttl, "explicit_max_ttl")
            if body.explicit_max_ttl is not None
            else None
        ),
        display_name=body.display_name,
        renewable=body.renewable,
        identity=body.identity,
        meta=body.meta,
        no_default_policy=body.no_default_policy,
    )
    created = c.tokens.create(p, req)
    return TokenCreatedOut(token=created.token, info=token_out(created.info, c))


@router.get("/lookup-self", response_model=TokenOut)
async def lookup_self(p: PrincipalDep, c: ContainerDep) -> TokenOut:
    info = c.tokens.lookup_self_cached(p)
    if info is None:
        info = await run_in_threadpool(c.tokens.lookup_self, p)
    return token_out(info, c)


@router.post("/lookup", response_model=TokenOut)
def lookup(body: TokenRefIn, p: PrincipalDep, c: ContainerDep) -> TokenOut:
    return token_out(c.tokens.lookup(p, body.token), c)


@router.post("/lookup-accessor", response_model=TokenOut)
def lookup_accessor(body: AccessorIn, p: PrincipalDep, c: ContainerDep) -> TokenOut:
    return token_out(c.tokens.lookup_accessor(p, body.accessor), c)


@router.post("/renew-self", response_model=TokenOut)
def renew_self(body: RenewSelfIn, p: PrincipalDep, c: ContainerDep) -> TokenOut:
    return token_out(c.tokens.renew_self(p, _increment(body)), c)


@router.post("/renew", response_model=TokenOut)
def renew(body: RenewIn, p: PrincipalDep, c: ContainerDep) -> TokenOut:
    if body.token is not None:
        return token_out(c.tokens.renew(p, body.token, _increment(body)), c)
    assert body.accessor is not None
    return token_out(c.tokens.renew_accessor(p, body.accessor, _increment(body)), c)


@router.post("/revoke-self", response_model=RevokedOut)
def revoke_self(p: PrincipalDep, c: ContainerDep) -> RevokedOut:
    return RevokedOut(revoked=c.tokens.revoke_self(p))


@router.post("/revoke", response_model=RevokedOut)
def revoke(body: TokenRefIn, p: PrincipalDep, c: ContainerDep) -> RevokedOut:
    return RevokedOut(revoked=c.tokens.revoke(p, body.token))


@router.post("/revoke-accessor", response_model=RevokedOut)
def revoke_accessor(body: AccessorIn, p: PrincipalDep, c: ContainerDep) -> RevokedOut:
    return RevokedOut(revoked=c.tokens.revoke_accessor(p, body.accessor))


def _increment(body: RenewSelfIn) -> timedelta | None:
    return parse_duration(body.increment, "increment") if body.increment is not None else None
