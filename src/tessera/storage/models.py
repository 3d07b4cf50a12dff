"""Tables. Secret material only ever lands in `LargeBinary` columns written through the barrier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base; its metadata names constraints and indexes deterministically."""

    metadata = MetaData(naming_convention=NAMING)


UTCDateTime = DateTime(timezone=True)


class SealConfigRow(Base):
    """How the root key is protected: Shamir shares (`shamir`) and their counts. One row."""

    __tablename__ = "seal_config"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_type: Mapped[str] = mapped_column(String(32))
    secret_shares: Mapped[int] = mapped_column(Integer)
    secret_threshold: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # set once the root token exists; an init that crashed before that is repaired by a new init
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KeyringRow(Base):
    """The data-key keyring, AES-256-GCM-encrypted under the root key. One row."""

    __tablename__ = "keyring"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    active_version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SystemSecretRow(Base):
    """Named internal secrets (token HMAC key, audit key), stored through the barrier."""

    __tablename__ = "system_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PolicyRow(Base):
    """A user-written policy as its JSON document; built-in policies are not stored."""

    __tablename__ = "policies"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TokenRow(Base):
    """A token, known only by its keyed hash; the accessor is its public handle."""

    __tablename__ = "tokens"
    accessor: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    parent_accessor: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("tokens.accessor"), index=True
    )
    policies: Mapped[list[str]] = mapped_column(JSON)
    display_name: Mapped[str] = mapped_column(String(256))
    identity_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("identities.id"), index=True
    )
    meta: Mapped[dict[str, str]] = mapped_column(JSON)
    renewable: Mapped[bool] = mapped_column(Boolean)
    ttl_seconds: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class IdentityRow(Base):
    """An identity (non-human actor); `name` is unique."""

    __tablename__ = "identities"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    environment: Mapped[str] = mapped_column(String(64), index=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    spiffe_id: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decommissioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CredentialRow(Base):
    """The inventory spine: one row per credential, issued or discovered, of any kind.
    Every filter has an index ending in `id`, so a filtered page is read in keyset order."""

    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("kind", "fingerprint"),
        Index("ix_credentials_not_after_id", "not_after", "id"),
        Index("ix_credentials_kind_id", "kind", "id"),
        Index("ix_credentials_kind_not_after_id", "kind", "not_after", "id"),
        Index("ix_credentials_identity_id_id", "identity_id", "id"),
        Index("ix_credentials_owner_id", "owner", "id"),
        Index("ix_credentials_source_id", "source", "id"),
        Index("ix_credentials_status_id", "status", "id"),
        Index("ix_credentials_status_not_after_id", "status", "not_after", "id"),
        Index("ix_credentials_key_type_key_bits_id", "key_type", "key_bits", "id"),
        Index("ix_credentials_signature_algorithm_id", "signature_algorithm", "id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(512))
    identity_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("identities.id"))
    owner: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # promoted from `attributes` (which keep them too) so they can be filtered by index
    key_type: Mapped[str | None] = mapped_column(String(32))
    key_bits: Mapped[int | None] = mapped_column(Integer)
    signature_algorithm: Mapped[str | None] = mapped_column(String(64))


class CredentialLocationRow(Base):
    """Where a credential was seen (file, repo, endpoint, or issued by Tessera)."""

    __tablename__ = "credential_locations"
    __table_args__ = (UniqueConstraint("credential_id", "kind", "location"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    credential_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("credentials.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(1024))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Byte order on both engines (SQLite compares UTF-8 text with memcmp), so a prefix is a range.
SearchText = String(255).with_variant(String(255, collation="C"), "postgresql")


class CredentialNameRow(Base):
    """A lower-cased name a credential is searched by: its name, fingerprint, subject, subject
    CN, SANs and principals."""

    __tablename__ = "credential_names"
    __table_args__ = (
        Index("ix_credential_names_name_lower_credential_id", "name_lower", "credential_id"),
    )
    credential_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("credentials.id", ondelete="CASCADE"), primary_key=True
    )
    name_lower: Mapped[str] = mapped_column(SearchText, primary_key=True)


class IdentityLabelRow(Base):
    """One label of an identity, mirrored from `identities.labels` so labels filter by index."""

    __tablename__ = "identity_labels"
    __table_args__ = (
        Index("ix_identity_labels_key_value_identity_id", "key", "value", "identity_id"),
    )
    identity_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(63), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class PkiKeyRow(Base):
    """A private key of the software KeyStore: PKCS#8 DER encrypted by the barrier."""

    __tablename__ = "pki_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_type: Mapped[str] = mapped_column(String(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PkiCaRow(Base):
    """A certificate authority. `pending` CAs wait for their externally signed certificate."""

    __tablename__ = "pki_cas"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    key_type: Mapped[str] = mapped_column(String(16))
    key_ref: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("pki_cas.id"))
    certificate_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    cert_fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    chain_pem: Mapped[str] = mapped_column(String(65536))  # issuers above this CA, leaf first
    csr_pem: Mapped[str | None] = mapped_column(String(65536))
    subject: Mapped[str] = mapped_column(String(1024))
    key_id_sha1: Mapped[str] = mapped_column(String(40), index=True)  # OCSP issuerKeyHash
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ocsp_signer: Mapped[str] = mapped_column(String(16))
    responder_key_ref: Mapped[str | None] = mapped_column(String(64))
    responder_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    crl_dirty: Mapped[bool] = mapped_column(Boolean, index=True)
    successor_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PkiProfileRow(Base):
    """An issuance profile as its validated JSON document."""

    __tablename__ = "pki_profiles"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PkiCertificateRow(Base):
    """One certificate, from intent (`pending`, serial reserved) to issued and revoked.
    The (ca_id, serial) constraint makes a repeated serial impossible."""

    __tablename__ = "pki_certificates"
    __table_args__ = (
        UniqueConstraint("ca_id", "serial"),
        Index("ix_pki_certificates_ca_id_status", "ca_id", "status"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ca_id: Mapped[str] = mapped_column(String(32), ForeignKey("pki_cas.id"))
    serial: Mapped[str] = mapped_column(String(40))  # lower-case hex, no leading zeros
    status: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str | None] = mapped_column(String(128))
    identity_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("identities.id"), index=True
    )
    credential_id: Mapped[str | None] = mapped_column(String(32))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    common_name: Mapped[str] = mapped_column(String(1024))
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    der: Mapped[bytes | None] = mapped_column(LargeBinary)
    renewed_from: Mapped[str | None] = mapped_column(String(32), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PkiCrlRow(Base):
    """The current CRL of a CA; `number` only grows."""

    __tablename__ = "pki_crls"
    ca_id: Mapped[str] = mapped_column(String(32), ForeignKey("pki_cas.id"), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    entries: Mapped[int] = mapped_column(Integer)


class SshCaRow(Base):
    """An SSH certificate authority (user or host); its key lives in the KeyStore."""

    __tablename__ = "ssh_cas"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    cert_type: Mapped[str] = mapped_column(String(8))
    key_type: Mapped[str] = mapped_column(String(16))
    key_ref: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(4096))  # OpenSSH one-line form
    status: Mapped[str] = mapped_column(String(16))
    # after a rotation the old key stays trusted (published) until its last certificate expires
    previous_public_key: Mapped[str | None] = mapped_column(String(4096))
    previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SshRevocationRow(Base):
    """A revocation by key id or public key (serials are revoked on the certificate rows)."""

    __tablename__ = "ssh_revocations"
    __table_args__ = (UniqueConstraint("ca_id", "kind", "value"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ca_id: Mapped[str] = mapped_column(String(32), ForeignKey("ssh_cas.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # key_id | public_key (base64 blob)
    value: Mapped[str] = mapped_column(String(4096))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SshRoleRow(Base):
    """What a caller of `ssh/sign/<role>` may get, as its validated JSON document."""

    __tablename__ = "ssh_roles"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SshCertificateRow(Base):
    """One SSH certificate, from intent (serial reserved) to signed and revoked."""

    __tablename__ = "ssh_certificates"
    __table_args__ = (UniqueConstraint("ca_id", "serial"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ca_id: Mapped[str] = mapped_column(String(32), ForeignKey("ssh_cas.id"), index=True)
    serial: Mapped[str] = mapped_column(String(16))  # 64-bit, lower-case hex
    status: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(512))
    principals: Mapped[list[str]] = mapped_column(JSON)
    key_fingerprint: Mapped[str] = mapped_column(String(64), index=True)  # SHA256 of the key
    identity_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("identities.id"), index=True
    )
    credential_id: Mapped[str | None] = mapped_column(String(32))
    valid_after: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_before: Mapped[datetime] = mapped_column(UTCDateTime)
    certificate: Mapped[str | None] = mapped_column(String(16384))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Tables of other domains register on the same metadata (imported for Alembic and create_all).
from tessera.storage import models_apikeys as _apikeys  # noqa: E402, F401
from tessera.storage import models_auth as _auth  # noqa: E402, F401
from tessera.storage import models_discovery as _discovery  # noqa: E402, F401
from tessera.storage import models_lifecycle as _lifecycle  # noqa: E402, F401
from tessera.storage import models_notify as _notify  # noqa: E402, F401
from tessera.storage import models_oauth as _oauth  # noqa: E402, F401
from tessera.storage import models_secrets as _secrets  # noqa: E402, F401
