"""What the auth methods need from the barrier, policy, inventory and token service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from tessera.auth.models import CreatedToken, Principal
from tessera.inventory.models import CredentialStatus, RecordCredential
from tessera.policy.models import Capability, Decision


class KeySource(Protocol):
    """Named secrets kept behind the barrier (the secret-id HMAC key)."""

    def system_secret(self, name: str, size: int = 32) -> bytes: ...


class Authorizer(Protocol):
    """Policy decisions (raise PermissionDenied) and whether a policy exists."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...

    def exists(self, session: Session, name: str) -> bool: ...


class InventoryPort(Protocol):
    """Secret ids are inventory credentials bound to the role's identity."""

    def record(self, session: Session, rec: RecordCredential) -> str: ...

    def set_status(
        self,
        session: Session,
        kind_fingerprints: list[tuple[str, str]],
        status: CredentialStatus,
        now: datetime,
    ) -> None: ...

    def bind_identity(self, session: Session, name: str) -> tuple[str, str]: ...


class TokenMinter(Protocol):
    """Mints the Tessera token a successful login returns."""

    def create_for_login(
        self,
        method: str,
        identity: str | None,
        policies: Sequence[str],
        ttl: timedelta,
        max_ttl: timedelta,
        meta: Mapping[str, str] | None = None,
        renewable: bool = True,
    ) -> CreatedToken: ...
