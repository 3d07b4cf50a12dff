"""Findings store: open (or refresh) a finding per rule and subject, resolve it when the cause
is gone. Acknowledged findings stay acknowledged until their acknowledgement expires."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from tessera.core.clock import Clock
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.storage.db import Database
from tessera.storage.models_lifecycle import FindingRow


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


RISK = {Severity.INFO: 0.0, Severity.LOW: 1.0, Severity.MEDIUM: 3.0, Severity.HIGH: 7.0,
        Severity.CRITICAL: 10.0}  # fmt: skip


class FindingStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class NewFinding:
    """What a rule (or a failing job) reports about one subject."""

    rule_id: str
    subject_key: str
    severity: Severity
    title: str
    details: Mapping[str, Any]
    credential_id: str | None = None
    identity_id: str | None = None


class FindingStore:
    """Writes findings; returns whether a finding was newly opened (for notifications)."""

    def __init__(self, db: Database, clock: Clock, rng: Randomness) -> None:
        self._db, self._clock, self._rng = db, clock, rng

    def raise_(self, f: NewFinding) -> bool:
        now = self._clock.now()
        key = f.subject_key[:128]  # as stored: a longer key must find its row again
        with self._db.session(write=True) as s:
            row = s.scalar(
                select(FindingRow).where(
                    FindingRow.rule_id == f.rule_id, FindingRow.subject_key == key
                )
            )
            if row is None:
                s.add(
                    FindingRow(
                        id=new_ulid(self._clock, self._rng), rule_id=f.rule_id,
                        subject_key=key, credential_id=f.credential_id,
                        identity_id=f.identity_id, severity=f.severity.value,
                        risk=RISK[f.severity], status=FindingStatus.OPEN.value,
                        title=f.title[:512], details=dict(f.details), opened_at=now,
                        updated_at=now, resolved_at=None, ack_reason=None, ack_by=None,
                        ack_until=None,
                    )
                )  # fmt: skip
                return True
            reopened = row.status == FindingStatus.RESOLVED.value
            if reopened:
                row.status, row.resolved_at, row.opened_at = FindingStatus.OPEN.value, None, now
            row.severity, row.risk = f.severity.value, RISK[f.severity]
            row.title, row.details, row.updated_at = f.title[:512], dict(f.details), now
            return reopened

    def resolve(self, rule_id: str, subject_key: str, at: datetime | None = None) -> bool:
        now = at or self._clock.now()
        with self._db.session(write=True) as s:
            row = s.scalar(
                select(FindingRow).where(
                    FindingRow.rule_id == rule_id, FindingRow.subject_key == subject_key
                )
            )
            if row is None or row.status == FindingStatus.RESOLVED.value:
                return False
            row.status, row.resolved_at, row.updated_at = FindingStatus.RESOLVED.value, now, now
            return True
