"""What API keys need from the barrier, policy and the inventory (narrow on purpose)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.barrier.aead import AAD
from tessera.inventory.models import CredentialStatus, RecordCredential
from tessera.policy.models import Capability, Decision


class KeySource(Protocol):
    """Supplies the HMAC key API keys are hashed with (kept behind the barrier) and seals the
    successors of scheduled rotations until they are picked up."""

    def system_secret(self, name: str, size: int = 32) -> bytes: ...

    def encrypt(self, aad: AAD, plaintext: bytes) -> bytes: ...

    def decrypt(self, aad: AAD, blob: bytes) -> bytes: ...


class Authorizer(Protocol):
    """Policy decisions; `authorize` raises PermissionDenied, `permits` only answers."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...

    def permits(self, principal: Principal, path: str, capability: Capability) -> bool: ...


class InventoryPort(Protocol):
    """Every key is an inventory credential: recorded at creation, updated on change."""

    def record(self, session: Session, rec: RecordCredential) -> str: ...

    def set_status(
        self,
        session: Session,
        kind_fingerprints: list[tuple[str, str]],
        status: CredentialStatus,
        now: datetime,
    ) -> None: ...

    def set_not_after(
        self, session: Session, kind: str, fingerprint: str, not_after: datetime | None
    ) -> None: ...

    def bind_identity(self, session: Session, name: str) -> tuple[str, str]:
        """(id, owner) of an active identity, locked against a concurrent decommission."""
        ...

    def mark_used(self, session: Session, uses: Mapping[str, datetime]) -> None:
        """Move credentials' last_used_at forward (by credential id)."""
        ...
