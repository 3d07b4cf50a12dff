"""`/v1/sys/*`: health, seal status, init, unseal, seal, keyring rotation, policies."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tessera import __version__
from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.schemas import (
    HealthOut,
    InitIn,
    InitOut,
    NamesOut,
    PolicyIn,
    PolicyOut,
    PolicyRuleIO,
    RotateOut,
    SealStatusOut,
    UnsealIn,
)
from tessera.barrier.models import SealStatus
from tessera.core.errors import InvalidRequest
from tessera.policy.models import Policy

router = APIRouter(prefix="/v1/sys", tags=["sys"])


def _status(s: SealStatus) -> SealStatusOut:
    return SealStatusOut(
        type=s.seal_type,
        initialized=s.initialized,
        sealed=s.sealed,
        t=s.threshold,
        n=s.shares,
        progress=s.progress,
        keyring_version=s.keyring_version,
        version=__version__,
    )


@router.get(
    "/health",
    response_model=HealthOut,
    summary="Liveness and readiness",
    responses={
        503: {"description": "Sealed or database down"},
        501: {"description": "Not initialized"},
    },
)
def health(c: ContainerDep) -> JSONResponse:
    s = c.barrier.status()
    body = HealthOut(
        initialized=s.initialized,
        sealed=s.sealed,
        database=c.db.ping(),
        audit=c.auditor.available(),
        version=__version__,
        server_time=c.clock.now(),
    )
    code = 200
    if not s.initialized:
        code = 501
    elif s.sealed or not body.database:
        code = 503
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


@router.get("/seal-status", response_model=SealStatusOut)
def seal_status(c: ContainerDep) -> SealStatusOut:
    return _status(c.operator.status())


@router.post("/init", response_model=InitOut, summary="Initialize: create and split the root key")
def init(body: InitIn, c: ContainerDep) -> InitOut:
    result = c.operator.initialize(body.secret_shares, body.secret_threshold)
    return InitOut(
        keys=list(result.shares), secret_threshold=result.threshold, root_token=result.root_token
    )


@router.post("/unseal", response_model=SealStatusOut, summary="Submit one unseal share")
def unseal(body: UnsealIn, c: ContainerDep) -> SealStatusOut:
    if body.key is None and not body.reset:
        raise InvalidRequest("give a share in 'key', or 'reset': true")
    return _status(c.operator.unseal(body.key, body.reset))


@router.post("/seal", response_model=SealStatusOut, summary="Seal: drop keys from memory")
def seal(p: PrincipalDep, c: ContainerDep) -> SealStatusOut:
    return _status(c.operator.seal(p))


@router.post("/rotate", response_model=RotateOut, summary="Add a keyring version")
def rotate(p: PrincipalDep, c: ContainerDep) -> RotateOut:
    return RotateOut(keyring_version=c.operator.rotate(p))


def _policy_out(policy: Policy) -> PolicyOut:
    doc = policy.to_document()
    return PolicyOut(
        name=policy.name,
        description=doc["description"],
        rules=[PolicyRuleIO(**r) for r in doc["rules"]],
    )


@router.get("/policies", response_model=NamesOut)
def list_policies(p: PrincipalDep, c: ContainerDep) -> NamesOut:
    return NamesOut(names=c.policies.list(p))


@router.get("/policies/{name}", response_model=PolicyOut)
def read_policy(name: str, p: PrincipalDep, c: ContainerDep) -> PolicyOut:
    return _policy_out(c.policies.read(p, name))


@router.put("/policies/{name}", response_model=PolicyOut)
def write_policy(name: str, body: PolicyIn, p: PrincipalDep, c: ContainerDep) -> PolicyOut:
    return _policy_out(c.policies.write(p, name, body.model_dump()))


@router.delete("/policies/{name}", status_code=204)
def delete_policy(name: str, p: PrincipalDep, c: ContainerDep) -> None:
    c.policies.delete(p, name)
