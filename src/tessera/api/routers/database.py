"""`/v1/database/*`: connections, dynamic and static roles, credentials; `/v1/leases/*`."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.schemas import NamesOut
from tessera.api.schemas_secrets import (
    CountOut,
    DbConnectionIn,
    DbConnectionOut,
    DbCredsIn,
    DbCredsOut,
    DbRoleIn,
    DbRoleOut,
    DbStaticRoleIn,
    LeaseIdIn,
    LeaseListOut,
    LeaseOut,
    LeasePrefixIn,
    LeaseRenewIn,
    StaticCredsOut,
)
from tessera.core.clock import Clock
from tessera.core.durations import parse_duration
from tessera.secrets.db_models import ConnectionInfo, RoleInfo
from tessera.secrets.leases import Lease

router = APIRouter(prefix="/v1/database", tags=["database"])
leases = APIRouter(prefix="/v1/leases", tags=["leases"])


def connection_out(i: ConnectionInfo) -> DbConnectionOut:
    return DbConnectionOut(
        name=i.name, plugin=i.plugin, host=i.host, port=i.port, database=i.database,
        username=i.username, allowed_roles=list(i.allowed_roles),
        root_rotated_at=i.root_rotated_at, created_at=i.created_at, updated_at=i.updated_at,
    )  # fmt: skip


def role_out(r: RoleInfo) -> DbRoleOut:
    return DbRoleOut(
        name=r.name, kind=r.kind, document=dict(r.document), last_rotated_at=r.last_rotated_at,
        next_rotation_at=r.next_rotation_at, created_at=r.created_at, updated_at=r.updated_at,
    )  # fmt: skip


def lease_out(lease: Lease, clock: Clock) -> LeaseOut:
    left = int((lease.expires_at - clock.now()).total_seconds())
    return LeaseOut(
        lease_id=lease.id, engine=lease.engine, role=lease.role, connection=lease.connection,
        username=lease.username, state=lease.state.value, renewable=lease.renewable,
        issued_at=lease.issued_at, expires_at=lease.expires_at,
        max_expires_at=lease.max_expires_at, ttl=max(left, 0), revoked_at=lease.revoked_at,
        attempts=lease.attempts, last_error=lease.last_error,
    )  # fmt: skip


# -- connections ---------------------------------------------------------------------------------
@router.put("/config/{name}", response_model=DbConnectionOut, summary="Write a connection")
def write_connection(
    name: str, body: DbConnectionIn, p: PrincipalDep, c: ContainerDep
) -> DbConnectionOut:
    return connection_out(c.database.write_connection(p, name, body.document()))


@router.get("/config", response_model=NamesOut, summary="List connections")
def list_connections(p: PrincipalDep, c: ContainerDep) -> NamesOut:
    return NamesOut(names=c.database.list_connections(p))


@router.get("/config/{name}", response_model=DbConnectionOut, summary="Read a connection")
def read_connection(name: str, p: PrincipalDep, c: ContainerDep) -> DbConnectionOut:
    return connection_out(c.database.read_connection(p, name))


@router.delete("/config/{name}", status_code=204, summary="Delete an unused connection")
def delete_connection(name: str, p: PrincipalDep, c: ContainerDep) -> Response:
    c.database.delete_connection(p, name)
    return Response(status_code=204)


@router.post(
    "/rotate-root/{name}", response_model=DbConnectionOut, summary="Rotate the root password"
)
def rotate_root(name: str, p: PrincipalDep, c: ContainerDep) -> DbConnectionOut:
    return connection_out(c.database.rotate_root(p, name))


# -- dynamic roles -------------------------------------------------------------------------------
@router.put("/roles/{name}", response_model=DbRoleOut, summary="Write a dynamic role")
def write_role(name: str, body: DbRoleIn, p: PrincipalDep, c: ContainerDep) -> DbRoleOut:
    return role_out(c.database.write_role(p, name, body.document()))


@router.get("/roles", response_model=NamesOut, summary="List dynamic roles")
def list_roles(p: PrincipalDep, c: ContainerDep) -> NamesOut:
    return NamesOut(names=c.database.list_roles(p))


@router.get("/roles/{name}", response_model=DbRoleOut, summary="Read a dynamic role")
def read_role(name: str, p: PrincipalDep, c: ContainerDep) -> DbRoleOut:
    return role_out(c.database.read_role(p, name))


@router.delete("/roles/{name}", status_code=204, summary="Delete a dynamic role")
def delete_role(name: str, p: PrincipalDep, c: ContainerDep) -> Response:
    c.database.delete_role(p, name)
    return Response(status_code=204)


@router.post("/creds/{role}", response_model=DbCredsOut, summary="New database credentials")
def creds(role: str, body: DbCredsIn, p: PrincipalDep, c: ContainerDep) -> DbCredsOut:
    ttl = None if body.ttl is None else parse_duration(body.ttl, "ttl")
    made = c.database.creds(p, role, ttl)
    return DbCredsOut(
        username=made.username, password=made.password, lease=lease_out(made.lease, c.clock)
    )


@router.get("/creds/{role}", response_model=DbCredsOut, summary="New database credentials")
def creds_get(role: str, p: PrincipalDep, c: ContainerDep) -> DbCredsOut:
    return creds(role, DbCredsIn(), p, c)


# -- static roles --------------------------------------------------------------------------------
@router.put("/static-roles/{name}", response_model=DbRoleOut, summary="Write a static role")
def write_static(name: str, body: DbStaticRoleIn, p: PrincipalDep, c: ContainerDep) -> DbRoleOut:
    return role_out(c.database.write_static_role(p, name, body.document()))


@router.get("/static-roles", response_model=NamesOut, summary="List static roles")
def list_static(p: PrincipalDep, c: ContainerDep) -> NamesOut:
    return NamesOut(names=c.database.list_roles(p, "static"))


@router.get("/static-roles/{name}", response_model=DbRoleOut, summary="Read a static role")
def read_static(name: str, p: PrincipalDep, c: ContainerDep) -> DbRoleOut:
    return role_out(c.database.read_role(p, name, "static"))


@router.delete("/static-roles/{name}", status_code=204, summary="Delete a static role")
def delete_static(name: str, p: PrincipalDep, c: ContainerDep) -> Response:
    c.database.delete_role(p, name, "static")
    return Response(status_code=204)


@router.get("/static-creds/{name}", response_model=StaticCredsOut, summary="Static role login")
def static_creds(name: str, p: PrincipalDep, c: ContainerDep) -> StaticCredsOut:
    s = c.database.static_creds(p, name)
    return StaticCredsOut(
        username=s.username, password=s.password, last_rotated_at=s.last_rotated_at,
        next_rotation_at=s.next_rotation_at,
    )  # fmt: skip


@router.post("/rotate-role/{name}", response_model=DbRoleOut, summary="Rotate a static role")
def rotate_role(name: str, p: PrincipalDep, c: ContainerDep) -> DbRoleOut:
    return role_out(c.database.rotate_role(p, name))


# -- leases --------------------------------------------------------------------------------------
@leases.get("", response_model=LeaseListOut, summary="List leases under a prefix")
def list_leases(
    p: PrincipalDep,
    c: ContainerDep,
    prefix: str = Query("", max_length=255),
    all_states: bool = Query(False, description="Include revoked leases."),
    limit: int = Query(100),
    cursor: str | None = Query(None, max_length=255, description="Last lease id seen."),
) -> LeaseListOut:
    items = c.leases.list(p, prefix, live_only=not all_states, limit=limit, after=cursor)
    return LeaseListOut(
        items=[lease_out(x, c.clock) for x in items],
        next_cursor=items[-1].id if len(items) == limit else None,
    )


@leases.post("/lookup", response_model=LeaseOut, summary="Look up a lease")
def lookup(body: LeaseIdIn, p: PrincipalDep, c: ContainerDep) -> LeaseOut:
    return lease_out(c.leases.get(p, body.lease_id), c.clock)


@leases.post("/renew", response_model=LeaseOut, summary="Renew a lease")
def renew(body: LeaseRenewIn, p: PrincipalDep, c: ContainerDep) -> LeaseOut:
    inc = None if body.increment is None else parse_duration(body.increment, "increment")
    return lease_out(c.leases.renew(p, body.lease_id, inc), c.clock)


@leases.post("/revoke", response_model=LeaseOut, summary="Revoke a lease now")
def revoke(body: LeaseIdIn, p: PrincipalDep, c: ContainerDep) -> LeaseOut:
    return lease_out(c.leases.revoke(p, body.lease_id), c.clock)


@leases.post("/revoke-prefix", response_model=CountOut, summary="Revoke every lease under a prefix")
def revoke_prefix(body: LeasePrefixIn, p: PrincipalDep, c: ContainerDep) -> CountOut:
    return CountOut(count=c.leases.revoke_prefix(p, body.prefix))
