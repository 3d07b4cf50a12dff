"""What the operator use cases need from other domains."""

from __future__ import annotations

from typing import Protocol

from tessera.auth.models import CreatedToken, Principal
from tessera.policy.models import Capability, Decision


class RootTokenIssuer(Protocol):
    """Creates the initial root token during init."""

    def create_root(self, display_name: str = "root") -> CreatedToken: ...


class Authorizer(Protocol):
    """Evaluates policy for a principal; raises PermissionDenied when not allowed."""

    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision: ...
