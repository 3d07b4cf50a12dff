"""What posture needs from other domains."""

from __future__ import annotations

from typing import Protocol

from tessera.auth.models import Principal
from tessera.policy.models import Capability, Decision


class Authorizer(Protocol):
    """Evaluates policy for a principal; raises PermissionDenied when not allowed."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...
