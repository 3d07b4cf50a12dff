"""PKI domain objects: key types, CAs, certificates and revocation reasons (RFC 5280 names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes


class KeyType(StrEnum):
    """Key algorithms a CA or a certificate may use."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    ED25519 = "ed25519"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"


class CAKind(StrEnum):
    """A self-signed root or an intermediate (signed by a Tessera CA or an external one)."""

    ROOT = "root"
    INTERMEDIATE = "intermediate"


class CAStatus(StrEnum):
    """`pending`: waiting for an external signature; `retired`: rolled over, still answers
    CRL/OCSP for what it issued; `revoked`: issues nothing, everything it issued is revoked."""

    PENDING = "pending"
    ACTIVE = "active"
    RETIRED = "retired"
    REVOKED = "revoked"


class OcspSigner(StrEnum):
    """Who signs OCSP responses: the CA key, or a delegated responder certificate."""

    CA = "ca"
    DELEGATED = "delegated"


class CertStatus(StrEnum):
    """`pending`: intent recorded, serial reserved, not yet delivered; `abandoned`: an intent
    whose signing never completed (crash), so no certificate with that serial exists."""

    PENDING = "pending"
    ISSUED = "issued"
    REVOKED = "revoked"
    ABANDONED = "abandoned"


class RevocationReason(StrEnum):
    """RFC 5280 §5.3.1 CRLReason values (certificateHold and removeFromCRL are not offered:
    revocation here is final)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"

    def flag(self) -> x509.ReasonFlags:
        return _REASON_FLAGS[self]

    @classmethod
    def encoded(cls, stored: str | None) -> x509.ReasonFlags | None:
        """The reasonCode to put in a CRL entry or OCSP answer for a stored reason: none for
        `unspecified` (RFC 5280 §5.3.1: it SHOULD be absent) or when no reason was given."""
        if not stored or stored == cls.UNSPECIFIED.value:
            return None
        return cls(stored).flag()


_REASON_FLAGS = {
    RevocationReason.UNSPECIFIED: x509.ReasonFlags.unspecified,
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.CA_COMPROMISE: x509.ReasonFlags.ca_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.PRIVILEGE_WITHDRAWN: x509.ReasonFlags.privilege_withdrawn,
}


@dataclass(frozen=True)
class SubjectFields:
    """Distinguished-name attributes besides the common name; empty strings are omitted."""

    organization: str = ""
    organizational_unit: str = ""
    country: str = ""
    locality: str = ""
    state: str = ""


@dataclass(frozen=True)
class CreateCARequest:
    """A new CA. `parent` names a Tessera CA to sign an intermediate; an intermediate without
    a parent is `external`: its CSR is returned and its certificate imported later."""

    name: str
    kind: CAKind
    common_name: str
    key_type: KeyType = KeyType.EC_P256
    ttl: timedelta = timedelta(days=3650)
    parent: str | None = None
    subject: SubjectFields = field(default_factory=SubjectFields)
    max_path_length: int | None = None
    ocsp_signer: OcspSigner = OcspSigner.DELEGATED


@dataclass(frozen=True)
class ImportCARequest:
    """The externally signed certificate of a pending intermediate, with its issuer chain."""

    certificate_pem: str
    chain_pem: str = ""


@dataclass(frozen=True)
class CA:
    """A certificate authority as the API shows it."""

    id: str
    name: str
    kind: CAKind
    status: CAStatus
    key_type: KeyType
    subject: str
    parent_id: str | None
    not_before: datetime | None
    not_after: datetime | None
    certificate_pem: str | None
    chain_pem: str
    csr_pem: str | None
    ocsp_signer: OcspSigner
    successor_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class IssueRequest:
    """Certificate request with a server-generated key (`csr_pem` None) or from a CSR."""

    profile: str
    common_name: str | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    ttl: timedelta | None = None
    key_type: KeyType | None = None
    identity: str | None = None
    csr_pem: str | None = None
    # re-certification: the public key of the certificate renewed (never from callers)
    public_key: PublicKeyTypes | None = None


@dataclass(frozen=True)
class RenewRequest:
    """Renew the certificate `cert_id`: same profile, names and identity; a new server key,
    or the key of `csr_pem`."""

    cert_id: str
    ttl: timedelta | None = None
    csr_pem: str | None = None


@dataclass(frozen=True)
class Certificate:
    """An issued (or revoked) certificate; never its private key."""

    id: str
    ca_id: str
    ca_name: str
    serial: str
    status: CertStatus
    profile: str | None
    identity_id: str | None
    credential_id: str | None
    fingerprint: str | None
    common_name: str
    not_before: datetime | None
    not_after: datetime | None
    certificate_pem: str | None
    renewed_from: str | None
    revoked_at: datetime | None
    revocation_reason: RevocationReason | None


@dataclass(frozen=True)
class IssuedCertificate:
    """What issuance returns: the certificate, its chain and, for a server-generated key, the
    private key in PKCS#8 PEM (returned this once, never stored)."""

    certificate: Certificate
    chain_pem: str
    private_key_pem: str | None


@dataclass(frozen=True)
class RevokeRequest:
    """Exactly one of: a CA and serial, a certificate id, or an identity (all its certs)."""

    reason: RevocationReason = RevocationReason.UNSPECIFIED
    ca: str | None = None
    serial: str | None = None
    cert_id: str | None = None
    identity: str | None = None


@dataclass(frozen=True)
class CertQuery:
    """Filters for listing certificates; `expiring_within` counts from now."""

    ca: str | None = None
    status: CertStatus | None = None
    identity: str | None = None
    expiring_within: timedelta | None = None
    limit: int = 100
    cursor: str | None = None
