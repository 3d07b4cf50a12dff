"""Versioned KV secrets (placeholder: the service lands with its tests)."""

from __future__ import annotations

from tessera.barrier.service import Barrier
from tessera.core.clock import Clock
from tessera.core.randomness import Randomness
from tessera.inventory.service import InventoryService
from tessera.policy.service import PolicyService
from tessera.storage.db import Database


class KvService:
    """Secrets at paths, with versions, check-and-set, soft delete, undelete and destroy."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        barrier: Barrier,
        policies: PolicyService,
        inventory: InventoryService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._barrier = barrier
        self._policies = policies
        self._inventory = inventory
