"""Operator use cases on the barrier: init (with the first root token), unseal, seal, rotate."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.auth.models import Principal
from tessera.barrier.models import InitResult, SealStatus
from tessera.barrier.ports import Authorizer, RootTokenIssuer
from tessera.barrier.service import Barrier
from tessera.policy.models import Capability


@dataclass(frozen=True)
class InitResponse:
    """Shown exactly once: the unseal shares and the initial root token."""

    shares: tuple[str, ...]
    threshold: int
    root_token: str


class OperatorService:
    """Operator use cases; init and unseal need no token, seal and rotate need `sudo`."""

    def __init__(self, barrier: Barrier, tokens: RootTokenIssuer, authz: Authorizer) -> None:
        self._barrier = barrier
        self._tokens = tokens
        self._authz = authz

    def status(self) -> SealStatus:
        return self._barrier.status()

    def initialize(self, shares: int, threshold: int) -> InitResponse:
        result: InitResult = self._barrier.initialize(shares, threshold)
        root = self._tokens.create_root()
        # only now are shares and token about to be handed out; a crash before this line
        # leaves an incomplete init that the next `init` repairs
        self._barrier.complete_initialization()
        return InitResponse(shares=result.shares, threshold=result.threshold, root_token=root.token)

    def unseal(self, share: str | None, reset: bool) -> SealStatus:
        if reset:
            return self._barrier.reset_progress()
        if share is None:
            return self._barrier.status()
        return self._barrier.submit_share(share)

    def seal(self, principal: Principal) -> SealStatus:
        self._authz.authorize(principal, "sys/seal", Capability.UPDATE, sudo=True)
        self._barrier.seal()
        return self._barrier.status()

    def rotate(self, principal: Principal) -> int:
        self._authz.authorize(principal, "sys/rotate", Capability.UPDATE, sudo=True)
        return self._barrier.rotate()
