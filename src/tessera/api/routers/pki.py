"""`/v1/pki/*` (authenticated): CAs, profiles, issuance, renewal, revocation, certificates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tessera.api.deps import ContainerDep, PrincipalDep
from tessera.api.params import parse_enum, parse_optional_enum
from tessera.api.schemas import NamesOut
from tessera.api.schemas_pki import (
    CACreateIn,
    CAImportIn,
    CAListOut,
    CAOut,
    CARevokeIn,
    CARolloverIn,
    CertOut,
    CertPageOut,
    IssuedOut,
    IssueIn,
    NamesIn,
    ProfileIO,
    ProfileOut,
    RenewIn,
    RevokeIn,
    RevokeOut,
    SignIn,
    SubjectIO,
)
from tessera.app import Container
from tessera.core.durations import parse_duration
from tessera.pki import urls
from tessera.pki.models import (
    CA,
    CAKind,
    Certificate,
    CertQuery,
    CertStatus,
    CreateCARequest,
    ImportCARequest,
    IssuedCertificate,
    IssueRequest,
    KeyType,
    OcspSigner,
    RenewRequest,
    RevocationReason,
    RevokeRequest,
    SubjectFields,
)
from tessera.pki.profile import Profile

router = APIRouter(prefix="/v1/pki", tags=["pki"])
Str = Annotated[str | None, Query(max_length=255)]


def ca_out(ca: CA, c: Container) -> CAOut:
    base = c.settings.url
    return CAOut(
        id=ca.id,
        name=ca.name,
        kind=ca.kind.value,
        status=ca.status.value,
        key_type=ca.key_type.value,
        subject=ca.subject,
        parent_id=ca.parent_id,
        not_before=ca.not_before,
        not_after=ca.not_after,
        certificate_pem=ca.certificate_pem,
        chain_pem=ca.chain_pem,
        csr_pem=ca.csr_pem,
        ocsp_signer=ca.ocsp_signer.value,
        successor_id=ca.successor_id,
        created_at=ca.created_at,
        crl_url=urls.crl_url(base, ca.id),
        ocsp_url=urls.ocsp_url(base, ca.id),
        ca_url=urls.ca_cert_url(base, ca.id),
    )


def cert_out(cert: Certificate) -> CertOut:
    return CertOut(
        id=cert.id,
        ca=cert.ca_name,
        ca_id=cert.ca_id,
        serial=cert.serial,
        status=cert.status.value,
        profile=cert.profile,
        identity_id=cert.identity_id,
        credential_id=cert.credential_id,
        fingerprint=cert.fingerprint,
        common_name=cert.common_name,
        not_before=cert.not_before,
        not_after=cert.not_after,
        certificate_pem=cert.certificate_pem,
        renewed_from=cert.renewed_from,
        revoked_at=cert.revoked_at,
        revocation_reason=cert.revocation_reason.value if cert.revocation_reason else None,
    )


def issued_out(issued: IssuedCertificate) -> IssuedOut:
    return IssuedOut(
        certificate=cert_out(issued.certificate),
        certificate_pem=issued.certificate.certificate_pem or "",
        chain_pem=issued.chain_pem,
        private_key=issued.private_key_pem,
    )


def profile_out(p: Profile) -> ProfileOut:
    doc = p.to_document()
    doc["subject"] = SubjectIO(**doc["subject"])
    return ProfileOut(name=p.name, **doc)


# -- CAs ---------------------------------------------------------------------------------------
@router.post("/cas", response_model=CAOut, status_code=201, summary="Create a CA")
def create_ca(body: CACreateIn, p: PrincipalDep, c: ContainerDep) -> CAOut:
    req = CreateCARequest(
        name=body.name,
        kind=parse_enum(CAKind, body.kind, "kind"),
        common_name=body.common_name,
        key_type=parse_enum(KeyType, body.key_type, "key_type"),
        ttl=parse_duration(body.ttl, "ttl"),
        parent=body.parent,
        subject=SubjectFields(**body.subject.model_dump()),
        max_path_length=body.max_path_length,
        ocsp_signer=parse_enum(OcspSigner, body.ocsp_signer, "ocsp_signer"),
    )
    return ca_out(c.pki.cas.create(p, req), c)


@router.get("/cas", response_model=CAListOut, summary="List CAs")
def list_cas(p: PrincipalDep, c: ContainerDep) -> CAListOut:
    return CAListOut(items=[ca_out(ca, c) for ca in c.pki.cas.list(p)])


@router.get("/cas/{name}", response_model=CAOut, summary="Read a CA")
def get_ca(name: str, p: PrincipalDep, c: ContainerDep) -> CAOut:
    return ca_out(c.pki.cas.get(p, name), c)


@router.post("/cas/{name}/import", response_model=CAOut, summary="Import a signed CA cert")
def import_ca(name: str, body: CAImportIn, p: PrincipalDep, c: ContainerDep) -> CAOut:
    req = ImportCARequest(certificate_pem=body.certificate, chain_pem=body.chain)
    return ca_out(c.pki.cas.import_certificate(p, name, req), c)


@router.post("/cas/{name}/rollover", response_model=CAOut, summary="Roll issuance over")
def rollover(name: str, body: CARolloverIn, p: PrincipalDep, c: ContainerDep) -> CAOut:
    return ca_out(c.pki.cas.rollover(p, name, body.to, body.new_name), c)


@router.post("/cas/{name}/revoke", response_model=CAOut, summary="Revoke a CA")
def revoke_ca(name: str, body: CARevokeIn, p: PrincipalDep, c: ContainerDep) -> CAOut:
    reason = parse_enum(RevocationReason, body.reason, "reason")
    return ca_out(c.pki.revocation.revoke_ca(p, name, reason), c)


# -- profiles ----------------------------------------------------------------------------------
@router.put("/profiles/{name}", response_model=ProfileOut, summary="Write a profile")
def write_profile(name: str, body: ProfileIO, p: PrincipalDep, c: ContainerDep) -> ProfileOut:
    return profile_out(c.pki.profiles.write(p, name, body.document()))


@router.get("/profiles", response_model=NamesOut, summary="List profiles")
def list_profiles(p: PrincipalDep, c: ContainerDep) -> NamesOut:
    return NamesOut(names=c.pki.profiles.list(p))


@router.get("/profiles/{name}", response_model=ProfileOut, summary="Read a profile")
def read_profile(name: str, p: PrincipalDep, c: ContainerDep) -> ProfileOut:
    return profile_out(c.pki.profiles.read(p, name))


@router.delete("/profiles/{name}", status_code=204, summary="Delete a profile")
def delete_profile(name: str, p: PrincipalDep, c: ContainerDep) -> Response:
    c.pki.profiles.delete(p, name)
    return Response(status_code=204)


# -- issuance ----------------------------------------------------------------------------------
def _request(profile: str, body: NamesIn, csr: str | None, key_type: str | None) -> IssueRequest:
    return IssueRequest(
        profile=profile,
        common_name=body.common_name,
        dns_names=tuple(body.alt_names),
        ip_addresses=tuple(body.ip_sans),
        uris=tuple(body.uri_sans),
        emails=tuple(body.email_sans),
        ttl=parse_duration(body.ttl, "ttl") if body.ttl is not None else None,
        key_type=parse_optional_enum(KeyType, key_type, "key_type"),
        identity=body.identity,
        csr_pem=csr,
    )


# async: issuance waits on the group commit without holding a thread of the pool
@router.post("/issue/{profile}", response_model=IssuedOut, summary="Issue with a server key")
async def issue(profile: str, body: IssueIn, p: PrincipalDep, c: ContainerDep) -> IssuedOut:
    req = _request(profile, body, None, body.key_type)
    return issued_out(await c.pki.issuance.issue_async(p, req))


@router.post("/sign/{profile}", response_model=IssuedOut, summary="Sign a CSR")
async def sign(profile: str, body: SignIn, p: PrincipalDep, c: ContainerDep) -> IssuedOut:
    req = _request(profile, body, body.csr, None)
    return issued_out(await c.pki.issuance.issue_async(p, req))


@router.post("/certs/{cert_id}/renew", response_model=IssuedOut, summary="Renew a certificate")
def renew(cert_id: str, body: RenewIn, p: PrincipalDep, c: ContainerDep) -> IssuedOut:
    req = RenewRequest(
        cert_id=cert_id,
        ttl=parse_duration(body.ttl, "ttl") if body.ttl is not None else None,
        csr_pem=body.csr,
    )
    return issued_out(c.pki.issuance.renew(p, req))


@router.post("/revoke", response_model=RevokeOut, summary="Revoke certificates")
def revoke(body: RevokeIn, p: PrincipalDep, c: ContainerDep) -> RevokeOut:
    req = RevokeRequest(
        reason=parse_enum(RevocationReason, body.reason, "reason"),
        ca=body.ca,
        serial=body.serial,
        cert_id=body.cert_id,
        identity=body.identity,
    )
    count, certs = c.pki.revocation.revoke(p, req)
    return RevokeOut(revoked=count, certificates=[cert_out(x) for x in certs])


@router.get("/certs", response_model=CertPageOut, summary="List certificates")
def list_certs(
    p: PrincipalDep,
    c: ContainerDep,
    ca: Str = None,
    status: Str = None,
    identity: Str = None,
    expiring_within: Str = None,
    limit: int = 100,
    cursor: Annotated[str | None, Query(max_length=256)] = None,
) -> CertPageOut:
    query = CertQuery(
        ca=ca,
        status=parse_optional_enum(CertStatus, status, "status"),
        identity=identity,
        expiring_within=(
            parse_duration(expiring_within, "expiring_within") if expiring_within else None
        ),
        limit=limit,
        cursor=cursor,
    )
    page = c.pki.issuance.list(p, query)
    return CertPageOut(items=[cert_out(x) for x in page.items], next_cursor=page.next_cursor)


@router.get("/certs/{cert_id}", response_model=CertOut, summary="Read a certificate")
def get_cert(cert_id: str, p: PrincipalDep, c: ContainerDep) -> CertOut:
    return cert_out(c.pki.issuance.get(p, cert_id))
