"""Rows ↔ PKI domain objects, and the queries the PKI services share (used only by them)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.core.clock import as_utc
from tessera.core.errors import NotFound
from tessera.pki.models import (
    CA,
    CAKind,
    CAStatus,
    Certificate,
    CertStatus,
    KeyType,
    OcspSigner,
    RevocationReason,
)
from tessera.storage.models import PkiCaRow, PkiCertificateRow


def der_to_pem(der: bytes | None) -> str | None:
    if der is None:
        return None
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()


def ca_from_row(row: PkiCaRow) -> CA:
    return CA(
        id=row.id,
        name=row.name,
        kind=CAKind(row.kind),
        status=CAStatus(row.status),
        key_type=KeyType(row.key_type),
        subject=row.subject,
        parent_id=row.parent_id,
        not_before=as_utc(row.not_before) if row.not_before else None,
        not_after=as_utc(row.not_after) if row.not_after else None,
        certificate_pem=der_to_pem(row.certificate_der),
        chain_pem=row.chain_pem,
        csr_pem=row.csr_pem,
        ocsp_signer=OcspSigner(row.ocsp_signer),
        successor_id=row.successor_id,
        created_at=as_utc(row.created_at),
    )


def cert_from_row(row: PkiCertificateRow, ca_name: str) -> Certificate:
    return Certificate(
        id=row.id,
        ca_id=row.ca_id,
        ca_name=ca_name,
        serial=row.serial,
        status=CertStatus(row.status),
        profile=row.profile,
        identity_id=row.identity_id,
        credential_id=row.credential_id,
        fingerprint=row.fingerprint,
        common_name=row.common_name,
        not_before=as_utc(row.not_before) if row.not_before else None,
        not_after=as_utc(row.not_after) if row.not_after else None,
        certificate_pem=der_to_pem(row.der),
        renewed_from=row.renewed_from,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        revocation_reason=(
            RevocationReason(row.revocation_reason) if row.revocation_reason else None
        ),
    )


def ca_by_name(session: Session, name: str, *, lock: bool = False) -> PkiCaRow:
    stmt = select(PkiCaRow).where(PkiCaRow.name == name)
    if lock:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no CA named {name!r}")
    return row


def ca_names(session: Session) -> dict[str, str]:
    """CA id → name, for rendering certificates."""
    return {row.id: row.name for row in session.execute(select(PkiCaRow.id, PkiCaRow.name))}


def valid_id(value: str) -> bool:
    """Whether `value` can be one of our ULID row ids (checked before any query)."""
    return value.isalnum() and len(value) <= 32


def format_serial(serial: int) -> str:
    return format(serial, "x")


def parse_serial(text: str) -> str:
    """Accept hex with or without colons or 0x, any case; return the stored form."""
    cleaned = text.strip().lower().replace(":", "").removeprefix("0x")
    if not cleaned or len(cleaned) > 40 or any(c not in "0123456789abcdef" for c in cleaned):
        raise NotFound("no certificate with that serial (serials are hexadecimal)")
    return format(int(cleaned, 16), "x")


def is_live(row: PkiCertificateRow) -> bool:
    return row.status == CertStatus.ISSUED.value
