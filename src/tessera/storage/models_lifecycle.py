"""Tables of lifecycle automation and posture: claimed jobs (renewals, rotations) and findings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tessera.storage.models import Base, UTCDateTime


class LifecycleJobRow(Base):
    """One unit of scheduled work on one subject (e.g. renewing one certificate). Inserting
    the row is the claim (unique per kind and subject); a lapsed `claim_until` is retaken."""

    __tablename__ = "lifecycle_jobs"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id"),
        Index("ix_lifecycle_jobs_state_next_attempt_at", "state", "next_attempt_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # renew_certificate | …
    subject_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # running | retry | done
    attempts: Mapped[int] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1024))
    result_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FindingRow(Base):
    """A posture finding: one per rule and subject, with a lifecycle (open, acknowledged until
    a date with a reason, resolved) and the risk it adds."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("rule_id", "subject_key"),
        Index("ix_findings_status_severity", "status", "severity"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    subject_key: Mapped[str] = mapped_column(String(128))  # credential id, identity id, job id
    credential_id: Mapped[str | None] = mapped_column(String(32), index=True)
    identity_id: Mapped[str | None] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    risk: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))  # open | acknowledged | resolved
    title: Mapped[str] = mapped_column(String(512))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_reason: Mapped[str | None] = mapped_column(String(1024))
    ack_by: Mapped[str | None] = mapped_column(String(128))
    ack_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PostureConfigRow(Base):
    """The posture configuration (thresholds and enabled rules per environment) as one JSON
    document; a single row (id 1), absent until first written (defaults apply)."""

    __tablename__ = "posture_config"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(128))


class PostureRunRow(Base):
    """One posture evaluation. Inserting the row claims its `slot` (a scheduled time slot, or a
    unique manual run), so with several nodes each scheduled slot is evaluated by one."""

    __tablename__ = "posture_runs"
    __table_args__ = (
        UniqueConstraint("slot"),
        Index("ix_posture_runs_started_at", "started_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evaluated: Mapped[int] = mapped_column(Integer)
    opened: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[int] = mapped_column(Integer)
