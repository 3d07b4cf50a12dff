"""The notifications worker thread of `tessera server`: sends due deliveries and, once a day,
the expiry digest. Both are claimed through the database, so every node may run one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("tessera.notify")


class NotifyWorker:
    """Runs `step` every `interval` seconds, or at once when woken (a new delivery)."""

    def __init__(self, step: Callable[[], None], interval: float = 2.0) -> None:
        self._step = step
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="notify-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # keep the loop alive; the cause is logged, the work retried
                log.exception("notifications upkeep failed; retrying on the next tick")
            self._wake.wait(self._interval)
            self._wake.clear()
