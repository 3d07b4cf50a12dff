"""The daily digest: one message per owner listing what expires in the next N days, grouped
by kind. A day is claimed by inserting its row in the same transaction that enqueues its
messages, so with several nodes exactly one sends it, and a crash leaves the day unclaimed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.inventory.models import CredentialQuery, CredentialSort
from tessera.notify.models import DigestItem, DigestResult, Event, EventType, Severity, Subject
from tessera.notify.ports import ExpiringInventory
from tessera.notify.routing import insert_for
from tessera.policy.models import ROOT_POLICY
from tessera.storage.db import Database
from tessera.storage.models_notify import NotifyDigestRunRow

# The digest reads the whole inventory on the system's behalf, not on a caller's.
SYSTEM = Principal(
    accessor="system:notify-digest",
    policy_names=("root",),
    policies=(ROOT_POLICY,),
    display_name="notify digest",
)


class DigestRunner:
    """Builds and enqueues one day's digest; `enqueue` routes an event inside a session."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        inventory: ExpiringInventory,
        enqueue: Callable[[Session, Event], list[str]],
        routed: Callable[[Session], bool],
        days: int = 30,
        hour: int = 8,
    ) -> None:
        self._db = db
        self._clock = clock
        self._inventory = inventory
        self._enqueue = enqueue
        self._routed = routed
        self._days = days
        self._hour = hour
        self._insert = insert_for(db.is_sqlite)
        self._done_day: str | None = None  # this process saw the day claimed; skip reads

    def due(self) -> bool:
        now = self._clock.now()
        day = now.date().isoformat()
        if now.hour < self._hour or self._done_day == day:
            return False
        with self._db.session() as s:
            if s.get(NotifyDigestRunRow, day) is not None:
                self._done_day = day
                return False
            return self._routed(s)

    def run(self) -> DigestResult:
        """Send today's digest unless some node already has or no route would carry it; safe to
        call from many nodes."""
        now = self._clock.now()
        day = now.date().isoformat()
        with self._db.session() as s:
            if s.get(NotifyDigestRunRow, day) is not None:
                return DigestResult(day, ran=False, skipped_reason="already sent today")
            # the day is not claimed until a route would carry it: a route added later
            # that day still gets that day's digest
            if not self._routed(s):
                return DigestResult(day, ran=False, skipped_reason="no route sends digests")
        events = self._events(day)
        with self._db.session(write=True) as s:
            claim = self._insert(NotifyDigestRunRow).values(day=day, ran_at=now, messages=0)
            claimed = claim.on_conflict_do_nothing().returning(NotifyDigestRunRow.day)
            if s.execute(claimed).first() is None:
                return DigestResult(day, ran=False, skipped_reason="another node sent it")
            ids = [i for ev in events for i in self._enqueue(s, ev)]
            row = s.get(NotifyDigestRunRow, day)
            assert row is not None
            row.messages = len(ids)
        self._done_day = day
        return DigestResult(day, ran=True, owners=len(events), deliveries=len(ids))

    def _events(self, day: str) -> list[Event]:
        now = self._clock.now()
        query = CredentialQuery(
            expiring_within=timedelta(days=self._days), sort=CredentialSort.EXPIRY
        )
        by_owner: dict[str | None, list[DigestItem]] = defaultdict(list)
        for summary in self._inventory.export(SYSTEM, query):
            c = summary.credential
            if c.not_after is None:
                continue
            item = DigestItem(c.kind.value, c.name, as_utc(c.not_after), c.id)
            by_owner[c.owner].append(item)
        events = []
        for owner, items in sorted(by_owner.items(), key=lambda kv: kv[0] or ""):
            soonest = min(i.not_after for i in items)
            severity = Severity.HIGH if soonest - now <= timedelta(days=7) else Severity.MEDIUM
            who = owner or "credentials without an owner"
            text = f"{len(items)} credential(s) of {who} expire in the next {self._days} days"
            subject = Subject(name=f"expiry digest {day}", owner=owner)
            events.append(
                Event(EventType.DIGEST_EXPIRING, severity, subject, text, now, tuple(items))
            )
        return events
