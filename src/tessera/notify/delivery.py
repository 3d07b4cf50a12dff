"""The delivery queue's worker step: claim a due delivery by compare-and-set (state `sending`
until a claim deadline), send it, record the outcome. A node that dies mid-send leaves a
claim that lapses and any node retries it. Failures back off exponentially; after the
delivery's `max_attempts` it ends `failed` and stays visible in the delivery list."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update

from tessera.core.clock import Clock
from tessera.core.errors import TesseraError
from tessera.notify.models import ChannelType, Delivery, DeliveryState
from tessera.notify.ports import DeliveryFailed, Notifier, Outgoing, SecretBox
from tessera.notify.store import open_config, to_delivery
from tessera.storage.db import Database
from tessera.storage.models_notify import NotifyChannelRow, NotifyDeliveryRow

log = logging.getLogger("tessera.notify")


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and back-off: `base` after the first failure, doubling up to `cap`."""

    max_attempts: int = 6
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    claim_hold: timedelta = timedelta(minutes=2)  # longer than any send's timeouts

    def delay(self, attempts: int) -> timedelta:
        step: timedelta = self.base * (2 ** max(attempts - 1, 0))
        return min(step, self.cap)


@dataclass(frozen=True)
class _Claim:
    delivery: Delivery
    until: datetime


class DeliveryRunner:
    """Sends due deliveries through the notifier registered for each channel type."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        box: SecretBox,
        notifiers: Mapping[ChannelType, Notifier],
        retry: RetryPolicy,
    ) -> None:
        self._db = db
        self._clock = clock
        self._box = box
        self._notifiers = notifiers
        self._retry = retry

    def process_due(self, limit: int = 100) -> int:
        """Attempt every due delivery (up to `limit`); returns how many were delivered."""
        now = self._clock.now()
        with self._db.session() as s:
            ids = list(
                s.scalars(
                    select(NotifyDeliveryRow.id)
                    .where(self._due(now))
                    .order_by(NotifyDeliveryRow.next_attempt_at)
                    .limit(limit)
                )
            )
        return sum(self.attempt(i) for i in ids)

    @staticmethod
    def _due(now: datetime) -> ColumnElement[bool]:
        d = NotifyDeliveryRow
        return and_(
            d.state.in_((DeliveryState.PENDING.value, DeliveryState.SENDING.value)),
            d.next_attempt_at <= now,
        )

    def attempt(self, delivery_id: str) -> bool:
        """Claim, send and record one delivery; False if not ours or not delivered."""
        claim = self._claim(delivery_id)
        if claim is None:
            return False
        try:
            with self._db.session() as s:
                channel = s.get(NotifyChannelRow, claim.delivery.channel)
            if channel is None or not channel.enabled:
                self._record_failure(claim, "the channel was deleted or disabled", final=True)
                return False
            config = open_config(self._box, channel)
            notifier = self._notifiers[ChannelType(channel.type)]
            d = claim.delivery
            notifier.send(config, Outgoing(d.id, d.recipient, d.event))
        except DeliveryFailed as exc:
            self._record_failure(claim, exc.detail)
            return False
        except TesseraError as exc:  # e.g. sealed mid-way: retried later like any failure
            self._record_failure(claim, exc.detail)
            return False
        except Exception as exc:  # a notifier bug must not stop the worker; retried later
            log.exception("delivery %s failed unexpectedly", delivery_id)
            self._record_failure(claim, type(exc).__name__)
            return False
        with self._db.session(write=True) as s:
            s.execute(
                update(NotifyDeliveryRow)
                .where(NotifyDeliveryRow.id == delivery_id, self._holds(claim))
                .values(
                    state=DeliveryState.DELIVERED.value,
                    attempts=claim.delivery.attempts + 1,
                    delivered_at=self._clock.now(),
                    next_attempt_at=None,
                    last_error=None,
                )
            )
        return True

    def _claim(self, delivery_id: str) -> _Claim | None:
        now = self._clock.now()
        until = now + self._retry.claim_hold
        with self._db.session(write=True) as s:
            done = s.execute(
                update(NotifyDeliveryRow)
                .where(NotifyDeliveryRow.id == delivery_id, self._due(now))
                .values(state=DeliveryState.SENDING.value, next_attempt_at=until)
            )
            if not getattr(done, "rowcount", 0):
                return None
            row = s.get(NotifyDeliveryRow, delivery_id)
            assert row is not None
            return _Claim(to_delivery(row), until)

    @staticmethod
    def _holds(claim: _Claim) -> ColumnElement[bool]:
        return and_(
            NotifyDeliveryRow.state == DeliveryState.SENDING.value,
            NotifyDeliveryRow.next_attempt_at == claim.until,
        )

    def _record_failure(self, claim: _Claim, error: str, final: bool = False) -> None:
        d = claim.delivery
        attempts = d.attempts + 1
        final = final or attempts >= d.max_attempts
        now = self._clock.now()
        with self._db.session(write=True) as s:
            s.execute(
                update(NotifyDeliveryRow)
                .where(NotifyDeliveryRow.id == d.id, self._holds(claim))
                .values(
                    state=(DeliveryState.FAILED if final else DeliveryState.PENDING).value,
                    attempts=attempts,
                    last_error=error[:512],
                    next_attempt_at=None if final else now + self._retry.delay(attempts),
                )
            )
        level = logging.ERROR if final else logging.WARNING
        log.log(level, "delivery %s to %s failed (attempt %d): %s", d.id, d.channel, attempts,
                error)  # fmt: skip
