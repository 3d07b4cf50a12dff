"""Row ↔ domain conversions of the cert roles, and the trust material read from the PKI
tables (Tessera CA certificates) that logins and the TLS listener share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.methods.cert_models import CertRole, CertRoleSpec
from tessera.core.clock import as_utc
from tessera.storage.models import PkiCaRow
from tessera.storage.models_auth import CertRoleRow


def apply_spec(row: CertRoleRow, spec: CertRoleSpec, now: datetime) -> None:
    row.allowed_cas = list(spec.allowed_cas)
    row.trusted_ca_pems = list(spec.trusted_ca_pems)
    row.allowed_dns_sans = list(spec.allowed_dns_sans)
    row.allowed_uri_sans = list(spec.allowed_uri_sans)
    row.identity = spec.identity
    row.policies = list(spec.policies)
    row.token_ttl_seconds = int(spec.token_ttl.total_seconds())
    row.token_max_ttl_seconds = int(spec.token_max_ttl.total_seconds())
    row.updated_at = now


def role_from_row(row: CertRoleRow) -> CertRole:
    spec = CertRoleSpec(
        allowed_cas=tuple(row.allowed_cas),
        trusted_ca_pems=tuple(row.trusted_ca_pems),
        allowed_dns_sans=tuple(row.allowed_dns_sans),
        allowed_uri_sans=tuple(row.allowed_uri_sans),
        identity=row.identity,
        policies=tuple(row.policies),
        token_ttl=timedelta(seconds=row.token_ttl_seconds),
        token_max_ttl=timedelta(seconds=row.token_max_ttl_seconds),
    )
    return CertRole(row.name, spec, as_utc(row.created_at), as_utc(row.updated_at))


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex (as `pki_cas.cert_fingerprint`)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class TesseraCA:
    """A Tessera CA as a trust anchor: its name, status and certificate."""

    id: str
    name: str
    status: str
    certificate: x509.Certificate


def tessera_cas(s: Session) -> list[TesseraCA]:
    """Every Tessera CA that has a certificate (pending CAs have none yet)."""
    rows = s.execute(
        select(PkiCaRow.id, PkiCaRow.name, PkiCaRow.status, PkiCaRow.certificate_der).where(
            PkiCaRow.certificate_der.is_not(None)
        )
    ).all()
    return [
        TesseraCA(r.id, r.name, r.status, x509.load_der_x509_certificate(r.certificate_der))
        for r in rows
    ]


def trust_digest(s: Session) -> str:
    """A digest of everything the listener's client-CA bundle is built from: CA ids, statuses
    and fingerprints, and each role's name and last update. Cheap to compute per connection."""
    h = hashlib.sha256()
    cas = s.execute(
        select(PkiCaRow.id, PkiCaRow.status, PkiCaRow.cert_fingerprint).order_by(PkiCaRow.id)
    ).all()
    for ca in cas:
        h.update(f"ca:{ca.id}:{ca.status}:{ca.cert_fingerprint}\n".encode())
    roles = s.execute(
        select(CertRoleRow.name, CertRoleRow.updated_at).order_by(CertRoleRow.name)
    ).all()
    for role in roles:
        h.update(f"role:{role.name}:{as_utc(role.updated_at).isoformat()}\n".encode())
    return h.hexdigest()


def trust_bundle_pem(s: Session) -> str:
    """The PEMs of every Tessera CA and every role's extra CA: the listener's client-CA bundle.
    Roles narrow this down at login; the bundle only decides what the handshake lets in."""
    pems = [
        ca.certificate.public_bytes(serialization.Encoding.PEM).decode() for ca in tessera_cas(s)
    ]
    for extra in s.execute(select(CertRoleRow.trusted_ca_pems)).scalars():
        pems.extend(extra)
    return "".join(dict.fromkeys(p if p.endswith("\n") else p + "\n" for p in pems))


__all__ = [
    "TesseraCA",
    "apply_spec",
    "fingerprint",
    "role_from_row",
    "tessera_cas",
    "trust_bundle_pem",
    "trust_digest",
]
