"""`/v1/identities` and `/v1/inventory/credentials`: the identity registry and inventory spine."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.params import parse_optional_enum
from tessera.api.schemas import (
    CredentialOut,
    CredentialPageOut,
    DecommissionOut,
    IdentityIn,
    IdentityOut,
    IdentityPageOut,
    IdentityPatch,
    LocationOut,
)
from tessera.core.durations import parse_duration
from tessera.core.errors import InvalidRequest
from tessera.inventory.models import (
    CreateIdentityRequest,
    Credential,
    CredentialKind,
    CredentialQuery,
    CredentialSource,
    CredentialStatus,
    Identity,
    IdentityKind,
    IdentityQuery,
    IdentityStatus,
    UpdateIdentityRequest,
)

router = APIRouter(prefix="/v1", tags=["inventory"])
Str = Annotated[str | None, Query(max_length=255)]


def identity_out(i: Identity) -> IdentityOut:
    return IdentityOut(
        id=i.id,
        name=i.name,
        kind=i.kind.value,
        owner=i.owner,
        environment=i.environment,
        labels=dict(i.labels),
        spiffe_id=i.spiffe_id,
        status=i.status.value,
        created_at=i.created_at,
        updated_at=i.updated_at,
        decommissioned_at=i.decommissioned_at,
    )


def credential_out(cr: Credential) -> CredentialOut:
    return CredentialOut(
        id=cr.id,
        kind=cr.kind.value,
        fingerprint=cr.fingerprint,
        name=cr.name,
        identity_id=cr.identity_id,
        owner=cr.owner,
        source=cr.source.value,
        status=cr.status.value,
        issued_at=cr.issued_at,
        not_after=cr.not_after,
        last_used_at=cr.last_used_at,
        last_rotated_at=cr.last_rotated_at,
        attributes=dict(cr.attributes),
        locations=[
            LocationOut(
                kind=loc.kind.value,
                location=loc.location,
                first_seen_at=loc.first_seen_at,
                last_seen_at=loc.last_seen_at,
            )
            for loc in cr.locations
        ],
    )


@router.post("/identities", response_model=IdentityOut, status_code=201)
def create_identity(body: IdentityIn, p: PrincipalDep, c: ContainerDep) -> IdentityOut:
    kind = parse_optional_enum(IdentityKind, body.kind, "kind")
    assert kind is not None
    req = CreateIdentityRequest(
        name=body.name,
        owner=body.owner,
        kind=kind,
        environment=body.environment,
        labels=body.labels,
        spiffe_id=body.spiffe_id,
    )
    return identity_out(c.inventory.create_identity(p, req))


@router.get("/identities", response_model=IdentityPageOut)
def list_identities(
    p: PrincipalDep,
    c: ContainerDep,
    kind: Str = None,
    owner: Str = None,
    environment: Str = None,
    status: Str = None,
    label: Str = None,
    limit: int = 100,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> IdentityPageOut:
    label_pair = None
    if label is not None:
        key, sep, value = label.partition("=")
        if not sep:
            raise InvalidRequest("label filter must be key=value")
        label_pair = (key, value)
    query = IdentityQuery(
        kind=parse_optional_enum(IdentityKind, kind, "kind"),
        owner=owner,
        environment=environment,
        status=parse_optional_enum(IdentityStatus, status, "status"),
        label=label_pair,
        limit=limit,
        cursor=cursor,
    )
    page = c.inventory.list_identities(p, query)
    return IdentityPageOut(
        items=[identity_out(i) for i in page.items], next_cursor=page.next_cursor
    )


@router.get("/identities/{name}", response_model=IdentityOut)
def get_identity(name: str, p: PrincipalDep, c: ContainerDep) -> IdentityOut:
    return identity_out(c.inventory.get_identity(p, name))


@router.patch("/identities/{name}", response_model=IdentityOut)
def update_identity(
    name: str, body: IdentityPatch, p: PrincipalDep, c: ContainerDep
) -> IdentityOut:
    req = UpdateIdentityRequest(owner=body.owner, environment=body.environment, labels=body.labels)
    return identity_out(c.inventory.update_identity(p, name, req))


@router.post("/identities/{name}/decommission", response_model=DecommissionOut)
def decommission(name: str, p: PrincipalDep, c: ContainerDep) -> DecommissionOut:
    identity, revoked = c.inventory.decommission(p, name)
    return DecommissionOut(identity=identity_out(identity), revoked_credentials=revoked)


@router.get("/inventory/credentials", response_model=CredentialPageOut)
def list_credentials(
    p: PrincipalDep,
    c: ContainerDep,
    kind: Str = None,
    source: Str = None,
    owner: Str = None,
    identity: Str = None,
    status: Str = None,
    expiring_within: Str = None,
    limit: int = 100,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> CredentialPageOut:
    query = CredentialQuery(
        kind=parse_optional_enum(CredentialKind, kind, "kind"),
        source=parse_optional_enum(CredentialSource, source, "source"),
        owner=owner,
        identity=identity,
        status=parse_optional_enum(CredentialStatus, status, "status"),
        expiring_within=(
            parse_duration(expiring_within, "expiring_within") if expiring_within else None
        ),
        limit=limit,
        cursor=cursor,
    )
    page = c.inventory.list_credentials(p, query)
    return CredentialPageOut(
        items=[credential_out(x) for x in page.items], next_cursor=page.next_cursor
    )


@router.get("/inventory/credentials/{credential_id}", response_model=CredentialOut)
def get_credential(credential_id: str, p: PrincipalDep, c: ContainerDep) -> CredentialOut:
    return credential_out(c.inventory.get_credential(p, credential_id))
