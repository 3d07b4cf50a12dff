"""Background upkeep of secrets in `tessera server`: revoke expired leases (and leases of dead
tokens), retry failed revocations, rotate static roles, and sweep orphaned database users.
Every step is claimed through the database, so several nodes may run side by side."""

from __future__ import annotations

import logging
import threading

from tessera.barrier.service import Barrier
from tessera.core.clock import Clock
from tessera.secrets.database import DatabaseSecrets
from tessera.secrets.leases import LeaseService

log = logging.getLogger("tessera.secrets.worker")
SWEEP_EVERY = 300  # ticks


class SecretsWorker:
    """A daemon thread. The first pass after start repairs what a crash left: on SQLite (one
    node) every pending lease is an interrupted create; on PostgreSQL only old ones are."""

    def __init__(
        self,
        leases: LeaseService,
        database: DatabaseSecrets,
        barrier: Barrier,
        single_node: bool,
        clock: Clock,
        interval: float = 1.0,
    ) -> None:
        self._leases = leases
        self._database = database
        self._barrier = barrier
        self._single_node = single_node
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks = 0
        self._repaired = False
        self._started = clock.now()
        leases.wake = self._wake.set

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="secrets-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._barrier.sealed:
                try:
                    self.run_once()
                except Exception:  # keep the loop alive; the cause is logged
                    log.exception("secrets upkeep failed; retrying on the next tick")
            self._wake.wait(self._interval)
            self._wake.clear()

    def run_once(self) -> None:
        """One pass. Until one pass has completed, each is a start-up pass: it takes every
        lease pending since before this process started for interrupted (single node) and
        sweeps orphaned users; so does every SWEEP_EVERY-th pass."""
        first = not self._repaired
        self._ticks += 1
        before = self._started if (first and self._single_node) else None
        revoked = self._leases.process_due(pending_before=before)
        if revoked:
            log.info("revoked %d leases", revoked)
        if first or self._ticks % 10 == 0:
            self._database.rotate_due_static()
        if first or self._ticks % SWEEP_EVERY == 0:
            dropped = self._database.sweep()
            if dropped:
                log.warning("dropped %d database users without a live lease", dropped)
        self._repaired = True
