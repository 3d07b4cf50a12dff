"""The lifecycle thread of `tessera server` and `tessera worker`: scheduled renewals and the
posture evaluation; further steps plug in here. Every step is claimed through the database."""

from __future__ import annotations

import logging
import threading

from tessera.barrier.service import Barrier
from tessera.lifecycle.renewals import RenewalScheduler
from tessera.posture.engine import PostureEngine

log = logging.getLogger("tessera.lifecycle")


class LifecycleWorker:
    """A daemon thread running each step every `interval` seconds while unsealed."""

    def __init__(
        self,
        renewals: RenewalScheduler,
        barrier: Barrier,
        posture: PostureEngine | None = None,
        interval: float = 2.0,
    ) -> None:
        self._renewals = renewals
        self._posture = posture
        self._barrier = barrier
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lifecycle", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._barrier.sealed:
                try:
                    renewed = self._renewals.run_once()
                    if renewed:
                        log.info("renewed %d certificates", renewed)
                except Exception:  # keep the loop alive; the cause is logged
                    log.exception("lifecycle pass failed; retrying")
                try:  # claims one slot per 10 minutes across nodes; a no-op otherwise
                    if self._posture is not None:
                        self._posture.run_once()
                except Exception:  # a failed evaluation is retried in the next slot
                    log.exception("posture evaluation failed")
            self._stop.wait(self._interval)
