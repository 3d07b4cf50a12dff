"""PKI request and response bodies; field descriptions become the OpenAPI documentation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from tessera.api.schemas import DURATION_DOC, TIME_DOC, Duration, Strict
from tessera.core.durations import parse_duration
from tessera.core.errors import InvalidRequest
from tessera.core.text import check_text

KEY_TYPES_DOC = "One of ec-p256, ec-p384, ed25519, rsa-2048, rsa-3072, rsa-4096."
REASONS_DOC = (
    "RFC 5280 reason: unspecified, key_compromise, ca_compromise, affiliation_changed, "
    "superseded, cessation_of_operation, privilege_withdrawn."
)
PEM_MAX = 64 * 1024


class SubjectIO(Strict):
    """Distinguished-name attributes besides the common name."""

    organization: str = Field("", max_length=64, description="O")
    organizational_unit: str = Field("", max_length=64, description="OU")
    country: str = Field("", pattern="^([A-Za-z]{2})?$", description="C: two-letter ISO 3166 code.")
    locality: str = Field("", max_length=64, description="L")
    state: str = Field("", max_length=64, description="ST")

    @field_validator("*")
    @classmethod
    def _printable(cls, value: str) -> str:
        try:
            return check_text(value, "value", 64, allow_empty=True)
        except InvalidRequest as exc:
            raise ValueError(exc.detail) from None


class CACreateIn(Strict):
    """A new CA: a root, an intermediate under a Tessera CA (`parent`), or an intermediate
    for an external root (no `parent`: the answer carries its CSR, import the signed
    certificate later)."""

    name: str = Field(max_length=128, description="Unique CA name (a-z, 0-9, '_', '.', '-').")
    kind: str = Field(description="'root' or 'intermediate'.")
    common_name: str = Field(max_length=64, description="Subject common name of the CA.")
    key_type: str = Field("ec-p256", description="CA key type. " + KEY_TYPES_DOC)
    ttl: Duration = Field("3650d", description="Validity (positive). " + DURATION_DOC)
    parent: str | None = Field(None, max_length=128, description="Tessera CA that signs it.")
    subject: SubjectIO = Field(default_factory=SubjectIO, description="Other DN attributes.")
    max_path_length: int | None = Field(
        None, ge=0, le=8, description="basicConstraints pathLenConstraint (default: none for "
        "a root, one less than the parent's for an intermediate)."
    )  # fmt: skip
    ocsp_signer: str = Field(
        "delegated", description="Who signs OCSP: 'delegated' (a responder certificate with "
        "id-kp-OCSPSigning and ocsp-nocheck) or 'ca' (the CA key)."
    )  # fmt: skip

    @field_validator("ttl")
    @classmethod
    def _positive(cls, value: str | int) -> str | int:
        # a CA valid for no time at all would be born expired
        try:
            positive = parse_duration(value, "ttl") > timedelta(0)
        except InvalidRequest as exc:
            raise ValueError(exc.detail) from None
        if not positive:
            raise ValueError("a CA's ttl must be positive")
        return value


class CAOut(BaseModel):
    """A certificate authority."""

    id: str = Field(description="Stable id; used in the public CRL, OCSP and CA URLs.")
    name: str = Field(description="Unique name.")
    kind: str = Field(description="'root' or 'intermediate'.")
    status: str = Field(description="pending (awaiting import), active, retired or revoked.")
    key_type: str = Field(description="CA key type.")
    subject: str = Field(description="Subject DN (RFC 4514).")
    parent_id: str | None = Field(description="Id of the Tessera CA that signed it.")
    not_before: datetime | None = Field(description="Validity start. " + TIME_DOC)
    not_after: datetime | None = Field(description="Validity end. " + TIME_DOC)
    certificate_pem: str | None = Field(description="The CA certificate (null while pending).")
    chain_pem: str = Field(description="Issuers above this CA, nearest first.")
    csr_pem: str | None = Field(description="CSR to have signed externally (pending only).")
    ocsp_signer: str = Field(description="'delegated' or 'ca'.")
    successor_id: str | None = Field(description="CA that took over issuance (rollover).")
    created_at: datetime = Field(description="Creation time. " + TIME_DOC)
    crl_url: str = Field(description="Public CRL (DER).")
    ocsp_url: str = Field(description="Public OCSP responder.")
    ca_url: str = Field(description="Public CA certificate (DER), the caIssuers URL.")


class CAListOut(BaseModel):
    """Every CA."""

    items: list[CAOut] = Field(description="CAs ordered by name.")


class CAImportIn(Strict):
    """The externally signed certificate of a pending intermediate."""

    certificate: str = Field(max_length=PEM_MAX, description="The CA certificate (PEM).")
    chain: str = Field(max_length=PEM_MAX, description="Its issuer first, then any above it (PEM).")


class CARolloverIn(Strict):
    """Move issuance to a successor: an existing active CA, or a new one made like the old."""

    to: str | None = Field(None, max_length=128, description="Existing active CA to take over.")
    new_name: str | None = Field(None, max_length=128, description="Name for a new CA.")

    @model_validator(mode="after")
    def _one(self) -> CARolloverIn:
        if (self.to is None) == (self.new_name is None):
            raise ValueError("give exactly one of 'to' or 'new_name'")
        return self


class CARevokeIn(Strict):
    """Revoke a CA and everything it issued."""

    reason: str = Field("cessation_of_operation", description=REASONS_DOC)


class ProfileIO(Strict):
    """What callers of `pki/issue/<profile>` and `pki/sign/<profile>` may get. Nothing is
    allowed unless listed here."""

    issuer: str = Field(max_length=128, description="Name of the CA that signs.")
    description: str = Field("", max_length=1024, description="Free text.")
    allowed_domains: list[str] = Field(
        default_factory=list, max_length=200, description="DNS names: 'host.example.com' "
        "(exact), '*.example.com' (any name below), 'web-*.example.com' (glob in one label)."
    )  # fmt: skip
    allow_wildcard_certificates: bool = Field(
        False, description="Allow names like '*.example.com' (needs a '*.' domain pattern)."
    )
    allow_ip_sans: bool = Field(False, description="Allow IP address SANs.")
    allowed_ip_ranges: list[str] = Field(
        default_factory=list, max_length=200, description="CIDRs IP SANs must fall in "
        "(empty: any, when IP SANs are allowed)."
    )  # fmt: skip
    allowed_uri_sans: list[str] = Field(
        default_factory=list, max_length=200, description="URI globs, e.g. "
        "'spiffe://example.org/ns/*/sa/*' ('*' within a path segment, '**' across)."
    )  # fmt: skip
    allowed_email_sans: list[str] = Field(
        default_factory=list, max_length=200, description="Email globs, e.g. '*@example.com'."
    )
    allowed_key_types: list[str] = Field(
        default_factory=lambda: [
            "ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096"
        ], description="Key types accepted. " + KEY_TYPES_DOC,
    )  # fmt: skip
    default_key_type: str | None = Field(
        None, description="Key type of server-generated keys (default: the first allowed)."
    )
    ttl: Duration = Field("30d", description="Default validity. " + DURATION_DOC)
    max_ttl: Duration = Field("90d", description="Longest validity. " + DURATION_DOC)
    usage: str = Field(
        "server", description="'server', 'client', 'server_and_client' or 'code_signing'."
    )
    subject: SubjectIO = Field(default_factory=SubjectIO, description="DN attributes added.")
    auto_renew: bool = Field(
        False, description="The scheduler re-certifies the same public key at `renew_at`."
    )
    renew_at: float = Field(
        2 / 3, gt=0, lt=1, description="Fraction of a certificate's lifetime when it is renewed."
    )

    def document(self) -> dict[str, Any]:
        doc = self.model_dump(exclude_none=True)
        doc["subject"] = {k: v for k, v in doc["subject"].items() if v}
        return doc


class ProfileOut(ProfileIO):
    """A stored profile (durations in seconds)."""

    name: str = Field(description="Profile name.")


class NamesIn(Strict):
    """Names for a certificate; each must be allowed by the profile."""

    common_name: str | None = Field(None, max_length=64, description="Subject CN.")
    alt_names: list[str] = Field(default_factory=list, max_length=100, description="DNS SANs.")
    ip_sans: list[str] = Field(default_factory=list, max_length=100, description="IP SANs.")
    uri_sans: list[str] = Field(default_factory=list, max_length=100, description="URI SANs.")
    email_sans: list[str] = Field(default_factory=list, max_length=100, description="Emails.")
    ttl: Duration | None = Field(
        None, description="Validity (default: the profile's). " + DURATION_DOC
    )
    identity: str | None = Field(None, max_length=255, description="Identity it belongs to.")


class IssueIn(NamesIn):
    """Issue with a key generated by the server (returned once, never stored)."""

    key_type: str | None = Field(None, description="Key type. " + KEY_TYPES_DOC)


class SignIn(NamesIn):
    """Sign a CSR. Names default to the CSR's; every other requested extension is dropped."""

    csr: str = Field(max_length=PEM_MAX, description="PKCS#10 CSR (PEM).")


class RenewIn(Strict):
    """Renew: same profile, names and identity; a new server key unless a CSR is given."""

    ttl: Duration | None = Field(None, description="Validity. " + DURATION_DOC)
    csr: str | None = Field(None, max_length=PEM_MAX, description="CSR with the new key.")


class CertOut(BaseModel):
    """A certificate Tessera issued (never its private key)."""

    id: str = Field(description="Certificate id.")
    ca: str = Field(description="Issuing CA name.")
    ca_id: str = Field(description="Issuing CA id.")
    serial: str = Field(description="Serial number, lower-case hex.")
    status: str = Field(description="pending, issued, revoked or abandoned.")
    profile: str | None = Field(description="Profile it was issued under.")
    identity_id: str | None = Field(description="Identity it belongs to.")
    credential_id: str | None = Field(description="Its inventory credential id.")
    fingerprint: str | None = Field(description="SHA-256 of the DER certificate (hex).")
    common_name: str = Field(description="Subject CN ('' if none).")
    not_before: datetime | None = Field(description=TIME_DOC)
    not_after: datetime | None = Field(description=TIME_DOC)
    certificate_pem: str | None = Field(description="The certificate (PEM).")
    renewed_from: str | None = Field(description="Id of the certificate this one renewed.")
    revoked_at: datetime | None = Field(description=TIME_DOC)
    revocation_reason: str | None = Field(description=REASONS_DOC)


class IssuedOut(BaseModel):
    """A new certificate; `private_key` appears only here and only for server keys."""

    certificate: CertOut = Field(description="The certificate.")
    certificate_pem: str = Field(description="The certificate (PEM).")
    chain_pem: str = Field(description="Issuing CA first, then its issuers (PEM).")
    private_key: str | None = Field(description="PKCS#8 PEM; shown once, never stored.")


class CertPageOut(BaseModel):
    """One page of certificates."""

    items: list[CertOut] = Field(description="Certificates, oldest first.")
    next_cursor: str | None = Field(description="Cursor for the next page; null at the end.")


class RevokeIn(Strict):
    """Exactly one of: `ca` + `serial`, `cert_id`, or `identity` (all its certificates)."""

    ca: str | None = Field(None, max_length=128, description="CA name (with serial).")
    serial: str | None = Field(None, max_length=64, description="Serial in hex.")
    cert_id: str | None = Field(None, max_length=32, description="Certificate id.")
    identity: str | None = Field(None, max_length=255, description="Identity name.")
    reason: str = Field("unspecified", description=REASONS_DOC)

    @model_validator(mode="after")
    def _one(self) -> RevokeIn:
        by_serial = self.serial is not None or self.ca is not None
        if by_serial and (self.serial is None or self.ca is None):
            raise ValueError("'ca' and 'serial' go together")
        if sum([by_serial, self.cert_id is not None, self.identity is not None]) != 1:
            raise ValueError("give exactly one of: ca and serial, cert_id, or identity")
        return self


class RevokeOut(BaseModel):
    """What a revocation did; repeating it revokes nothing more."""

    revoked: int = Field(description="Certificates revoked by this call.")
    certificates: list[CertOut] = Field(description="The certificates named (first 1,000).")
