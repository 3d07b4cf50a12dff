"""`/v1/auth/approle/*` and `/v1/auth/jwt/*`: machine logins and the roles behind them.
Policy paths are documented in `tessera.auth.methods.approle` and `tessera.auth.methods.jwt`.
Logins need no token; a throttled login answers 429 `rate-limited` with Retry-After."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.errors import problem_response
from tessera.api.routers.tokens import token_out
from tessera.api.schemas import NamesOut
from tessera.api.schemas_auth import (
    AppRoleIn,
    AppRoleLoginIn,
    AppRoleOut,
    JwtIssuerIn,
    JwtIssuerOut,
    JwtLoginIn,
    JwtRoleIn,
    JwtRoleOut,
    LoginOut,
    RoleIdOut,
    SecretIdCreatedOut,
    SecretIdIn,
    SecretIdInfoOut,
    SecretIdListOut,
)
from tessera.auth.methods import AuthMethods
from tessera.auth.methods.models import (
    AppRole,
    AppRoleLogin,
    AppRoleSpec,
    JwtIssuer,
    JwtIssuerSpec,
    JwtLogin,
    JwtRole,
    JwtRoleSpec,
    SecretIdInfo,
    SecretIdRequest,
)
from tessera.auth.models import CreatedToken
from tessera.core.durations import parse_duration
from tessera.core.errors import RateLimited

router = APIRouter(prefix="/v1/auth", tags=["auth methods"])


def auth_methods(request: Request) -> AuthMethods:
    return cast(AuthMethods, request.app.state.container.auth_methods)


MethodsDep = Annotated[AuthMethods, Depends(auth_methods)]


def _source(request: Request) -> str:
    return request.client.host if request.client else ""


def _login(c: ContainerDep, attempt: Callable[[], CreatedToken]) -> LoginOut | JSONResponse:
    try:
        created = attempt()
    except RateLimited as exc:
        wait = str(exc.extra.get("retry_after", 1))
        return problem_response(exc, headers={"Retry-After": wait})
    return LoginOut(token=created.token, info=token_out(created.info, c))


# -- AppRole ------------------------------------------------------------------------------------
def approle_out(role: AppRole) -> AppRoleOut:
    s = role.spec
    return AppRoleOut(
        name=role.name,
        identity=s.identity,
        policies=list(s.policies),
        token_ttl=int(s.token_ttl.total_seconds()),
        token_max_ttl=int(s.token_max_ttl.total_seconds()),
        secret_id_ttl=int(s.secret_id_ttl.total_seconds()),
        secret_id_num_uses=s.secret_id_num_uses,
        secret_id_bound_cidrs=list(s.secret_id_bound_cidrs),
        token_bound_cidrs=list(s.token_bound_cidrs),
        bind_secret_id=s.bind_secret_id,
        created_at=role.created_at,
        updated_at=role.updated_at,
    )


def secret_info_out(info: SecretIdInfo) -> SecretIdInfoOut:
    return SecretIdInfoOut(
        accessor=info.accessor,
        role=info.role,
        cidrs=list(info.cidrs),
        meta=dict(info.meta),
        uses_left=info.uses_left,
        created_at=info.created_at,
        expires_at=info.expires_at,
    )


@router.post(
    "/approle/login",
    response_model=LoginOut,
    summary="Log in with a role id and secret id",
    responses={401: {"description": "Login refused"}, 429: {"description": "Rate limited"}},
)
def approle_login(
    body: AppRoleLoginIn, request: Request, m: MethodsDep, c: ContainerDep
) -> LoginOut | JSONResponse:
    req = AppRoleLogin(body.role_id, body.secret_id, _source(request))
    return _login(c, lambda: m.approle.login(req))


@router.get("/approle/roles", response_model=NamesOut)
def approle_list(p: PrincipalDep, m: MethodsDep) -> NamesOut:
    return NamesOut(names=m.approle.list_roles(p))


@router.put("/approle/roles/{name}", response_model=AppRoleOut, summary="Create or replace")
def approle_write(name: str, body: AppRoleIn, p: PrincipalDep, m: MethodsDep) -> AppRoleOut:
    spec = AppRoleSpec(
        identity=body.identity,
        policies=tuple(body.policies),
        token_ttl=parse_duration(body.token_ttl, "token_ttl"),
        token_max_ttl=parse_duration(body.token_max_ttl, "token_max_ttl"),
        secret_id_ttl=parse_duration(body.secret_id_ttl, "secret_id_ttl"),
        secret_id_num_uses=body.secret_id_num_uses,
        secret_id_bound_cidrs=tuple(body.secret_id_bound_cidrs),
        token_bound_cidrs=tuple(body.token_bound_cidrs),
        bind_secret_id=body.bind_secret_id,
    )
    return approle_out(m.approle.write_role(p, name, spec))


@router.get("/approle/roles/{name}", response_model=AppRoleOut)
def approle_read(name: str, p: PrincipalDep, m: MethodsDep) -> AppRoleOut:
    return approle_out(m.approle.read_role(p, name))


@router.delete("/approle/roles/{name}", status_code=204, response_class=Response)
def approle_delete(name: str, p: PrincipalDep, m: MethodsDep) -> Response:
    m.approle.delete_role(p, name)
    return Response(status_code=204)


@router.get("/approle/roles/{name}/role-id", response_model=RoleIdOut)
def approle_role_id(name: str, p: PrincipalDep, m: MethodsDep) -> RoleIdOut:
    return RoleIdOut(role_id=m.approle.role_id(p, name))


@router.post("/approle/roles/{name}/secret-id", response_model=SecretIdCreatedOut)
def approle_secret_id(
    name: str, body: SecretIdIn, p: PrincipalDep, m: MethodsDep
) -> SecretIdCreatedOut:
    created = m.approle.create_secret_id(
        p, name, SecretIdRequest(cidrs=tuple(body.cidrs), meta=body.meta)
    )
    return SecretIdCreatedOut(secret_id=created.secret_id, info=secret_info_out(created.info))


@router.get("/approle/roles/{name}/secret-id", response_model=SecretIdListOut)
def approle_secret_ids(name: str, p: PrincipalDep, m: MethodsDep) -> SecretIdListOut:
    return SecretIdListOut(
        secret_ids=[secret_info_out(i) for i in m.approle.list_secret_ids(p, name)]
    )


@router.get("/approle/roles/{name}/secret-id-accessors/{accessor}", response_model=SecretIdInfoOut)
def approle_accessor_lookup(
    name: str, accessor: str, p: PrincipalDep, m: MethodsDep
) -> SecretIdInfoOut:
    return secret_info_out(m.approle.lookup_secret_id(p, name, accessor))


@router.delete(
    "/approle/roles/{name}/secret-id-accessors/{accessor}",
    status_code=204,
    response_class=Response,
)
def approle_accessor_destroy(name: str, accessor: str, p: PrincipalDep, m: MethodsDep) -> Response:
    m.approle.destroy_secret_id(p, name, accessor)
    return Response(status_code=204)


# -- JWT / OIDC ---------------------------------------------------------------------------------
def issuer_out(issuer: JwtIssuer) -> JwtIssuerOut:
    s = issuer.spec
    return JwtIssuerOut(
        name=issuer.name,
        issuer=s.issuer,
        jwks_url=s.jwks_url,
        static_keys=[dict(k) for k in s.static_keys],
        algorithms=list(s.algorithms),
        leeway=int(s.leeway.total_seconds()),
        created_at=issuer.created_at,
        updated_at=issuer.updated_at,
    )


def jwt_role_out(role: JwtRole) -> JwtRoleOut:
    s = role.spec
    claims: dict[str, Any] = {
        k: list(v) if isinstance(v, tuple) else v for k, v in s.bound_claims.items()
    }
    return JwtRoleOut(
        name=role.name,
        issuer=s.issuer,
        bound_audiences=list(s.bound_audiences),
        bound_claims=claims,
        user_claim=s.user_claim,
        expected_typ=s.expected_typ,
        identity=s.identity,
        policies=list(s.policies),
        token_ttl=int(s.token_ttl.total_seconds()),
        token_max_ttl=int(s.token_max_ttl.total_seconds()),
        created_at=role.created_at,
        updated_at=role.updated_at,
    )


@router.post(
    "/jwt/login",
    response_model=LoginOut,
    summary="Log in with a JWT from a trusted issuer",
    responses={401: {"description": "Token not accepted"}, 429: {"description": "Rate limited"}},
)
def jwt_login(
    body: JwtLoginIn, request: Request, m: MethodsDep, c: ContainerDep
) -> LoginOut | JSONResponse:
    req = JwtLogin(body.role, body.jwt, _source(request))
    return _login(c, lambda: m.jwt.login(req))


@router.get("/jwt/issuers", response_model=NamesOut)
def jwt_issuer_list(p: PrincipalDep, m: MethodsDep) -> NamesOut:
    return NamesOut(names=m.jwt.list_issuers(p))


@router.put("/jwt/issuers/{name}", response_model=JwtIssuerOut, summary="Create or replace")
def jwt_issuer_write(name: str, body: JwtIssuerIn, p: PrincipalDep, m: MethodsDep) -> JwtIssuerOut:
    spec = JwtIssuerSpec(
        issuer=body.issuer,
        jwks_url=body.jwks_url,
        static_keys=tuple(body.static_keys),
        algorithms=tuple(body.algorithms),
        leeway=parse_duration(body.leeway, "leeway"),
    )
    return issuer_out(m.jwt.write_issuer(p, name, spec))


@router.get("/jwt/issuers/{name}", response_model=JwtIssuerOut)
def jwt_issuer_read(name: str, p: PrincipalDep, m: MethodsDep) -> JwtIssuerOut:
    return issuer_out(m.jwt.read_issuer(p, name))


@router.delete("/jwt/issuers/{name}", status_code=204, response_class=Response)
def jwt_issuer_delete(name: str, p: PrincipalDep, m: MethodsDep) -> Response:
    m.jwt.delete_issuer(p, name)
    return Response(status_code=204)


@router.get("/jwt/roles", response_model=NamesOut)
def jwt_role_list(p: PrincipalDep, m: MethodsDep) -> NamesOut:
    return NamesOut(names=m.jwt.list_roles(p))


@router.put("/jwt/roles/{name}", response_model=JwtRoleOut, summary="Create or replace")
def jwt_role_write(name: str, body: JwtRoleIn, p: PrincipalDep, m: MethodsDep) -> JwtRoleOut:
    spec = JwtRoleSpec(
        issuer=body.issuer,
        bound_audiences=tuple(body.bound_audiences),
        bound_claims={
            k: tuple(v) if isinstance(v, list) else v for k, v in body.bound_claims.items()
        },
        user_claim=body.user_claim,
        expected_typ=body.expected_typ,
        identity=body.identity,
        policies=tuple(body.policies),
        token_ttl=parse_duration(body.token_ttl, "token_ttl"),
        token_max_ttl=parse_duration(body.token_max_ttl, "token_max_ttl"),
    )
    return jwt_role_out(m.jwt.write_role(p, name, spec))


@router.get("/jwt/roles/{name}", response_model=JwtRoleOut)
def jwt_role_read(name: str, p: PrincipalDep, m: MethodsDep) -> JwtRoleOut:
    return jwt_role_out(m.jwt.read_role(p, name))


@router.delete("/jwt/roles/{name}", status_code=204, response_class=Response)
def jwt_role_delete(name: str, p: PrincipalDep, m: MethodsDep) -> Response:
    m.jwt.delete_role(p, name)
    return Response(status_code=204)
