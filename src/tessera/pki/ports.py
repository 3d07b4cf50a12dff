"""What the PKI needs from elsewhere: a KeyStore for CA keys, and policy decisions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PublicKeyTypes,
)
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.pki.models import KeyType
from tessera.policy.models import Capability, Decision


@dataclass(frozen=True)
class KeyHandle:
    """A key held by a KeyStore: its opaque reference and its public half."""

    ref: str
    public_key: PublicKeyTypes


class KeyStore(Protocol):
    """Holds CA and responder private keys; the private half never leaves it in clear storage.
    A PKCS#11 store returns a signer object backed by the token from `signing_key`."""

    def create(self, session: Session, key_type: KeyType) -> KeyHandle:
        """Create a key; software stores write it in the caller's transaction."""
        ...

    def signing_key(self, ref: str) -> CertificateIssuerPrivateKeyTypes:
        """A key object that signs certificates, CRLs and OCSP responses."""
        ...


class Authorizer(Protocol):
    """Evaluates policy for a principal; raises PermissionDenied when not allowed."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...

    def permits(self, principal: Principal, path: str, capability: Capability) -> bool: ...
