"""Claims on scheduled work. A job row per (kind, subject): inserting it is the first claim;
a job in `retry` whose time has come, or `running` whose claim lapsed (its node died), is
retaken by compare-and-set. So with several nodes each subject is worked on by one at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from tessera.core.clock import Clock
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.storage.db import Database
from tessera.storage.models_lifecycle import LifecycleJobRow

CLAIM_HOLD = timedelta(minutes=5)  # far longer than one renewal takes
MAX_BACKOFF = timedelta(hours=1)


class JobState(StrEnum):
    RUNNING = "running"
    RETRY = "retry"
    DONE = "done"


@dataclass(frozen=True)
class Claim:
    """A job this node holds until `until`."""

    job_id: str
    subject_id: str
    attempts: int
    until: datetime


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … capped at an hour: a failing job keeps being retried."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


class Jobs:
    """Claim, finish and fail jobs of one kind."""

    def __init__(self, db: Database, clock: Clock, rng: Randomness, kind: str, node: str) -> None:
        self._db, self._clock, self._rng = db, clock, rng
        self.kind, self.node = kind, node

    def blocked_query(self) -> Select[str]:
        """Subject ids whose job is done, held by a live claim, or waiting for its retry."""
        now = self._clock.now()
        return select(LifecycleJobRow.subject_id).where(
            LifecycleJobRow.kind == self.kind,
            or_(
                LifecycleJobRow.state == JobState.DONE.value,
                and_(LifecycleJobRow.state == JobState.RUNNING.value,
                     LifecycleJobRow.claim_until > now),
                and_(LifecycleJobRow.state == JobState.RETRY.value,
                     LifecycleJobRow.next_attempt_at > now),
            ),
        )  # fmt: skip

    def blocked(self, subject_ids: list[str]) -> set[str]:
        """Subjects whose job is done, or held by a live claim, or waiting for its retry."""
        if not subject_ids:
            return set()
        now = self._clock.now()
        with self._db.session() as s:
            rows = s.scalars(
                select(LifecycleJobRow.subject_id).where(
                    LifecycleJobRow.kind == self.kind,
                    LifecycleJobRow.subject_id.in_(subject_ids),
                    or_(
                        LifecycleJobRow.state == JobState.DONE.value,
                        and_(LifecycleJobRow.state == JobState.RUNNING.value,
                             LifecycleJobRow.claim_until > now),
                        and_(LifecycleJobRow.state == JobState.RETRY.value,
                             LifecycleJobRow.next_attempt_at > now),
                    ),
                )
            )  # fmt: skip
            return set(rows)

    def claim(self, subject_id: str) -> Claim | None:
        """Take the job on `subject_id`, or None when another node holds or finished it."""
        now = self._clock.now()
        until = now + CLAIM_HOLD
        try:
            with self._db.session(write=True) as s:
                s.add(
                    LifecycleJobRow(
                        id=new_ulid(self._clock, self._rng), kind=self.kind,
                        subject_id=subject_id, state=JobState.RUNNING.value, attempts=0,
                        claimed_by=self.node, claim_until=until, next_attempt_at=None,
                        last_error=None, result_id=None, created_at=now, updated_at=now,
                    )
                )  # fmt: skip
        except IntegrityError:
            return self._retake(subject_id, now, until)
        with self._db.session() as s:
            job = s.scalar(self._select(subject_id))
            assert job is not None
            return Claim(job.id, subject_id, 0, until)

    def _select(self, subject_id: str) -> Select[LifecycleJobRow]:
        return select(LifecycleJobRow).where(
            LifecycleJobRow.kind == self.kind, LifecycleJobRow.subject_id == subject_id
        )

    def _retake(self, subject_id: str, now: datetime, until: datetime) -> Claim | None:
        with self._db.session(write=True) as s:
            result = s.execute(
                update(LifecycleJobRow)
                .where(
                    LifecycleJobRow.kind == self.kind,
                    LifecycleJobRow.subject_id == subject_id,
                    or_(
                        and_(LifecycleJobRow.state == JobState.RETRY.value,
                             LifecycleJobRow.next_attempt_at <= now),
                        and_(LifecycleJobRow.state == JobState.RUNNING.value,
                             LifecycleJobRow.claim_until <= now),
                    ),
                )
                .values(state=JobState.RUNNING.value, claimed_by=self.node, claim_until=until,
                        updated_at=now)
            )  # fmt: skip
            if not getattr(result, "rowcount", 0):
                return None
            job = s.scalar(self._select(subject_id))
            assert job is not None
            return Claim(job.id, subject_id, job.attempts, until)

    def _held(self, claim: Claim) -> ColumnElement[bool]:
        return and_(
            LifecycleJobRow.id == claim.job_id,
            LifecycleJobRow.state == JobState.RUNNING.value,
            LifecycleJobRow.claim_until == claim.until,
        )

    def done(self, claim: Claim, result_id: str | None) -> None:
        now = self._clock.now()
        with self._db.session(write=True) as s:
            s.execute(
                update(LifecycleJobRow).where(self._held(claim)).values(
                    state=JobState.DONE.value, result_id=result_id, last_error=None,
                    claim_until=None, updated_at=now,
                )
            )  # fmt: skip

    def failed(self, claim: Claim, error: str) -> int:
        """Schedule the retry; returns the number of failed attempts so far."""
        now = self._clock.now()
        attempts = claim.attempts + 1
        with self._db.session(write=True) as s:
            s.execute(
                update(LifecycleJobRow).where(self._held(claim)).values(
                    state=JobState.RETRY.value, attempts=attempts, last_error=error[:1024],
                    next_attempt_at=now + backoff(attempts), claim_until=None, updated_at=now,
                )
            )  # fmt: skip
        return attempts
