"""`/v1/ssh/*`: SSH CAs, roles and signing; `/v1/ssh/public/{name}` serves a CA's public key."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.params import parse_enum
from tessera.api.schemas import NamesOut
from tessera.api.schemas_ssh import (
    SshCaIn,
    SshCaListOut,
    SshCaOut,
    SshRevokedOut,
    SshRevokeIn,
    SshRoleIO,
    SshRoleOut,
    SshSignedOut,
    SshSignIn,
)
from tessera.core.durations import parse_duration
from tessera.ssh import CertType, SignRequest, SshCa, SshCaKeyType

router = APIRouter(prefix="/v1/ssh", tags=["ssh"])


def ca_out(ca: SshCa) -> SshCaOut:
    return SshCaOut(
        id=ca.id,
        name=ca.name,
        cert_type=ca.cert_type.value,
        key_type=ca.key_type.value,
        public_key=ca.public_key,
        known_hosts=f"@cert-authority * {ca.public_key}",
        status=ca.status,
        created_at=ca.created_at,
        previous_public_keys=list(ca.previous_public_keys),
    )


@router.post("/cas", response_model=SshCaOut, status_code=201, summary="Create an SSH CA")
def create_ca(body: SshCaIn, p: PrincipalDep, c: ContainerDep) -> SshCaOut:
    cert_type = parse_enum(CertType, body.cert_type, "cert_type")
    key_type = parse_enum(SshCaKeyType, body.key_type, "key_type")
    return ca_out(c.ssh.create_ca(p, body.name, cert_type, key_type))


@router.get("/cas", response_model=SshCaListOut, summary="List SSH CAs")
def list_cas(p: PrincipalDep, c: ContainerDep) -> SshCaListOut:
    return SshCaListOut(items=[ca_out(x) for x in c.ssh.list_cas(p)])


@router.post("/cas/{name}/rotate", response_model=SshCaOut, summary="Rotate an SSH CA key")
def rotate(name: str, p: PrincipalDep, c: ContainerDep) -> SshCaOut:
    c.ssh_revocations.rotate(p, name)
    return ca_out(c.ssh.public_ca(name))


@router.get("/public/{name}", summary="An SSH CA's trusted public keys (no token)")
def public_key(name: str, c: ContainerDep) -> Response:
    ca = c.ssh.public_ca(name)
    lines = [ca.public_key, *ca.previous_public_keys]
    return Response("".join(line + "\n" for line in lines), media_type="text/plain")


@router.get("/public/{name}/krl", summary="An SSH CA's KRL for RevokedKeys (no token)")
def ca_krl(name: str, c: ContainerDep) -> Response:
    return Response(c.ssh_revocations.krl(name), media_type="application/octet-stream")


@router.get("/krl", summary="One KRL for every SSH CA (no token)")
def all_krl(c: ContainerDep) -> Response:
    return Response(c.ssh_revocations.krl(None), media_type="application/octet-stream")


@router.post("/revoke", response_model=SshRevokedOut, summary="Revoke SSH certificates")
def revoke(body: SshRevokeIn, p: PrincipalDep, c: ContainerDep) -> SshRevokedOut:
    n = c.ssh_revocations.revoke(
        p, body.ca, serial=body.serial, key_id=body.key_id, public_key=body.public_key
    )
    return SshRevokedOut(revoked=n)


@router.put("/roles/{name}", response_model=SshRoleOut, summary="Write an SSH role")
def write_role(name: str, body: SshRoleIO, p: PrincipalDep, c: ContainerDep) -> SshRoleOut:
    role = c.ssh.write_role(p, name, body.model_dump(exclude_none=True))
    return SshRoleOut(name=role.name, **role.to_document())


@router.get("/roles", response_model=NamesOut, summary="List SSH roles")
def list_roles(p: PrincipalDep, c: ContainerDep) -> NamesOut:
    return NamesOut(names=c.ssh.list_roles(p))


@router.get("/roles/{name}", response_model=SshRoleOut, summary="Read an SSH role")
def read_role(name: str, p: PrincipalDep, c: ContainerDep) -> SshRoleOut:
    role = c.ssh.read_role(p, name)
    return SshRoleOut(name=role.name, **role.to_document())


@router.post("/sign/{role}", response_model=SshSignedOut, summary="Sign an SSH key")
def sign(role: str, body: SshSignIn, p: PrincipalDep, c: ContainerDep) -> SshSignedOut:
    req = SignRequest(
        role=role,
        principals=tuple(body.principals),
        public_key=body.public_key,
        key_type=body.key_type,
        ttl=parse_duration(body.ttl, "ttl") if body.ttl is not None else None,
        critical_options=body.critical_options,
        extensions=tuple(body.extensions) if body.extensions is not None else None,
        identity=body.identity,
    )
    out = c.ssh.sign(p, req)
    return SshSignedOut(
        id=out.id,
        ca=out.ca,
        serial=out.serial,
        key_id=out.key_id,
        cert_type=out.cert_type.value,
        principals=list(out.principals),
        valid_after=out.valid_after,
        valid_before=out.valid_before,
        certificate=out.certificate,
        private_key=out.private_key,
        credential_id=out.credential_id,
    )
