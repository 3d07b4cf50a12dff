"""The OAuth 2 authorization server's doors.

Standard endpoints at their standard paths take `application/x-www-form-urlencoded` bodies and
client authentication (no Tessera token), and answer the JSON their RFCs define — errors as
`{"error", "error_description"}` (RFC 6749 §5.2), never problem+json — with
`Cache-Control: no-store`. Management lives under `/v1/oauth` with Tessera tokens and policy
(paths in `tessera.oauth.clients`, `.keys` and `.exchange`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.schemas_oauth import (
    BindingOut,
    ClientCreatedOut,
    ClientCreateIn,
    ClientOut,
    ClientPageOut,
    ClientRotateIn,
    ExchangeIssuerIn,
    ExchangeIssuerOut,
    KeyRotateIn,
    SigningKeyOut,
)
from tessera.app import Container
from tessera.core.context import annotate_error
from tessera.core.durations import parse_duration
from tessera.core.errors import InvalidRequest
from tessera.core.paging import MAX_PAGE
from tessera.oauth import OAuthServer, server_metadata
from tessera.oauth.errors import InvalidClient, InvalidOAuthRequest, OAuthError
from tessera.oauth.metadata import (
    INTROSPECTION_PATH,
    JWKS_PATH,
    OAUTH_METADATA_PATH,
    OPENID_METADATA_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
)
from tessera.oauth.models import (
    AuthMethod,
    CreateClientRequest,
    ExchangeBinding,
    ExchangeIssuer,
    OAuthClient,
    RotateSecretRequest,
    SigningKeyInfo,
)
from tessera.oauth.service import Form, parse_form

standard = APIRouter(tags=["oauth2"])
router = APIRouter(prefix="/v1/oauth", tags=["oauth"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM_TYPES = ("", "application/x-www-form-urlencoded", "application/json")
T = TypeVar("T")


def _oauth(c: Container) -> OAuthServer:
    server: OAuthServer = getattr(c, "oauth")  # noqa: B009 (typed once wired into Container)
    return server


def _error(exc: OAuthError) -> JSONResponse:
    annotate_error(exc.slug)
    headers = dict(NO_STORE)
    if isinstance(exc, InvalidClient) and exc.basic:
        headers["WWW-Authenticate"] = 'Basic realm="tessera", charset="UTF-8"'
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _form(request: Request, limit: int) -> Form:
    # The gate labels form bodies as JSON (it expects JSON everywhere), so both are read as a form
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _FORM_TYPES:
        raise InvalidOAuthRequest("the body must be application/x-www-form-urlencoded")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise InvalidOAuthRequest(f"the request body is larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidOAuthRequest(f"the request body is larger than {limit} bytes")
    return parse_form(body, limit)


async def _run(request: Request, call: Callable[[Form, str | None], T]) -> T | JSONResponse:
    """Parse the form and run the endpoint logic in a thread; OAuth errors become RFC JSON."""
    oauth = _oauth(request.app.state.container)
    try:
        form = await _form(request, oauth.limits.max_form_bytes)
        return await run_in_threadpool(call, form, request.headers.get("authorization"))
    except OAuthError as exc:
        return _error(exc)
    except InvalidRequest as exc:
        return _error(InvalidOAuthRequest(exc.detail))


@standard.post(TOKEN_PATH, summary="Token endpoint (RFC 6749, RFC 8693)")
async def token(request: Request) -> Response:
    """`client_credentials` or token exchange; the access token is an RFC 9068 JWT."""
    oauth = _oauth(request.app.state.container)
    result = await _run(request, oauth.endpoints.token)
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(result.body(), headers=NO_STORE)


@standard.post(INTROSPECTION_PATH, summary="Token introspection (RFC 7662)")
async def introspect(request: Request) -> Response:
    oauth = _oauth(request.app.state.container)
    result = await _run(request, oauth.endpoints.introspect)
    if isinstance(result, JSONResponse):
        return result
    return JSONResponse(result, headers=NO_STORE)


@standard.post(REVOCATION_PATH, summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    oauth = _oauth(request.app.state.container)
    result = await _run(request, oauth.endpoints.revoke)
    if isinstance(result, JSONResponse):
        return result
    return Response(status_code=200, headers=NO_STORE)


@standard.get(JWKS_PATH, summary="Access-token verification keys (JWK Set)")
def jwks(c: ContainerDep) -> JSONResponse:
    oauth = _oauth(c)
    oauth.keys.active()  # the first key is made before anyone needs to verify with it
    return JSONResponse(oauth.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})


@standard.get(OAUTH_METADATA_PATH, summary="Authorization server metadata (RFC 8414)")
def oauth_metadata(c: ContainerDep) -> JSONResponse:
    return JSONResponse(server_metadata(_oauth(c).issuer))


@standard.get(OPENID_METADATA_PATH, summary="OpenID Connect discovery document")
def openid_metadata(c: ContainerDep) -> JSONResponse:
    return JSONResponse(server_metadata(_oauth(c).issuer, openid=True))


# -- management ----------------------------------------------------------------------------
def client_out(cl: OAuthClient) -> ClientOut:
    return ClientOut(
        client_id=cl.client_id,
        name=cl.name,
        identity=cl.identity,
        identity_id=cl.identity_id,
        token_endpoint_auth_method=cl.auth_method.value,
        scopes=list(cl.scopes),
        audiences=list(cl.audiences),
        token_ttl_seconds=int(cl.token_ttl.total_seconds()),
        jwks=dict(cl.jwks) if cl.jwks is not None else None,
        status=cl.status.value,
        credential_id=cl.credential_id,
        created_at=cl.created_at,
        updated_at=cl.updated_at,
        revoked_at=cl.revoked_at,
        last_used_at=cl.last_used_at,
        previous_secret_expires_at=cl.previous_secret_expires_at,
    )


def key_out(k: SigningKeyInfo) -> SigningKeyOut:
    return SigningKeyOut(
        kid=k.kid,
        alg=k.alg,
        active=k.active,
        created_at=k.created_at,
        retired_at=k.retired_at,
        publish_until=k.publish_until,
    )


def issuer_out(i: ExchangeIssuer) -> ExchangeIssuerOut:
    return ExchangeIssuerOut(
        name=i.name,
        issuer=i.issuer,
        subject_audience=i.subject_audience,
        jwks_url=i.jwks_url,
        static_keys=[dict(k) for k in i.static_keys],
        algorithms=list(i.algorithms),
        bindings=[
            BindingOut(
                claims={k: list(v) for k, v in b.claims.items()},
                identity=b.identity,
                scopes=list(b.scopes),
                audiences=list(b.audiences),
                token_ttl_seconds=int(b.token_ttl.total_seconds()),
            )
            for b in i.bindings
        ],
        created_at=i.created_at,
        updated_at=i.updated_at,
    )


def issuer_in(body: ExchangeIssuerIn) -> ExchangeIssuer:
    return ExchangeIssuer(
        name=body.name,
        issuer=body.issuer,
        subject_audience=body.subject_audience,
        jwks_url=body.jwks_url,
        static_keys=tuple(body.static_keys),
        algorithms=tuple(body.algorithms),
        bindings=tuple(
            ExchangeBinding(
                claims={k: tuple(v) for k, v in b.claims.items()},
                identity=b.identity,
                scopes=tuple(b.scopes),
                audiences=tuple(b.audiences),
                token_ttl=parse_duration(b.token_ttl, "token_ttl"),
            )
            for b in body.bindings
        ),
    )


@router.post("/clients", response_model=ClientCreatedOut, status_code=201, summary="New client")
def create_client(body: ClientCreateIn, p: PrincipalDep, c: ContainerDep) -> ClientCreatedOut:
    req = CreateClientRequest(
        identity=body.identity,
        audiences=tuple(body.audiences),
        scopes=tuple(body.scopes),
        auth_method=AuthMethod(body.token_endpoint_auth_method),
        name=body.name,
        token_ttl=parse_duration(body.token_ttl, "token_ttl") if body.token_ttl else None,
        jwks=body.jwks,
        public_key_pem=body.public_key_pem,
    )
    created = _oauth(c).clients.create(p, req)
    return ClientCreatedOut(
        client_id=created.client.client_id,
        client_secret=created.client_secret,
        info=client_out(created.client),
    )


@router.get("/clients", response_model=ClientPageOut, summary="List clients")
def list_clients(
    p: PrincipalDep,
    c: ContainerDep,
    identity: Annotated[str | None, Query(max_length=255, description="Only its.")] = None,
    limit: Annotated[int, Query(description=f"Page size, 1-{MAX_PAGE}.")] = 100,
    cursor: Annotated[str | None, Query(max_length=256, description="From next_cursor.")] = None,
) -> ClientPageOut:
    page = _oauth(c).clients.list_clients(p, identity, limit, cursor)
    return ClientPageOut(items=[client_out(x) for x in page.items], next_cursor=page.next_cursor)


@router.get("/clients/{client_id}", response_model=ClientOut, summary="Show a client")
def show_client(client_id: str, p: PrincipalDep, c: ContainerDep) -> ClientOut:
    return client_out(_oauth(c).clients.get(p, client_id))


@router.post(
    "/clients/{client_id}/rotate-secret", response_model=ClientCreatedOut, summary="New secret"
)
def rotate_secret(
    client_id: str, p: PrincipalDep, c: ContainerDep, body: ClientRotateIn | None = None
) -> ClientCreatedOut:
    overlap = body.overlap if body is not None and body.overlap is not None else 0
    req = RotateSecretRequest(overlap=parse_duration(overlap, "overlap"))
    rotated = _oauth(c).clients.rotate_secret(p, client_id, req)
    return ClientCreatedOut(
        client_id=rotated.client.client_id,
        client_secret=rotated.client_secret,
        info=client_out(rotated.client),
    )


@router.delete("/clients/{client_id}", response_model=ClientOut, summary="Revoke a client")
def delete_client(client_id: str, p: PrincipalDep, c: ContainerDep) -> ClientOut:
    return client_out(_oauth(c).clients.revoke(p, client_id))


@router.get("/keys", response_model=list[SigningKeyOut], summary="List signing keys")
def list_keys(p: PrincipalDep, c: ContainerDep) -> list[SigningKeyOut]:
    return [key_out(k) for k in _oauth(c).keys.list_keys(p)]


@router.post("/keys/rotate", response_model=SigningKeyOut, summary="Rotate the signing key")
def rotate_key(p: PrincipalDep, c: ContainerDep, body: KeyRotateIn | None = None) -> SigningKeyOut:
    return key_out(_oauth(c).keys.rotate(p, (body or KeyRotateIn()).alg))


@router.post(
    "/exchange-issuers", response_model=ExchangeIssuerOut, status_code=201, summary="Trust one"
)
def create_issuer(body: ExchangeIssuerIn, p: PrincipalDep, c: ContainerDep) -> ExchangeIssuerOut:
    return issuer_out(_oauth(c).exchange.create_issuer(p, issuer_in(body)))


@router.get("/exchange-issuers", response_model=list[ExchangeIssuerOut], summary="List")
def list_issuers(p: PrincipalDep, c: ContainerDep) -> list[ExchangeIssuerOut]:
    return [issuer_out(i) for i in _oauth(c).exchange.list_issuers(p)]


@router.get("/exchange-issuers/{name}", response_model=ExchangeIssuerOut, summary="Show one")
def show_issuer(name: str, p: PrincipalDep, c: ContainerDep) -> ExchangeIssuerOut:
    return issuer_out(_oauth(c).exchange.get_issuer(p, name))


@router.put("/exchange-issuers/{name}", response_model=ExchangeIssuerOut, summary="Replace one")
def update_issuer(
    name: str, body: ExchangeIssuerIn, p: PrincipalDep, c: ContainerDep
) -> ExchangeIssuerOut:
    if body.name != name:
        raise InvalidRequest("the body's name must match the path")
    return issuer_out(_oauth(c).exchange.update_issuer(p, issuer_in(body)))


@router.delete("/exchange-issuers/{name}", status_code=204, summary="Stop trusting one")
def delete_issuer(name: str, p: PrincipalDep, c: ContainerDep) -> Response:
    _oauth(c).exchange.delete_issuer(p, name)
    return Response(status_code=204)


__all__ = ["router", "standard"]
