"""Tables of notifications: channels (secrets sealed), routes, the owner directory, the
delivery queue the workers claim from, the dedup ledger and the once-a-day digest claims."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from tessera.storage.models import Base, UTCDateTime


class NotifyChannelRow(Base):
    """A destination. `config` holds only what may be shown; `secret` (sealed, AAD names the
    row) holds the URL, signing secret or SMTP password."""

    __tablename__ = "notify_channels"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotifyRouteRow(Base):
    """Which events (type globs, minimum severity) go to which channels, and to whom."""

    __tablename__ = "notify_routes"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_types: Mapped[list[str]] = mapped_column(JSON)
    min_severity: Mapped[str] = mapped_column(String(16))
    channels: Mapped[list[str]] = mapped_column(JSON)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    dedup_seconds: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotifyOwnerRow(Base):
    """Where an owner (team or person) is reached: an email address and/or a Slack channel."""

    __tablename__ = "notify_owners"
    owner: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    slack_channel: Mapped[str | None] = mapped_column(String(80))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotifyDeliveryRow(Base):
    """One message to one channel and recipient. States: pending → sending (claimed until
    next_attempt_at) → delivered, or back to pending with back-off, or failed at the end."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (Index("ix_notify_deliveries_state_next", "state", "next_attempt_at"),)
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)
    route: Mapped[str | None] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(320))
    event_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotifyDedupRow(Base):
    """The last time one (event type, subject, channel, recipient) was enqueued; `key` is the
    SHA-256 of those, so the ledger holds no names."""

    __tablename__ = "notify_dedup"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotifyDigestRunRow(Base):
    """A digest day claimed by one node; inserted in the transaction that enqueues it."""

    __tablename__ = "notify_digest_runs"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)
    messages: Mapped[int] = mapped_column(Integer)
