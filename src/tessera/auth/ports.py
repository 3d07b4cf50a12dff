"""What token handling needs from the barrier, policy and the inventory (narrow on purpose)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.inventory.models import CredentialStatus, RecordCredential
from tessera.policy.models import Capability, Decision, Policy


class TokenKeySource(Protocol):
    """Supplies the HMAC key tokens are hashed with (kept behind the barrier)."""

    def system_secret(self, name: str, size: int = 32) -> bytes: ...


class PolicyPort(Protocol):
    """Policy decisions and resolution by name; `authorize` raises PermissionDenied."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...

    def resolve(self, names: tuple[str, ...]) -> tuple[Policy, ...]: ...

    def resolve_cached(self, names: tuple[str, ...]) -> tuple[Policy, ...] | None: ...

    def exists(self, session: Session, name: str) -> bool: ...


class InventoryPort(Protocol):
    """Tokens are credentials: they are recorded in, and update, the inventory spine."""

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
