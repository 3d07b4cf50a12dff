"""Background PKI upkeep in `tessera server`: CRL rebuilds (coalesced after revocations and
before nextUpdate), delegated responder renewal, and repair of intents a crash left pending.
Every step is claimed through the database, so several nodes may run it side by side."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update

from tessera.barrier.service import Barrier
from tessera.core.clock import Clock
from tessera.pki.cas import CAService
from tessera.pki.crl import CrlService
from tessera.pki.models import CertStatus
from tessera.storage.db import Database
from tessera.storage.models import PkiCaRow, PkiCertificateRow

log = logging.getLogger("tessera.pki.scheduler")
INTENT_GRACE = timedelta(minutes=2)  # longer than any signing takes; older pending = crashed
COALESCE = 0.2  # seconds to wait after a revocation so a burst becomes one rebuild


def repair_intents(db: Database, clock: Clock, older_than: timedelta = INTENT_GRACE) -> int:
    """Mark intents left `pending` by a crash as `abandoned`; returns how many."""
    with db.session(write=True) as s:
        result = s.execute(
            update(PkiCertificateRow)
            .where(
                PkiCertificateRow.status == CertStatus.PENDING.value,
                PkiCertificateRow.created_at < clock.now() - older_than,
            )
            .values(status=CertStatus.ABANDONED.value)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class PkiScheduler:
    """A daemon thread; `wake()` after a revocation, `stop()` on shutdown."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        barrier: Barrier,
        cas: CAService,
        crls: CrlService,
        interval: float = 1.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._barrier = barrier
        self._cas = cas
        self._crls = crls
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pki-scheduler", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._wake.wait(self._interval):
                self._stop.wait(COALESCE)
            self._wake.clear()
            if self._stop.is_set() or self._barrier.sealed:
                continue
            try:
                self.run_once()
            except Exception:  # keep the loop alive; the failure is logged with its cause
                log.exception("PKI upkeep failed; retrying on the next tick")

    def run_once(self) -> None:
        """One pass: rebuild due CRLs; every 60th pass, repair intents and renew responders."""
        for ca_id in self._crls.due():
            self._each(ca_id, "CRL rebuild", self._crls.rebuild)
        self._ticks += 1
        if self._ticks % 60 == 1:
            repaired = repair_intents(self._db, self._clock)
            if repaired:
                log.warning("marked %d interrupted certificate intents abandoned", repaired)
            with self._db.session() as s:
                ids = list(s.scalars(select(PkiCaRow.id)))
            for ca_id in ids:
                self._each(ca_id, "responder renewal", self._cas.refresh_responder)

    @staticmethod
    def _each(ca_id: str, what: str, step: Callable[[str], object]) -> None:
        """One CA's failure is logged and retried next tick; it never starves the others."""
        try:
            step(ca_id)
        except Exception:
            log.exception("%s failed for CA %s; retrying on the next tick", what, ca_id)
