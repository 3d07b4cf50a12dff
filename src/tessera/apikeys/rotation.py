"""Scheduled rotation of API keys whose policy has `rotate_every`: when `rotate_at` comes, the
key gets a successor (sealed for pickup, see `tessera.apikeys.successors`) and keeps working for
its overlap. Each rotation is a lifecycle job on (key id, generation), so across nodes every
rotation happens once; failures retry with back-off. Each pass also wipes sealed successors
whose pickup window ended."""

from __future__ import annotations

import logging

from tessera.apikeys import repository as repo
from tessera.apikeys.service import ApiKeyService
from tessera.core.clock import Clock
from tessera.core.errors import TesseraError
from tessera.core.randomness import Randomness
from tessera.lifecycle.jobs import Jobs
from tessera.storage.db import Database

log = logging.getLogger("tessera.apikeys.rotation")
KIND = "rotate_api_key"


class ApiKeyRotation:
    """`run_once()` rotates every due key (up to `batch` per pass) that this node can claim."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        service: ApiKeyService,
        node: str,
        batch: int = 500,
    ) -> None:
        self._db, self._clock = db, clock
        self._service = service
        self._jobs = Jobs(db, clock, rng, KIND, node)
        self._batch = batch

    def due(self) -> list[tuple[str, int]]:
        """(key id, generation) of the keys due, without a live claim, retry wait or done job."""
        with self._db.session() as s:
            return repo.due_rotations(s, self._clock.now(), self._jobs.blocked_query(), self._batch)

    def run_once(self) -> int:
        """Purge ended pickup windows, then rotate what is due; returns how many this node
        rotated."""
        purged = self._service.successors.purge()
        if purged:
            log.info("wiped %d unclaimed sealed API keys", purged)
        return sum(self._rotate_one(key_id, gen) for key_id, gen in self.due())

    def _rotate_one(self, key_id: str, generation: int) -> int:
        claim = self._jobs.claim(repo.rotation_subject(key_id, generation))
        if claim is None:
            return 0  # another node has it
        try:
            successor = self._service.rotate_due(key_id, generation)
        except TesseraError as exc:
            attempts = self._jobs.failed(claim, exc.detail)
            log.warning("rotating API key %s failed (attempt %d): %s", key_id, attempts, exc.detail)
            return 0
        except Exception as exc:  # never let one key stop the others
            log.exception("rotating API key %s failed", key_id)
            self._jobs.failed(claim, f"internal error: {type(exc).__name__}")
            return 0
        self._jobs.done(claim, successor)
        return 0 if successor is None else 1
