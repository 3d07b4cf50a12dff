"""What the inventory needs from other domains."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.policy.models import Capability, Decision


class Authorizer(Protocol):
    """Evaluates policy for a principal; raises PermissionDenied when not allowed."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...

    def permits(self, principal: Principal, path: str, capability: Capability) -> bool:
        """The same decision without raising or auditing; for filtering list results."""
        ...


class CredentialRevoker(Protocol):
    """A domain that can revoke everything it issued to an identity, inside the caller's
    transaction (so decommissioning is one operation)."""

    def revoke_for_identity(self, session: Session, identity_id: str, now: datetime) -> int: ...
