"""`/v1/auth/cert/roles/*`: the roles of the TLS certificate login. The login itself,
`POST /v1/auth/cert/login`, is served over mutual TLS by the server's TLS login listener
(`--tls-login-listen`); policy paths are documented in `tessera.auth.methods.cert`."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request, Response

from tessera.api.deps import PrincipalDep
from tessera.api.schemas import NamesOut
from tessera.api.schemas_auth_cert import CertRoleIn, CertRoleOut
from tessera.auth.methods.cert import CertAuthService
from tessera.auth.methods.cert_models import CertRole, CertRoleSpec
from tessera.core.durations import parse_duration

router = APIRouter(prefix="/v1/auth/cert", tags=["auth methods"])


def cert_auth(request: Request) -> CertAuthService:
    return cast(CertAuthService, request.app.state.container.cert_auth)


CertDep = Annotated[CertAuthService, Depends(cert_auth)]


def role_out(role: CertRole) -> CertRoleOut:
    s = role.spec
    return CertRoleOut(
        name=role.name,
        allowed_cas=list(s.allowed_cas),
        trusted_ca_pems=list(s.trusted_ca_pems),
        allowed_dns_sans=list(s.allowed_dns_sans),
        allowed_uri_sans=list(s.allowed_uri_sans),
        identity=s.identity,
        policies=list(s.policies),
        token_ttl=int(s.token_ttl.total_seconds()),
        token_max_ttl=int(s.token_max_ttl.total_seconds()),
        created_at=role.created_at,
        updated_at=role.updated_at,
    )


@router.get("/roles", response_model=NamesOut, summary="List cert roles")
def list_roles(p: PrincipalDep, m: CertDep) -> NamesOut:
    return NamesOut(names=m.list_roles(p))


@router.put("/roles/{name}", response_model=CertRoleOut, summary="Create or replace a cert role")
def write_role(name: str, body: CertRoleIn, p: PrincipalDep, m: CertDep) -> CertRoleOut:
    spec = CertRoleSpec(
        allowed_cas=tuple(body.allowed_cas),
        trusted_ca_pems=tuple(body.trusted_ca_pems),
        allowed_dns_sans=tuple(body.allowed_dns_sans),
        allowed_uri_sans=tuple(body.allowed_uri_sans),
        identity=body.identity,
        policies=tuple(body.policies),
        token_ttl=parse_duration(body.token_ttl, "token_ttl"),
        token_max_ttl=parse_duration(body.token_max_ttl, "token_max_ttl"),
    )
    return role_out(m.write_role(p, name, spec))


@router.get("/roles/{name}", response_model=CertRoleOut, summary="Read a cert role")
def read_role(name: str, p: PrincipalDep, m: CertDep) -> CertRoleOut:
    return role_out(m.read_role(p, name))


@router.delete("/roles/{name}", status_code=204, response_class=Response, summary="Delete")
def delete_role(name: str, p: PrincipalDep, m: CertDep) -> Response:
    m.delete_role(p, name)
    return Response(status_code=204)
