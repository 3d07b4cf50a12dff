"""The write order for anything a CA signs: reserve the serial in an intent row (committed),
sign, then record the certificate and its inventory credential. A crash in between leaves a
`pending` row that `repair_intents` turns into `abandoned`: no certificate without its row."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import SignatureAlgorithmOID
from sqlalchemy.orm import Session

from tessera.core.clock import Clock
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    LocationKind,
    RecordCredential,
)
from tessera.inventory.service import InventoryService
from tessera.pki import keys
from tessera.pki.models import CertStatus
from tessera.pki.repository import format_serial
from tessera.storage.models import PkiCertificateRow

SIGNATURE_NAMES = {
    getattr(SignatureAlgorithmOID, n): n.lower().replace("_", "-")
    for n in dir(SignatureAlgorithmOID)
    if not n.startswith("_")
}
BACKDATE = timedelta(seconds=60)  # tolerate clients whose clocks run slightly behind
SERIAL_BYTES = 16  # 127 random bits after clearing the top bit: positive, 16 octets of DER


def new_serial(rng: Randomness) -> int:
    """A positive serial with 127 bits from the CSPRNG (RFC 5280: ≤ 20 octets; CA/B: ≥ 64)."""
    while True:
        raw = bytearray(rng.token_bytes(SERIAL_BYTES))
        raw[0] &= 0x7F
        value = int.from_bytes(raw, "big")
        if value >= 1 << 64:
            return value


@dataclass(frozen=True)
class Intent:
    """A reserved serial: the row exists (committed) before anything is signed."""

    row_id: str
    ca_id: str
    serial: int


def add_intent(
    session: Session,
    clock: Clock,
    rng: Randomness,
    ca_id: str,
    common_name: str,
    profile: str | None,
    identity_id: str | None,
    renewed_from: str | None = None,
) -> Intent:
    serial = new_serial(rng)
    row = PkiCertificateRow(
        id=new_ulid(clock, rng),
        ca_id=ca_id,
        serial=format_serial(serial),
        status=CertStatus.PENDING.value,
        profile=profile,
        identity_id=identity_id,
        credential_id=None,
        fingerprint=None,
        common_name=common_name[:1024],
        not_before=None,
        not_after=None,
        der=None,
        renewed_from=renewed_from,
        revoked_at=None,
        revocation_reason=None,
        created_at=clock.now(),
    )
    session.add(row)
    return Intent(row.id, ca_id, serial)


def credential_for(
    cert: x509.Certificate,
    der: bytes,
    sans: list[str],
    *,
    ca_id: str,
    serial: str,
    common_name: str,
    profile: str | None,
    identity_id: str | None,
    owner: str | None,
    issuer_subject: str,
    renewed_from: str | None,
    is_ca: bool = False,
) -> RecordCredential:
    """The inventory row of a certificate Tessera signed (`der` its encoding, `sans` its
    subject alternative names as text: passed in, as parsing them back costs more than
    signing)."""
    algorithm, size = keys.describe(cert.public_key())
    oid = cert.signature_algorithm_oid
    return RecordCredential(
        kind=CredentialKind.X509_CERTIFICATE,
        fingerprint=hashlib.sha256(der).hexdigest(),
        name=common_name or (sans[0] if sans else serial),
        source=CredentialSource.MANAGED,
        identity_id=identity_id,
        owner=owner,
        issued_at=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        attributes={
            "serial": serial,
            "subject": cert.subject.rfc4514_string(),
            "issuer": issuer_subject,
            "sans": sans,
            "key_type": algorithm,
            "key_bits": size,
            "signature_algorithm": SIGNATURE_NAMES.get(oid, oid.dotted_string),
            "profile": profile,
            "ca_id": ca_id,
            "is_ca": is_ca,
            "renewed_from": renewed_from,
        },
        location=(LocationKind.ISSUED, f"tessera:pki/{ca_id}/{serial}"),
    )


def complete(
    session: Session,
    inventory: InventoryService,
    intent: Intent,
    cert: x509.Certificate,
    issuer_subject: str,
    owner: str | None,
) -> PkiCertificateRow:
    """Record the signed certificate on its intent row and as an inventory credential."""
    row = session.get(PkiCertificateRow, intent.row_id)
    assert row is not None and row.status == CertStatus.PENDING.value
    der = cert.public_bytes(serialization.Encoding.DER)
    rec = credential_for(
        cert,
        der,
        _san_strings(cert),
        ca_id=row.ca_id,
        serial=row.serial,
        common_name=row.common_name,
        profile=row.profile,
        identity_id=row.identity_id,
        owner=owner,
        issuer_subject=issuer_subject,
        renewed_from=row.renewed_from,
        is_ca=_is_ca(cert),
    )
    row.credential_id = inventory.record(session, rec)
    row.status = CertStatus.ISSUED.value
    row.fingerprint = rec.fingerprint
    row.der = der
    row.not_before = cert.not_valid_before_utc
    row.not_after = cert.not_valid_after_utc
    return row


def abandon(session: Session, intent: Intent) -> None:
    """Signing failed before anything left the process: the serial is never used."""
    row = session.get(PkiCertificateRow, intent.row_id)
    if row is not None and row.status == CertStatus.PENDING.value:
        row.status = CertStatus.ABANDONED.value


def _san_strings(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(getattr(n, "value", n)) for n in ext]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def not_after_clamped(wanted: datetime, ca_not_after: datetime | None) -> datetime:
    return min(wanted, ca_not_after) if ca_not_after is not None else wanted
