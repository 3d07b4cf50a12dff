"""The lifecycle thread of `tessera server` and `tessera worker`: scheduled renewals and the
posture evaluation; further steps plug in here. Every step is claimed through the database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tessera.apikeys.rotation import ApiKeyRotation
from tessera.barrier.service import Barrier
from tessera.lifecycle.renewals import RenewalScheduler
from tessera.posture.engine import PostureEngine
from tessera.secrets.kv_rotation import KvRotation

log = logging.getLogger("tessera.lifecycle")


class LifecycleWorker:
    """A daemon thread running each step every `interval` seconds while unsealed."""

    def __init__(
        self,
        renewals: RenewalScheduler,
        barrier: Barrier,
        posture: PostureEngine | None = None,
        interval: float = 2.0,
        kv_rotation: KvRotation | None = None,
        apikey_rotation: ApiKeyRotation | None = None,
    ) -> None:
        self._apikey_rotation = apikey_rotation
        self._renewals = renewals
        self._posture = posture
        self._kv_rotation = kv_rotation
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

    def _steps(self) -> list[tuple[str, Callable[[], int | object]]]:
        steps: list[tuple[str, Callable[[], int | object]]] = [
            ("renewed %d certificates", self._renewals.run_once)
        ]
        if self._apikey_rotation is not None:
            steps.append(("rotated %d API keys", self._apikey_rotation.run_once))
        if self._kv_rotation is not None:
            steps.append(("rotated %d KV secrets", self._kv_rotation.run_once))
        if self._posture is not None:  # claims one slot per 10 minutes across nodes
            steps.append(("posture evaluation: %s", self._posture.run_once))
        return steps

    def _run(self) -> None:
        steps = self._steps()
        while not self._stop.is_set():
            if not self._barrier.sealed:
                for message, step in steps:
                    try:  # one failing step never stops the others; each retries next pass
                        done = step()
                        if isinstance(done, int) and done:
                            log.info(message, done)
                    except Exception:
                        log.exception("lifecycle step failed (%s); retrying", message)
            self._stop.wait(self._interval)
