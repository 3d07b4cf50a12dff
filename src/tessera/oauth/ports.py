"""What the OAuth server needs from the barrier, policy, the inventory and the external-JWT
verifier (narrow on purpose; the real services and test fakes both fit)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from tessera.auth.jwtverify import TrustedIssuer
from tessera.auth.models import Principal
from tessera.barrier.aead import AAD
from tessera.inventory.models import CredentialStatus, RecordCredential
from tessera.policy.models import Capability, Decision


class Sealer(Protocol):
    """Seals signing keys (AAD = their row) and supplies the client-secret HMAC key."""

    @property
    def sealed(self) -> bool: ...

    def encrypt(self, aad: AAD, plaintext: bytes) -> bytes: ...

    def decrypt(self, aad: AAD, blob: bytes) -> bytes: ...

    def system_secret(self, name: str, size: int = 32) -> bytes: ...


class Authorizer(Protocol):
    """Policy decisions; `authorize` raises PermissionDenied, `permits` only answers."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...

    def permits(self, principal: Principal, path: str, capability: Capability) -> bool: ...


class InventoryPort(Protocol):
    """Every client is an inventory credential: recorded at creation, updated on change."""

    def record(self, session: Session, rec: RecordCredential) -> str: ...

    def set_status(
        self,
        session: Session,
        kind_fingerprints: list[tuple[str, str]],
        status: CredentialStatus,
        now: datetime,
    ) -> None: ...

    def set_rotated(
        self, session: Session, kind: str, fingerprint: str, when: datetime
    ) -> None: ...

    def bind_identity(self, session: Session, name: str) -> tuple[str, str]:
        """(id, owner) of an active identity, locked against a concurrent decommission."""
        ...

    def mark_used(self, session: Session, uses: Mapping[str, datetime]) -> None:
        """Move credentials' last_used_at forward (by credential id)."""
        ...


class ExternalJwtVerifier(Protocol):
    """`tessera.auth.jwtverify.JwtVerifier`: the claims of a JWT from a trusted issuer, or
    `InvalidToken` (its contract lists every check)."""

    def verify(
        self, token: str, issuer: TrustedIssuer, audience: str, typ: str | None = None
    ) -> Mapping[str, Any]: ...
