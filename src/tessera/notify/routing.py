"""Turning an event into deliveries: matching routes, choosing recipients per channel type,
and the dedup ledger. Runs inside the caller's write transaction."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tessera.notify.models import (
    EMAIL_RE,
    ChannelType,
    DeliveryState,
    Event,
    EventType,
    OwnerContact,
    Route,
)
from tessera.notify.store import to_owner, to_route
from tessera.storage.models_notify import (
    NotifyChannelRow,
    NotifyDedupRow,
    NotifyDeliveryRow,
    NotifyOwnerRow,
    NotifyRouteRow,
)


def insert_for(is_sqlite: bool) -> Any:
    """The dialect's INSERT, which offers ON CONFLICT on both engines."""
    return sqlite.insert if is_sqlite else postgresql.insert


@dataclass(frozen=True)
class Target:
    """One (channel, recipient) an event goes to; `problem` set when it cannot be sent."""

    channel: str
    route: str
    recipient: str | None
    problem: str | None
    dedup_window: timedelta


def recipients_for(
    route: Route, kind: ChannelType, config: dict[str, Any], owner: str | None,
    contact: OwnerContact | None,
) -> list[tuple[str | None, str | None]]:  # fmt: skip
    """(recipient, problem) pairs: the route's fixed recipients that fit the channel type,
    else the owner's contact (directory entry, the owner itself if it is an address, the
    channel's default address)."""
    if kind is ChannelType.EMAIL:
        fixed = [r for r in route.recipients if "@" in r and not r.startswith("@")]
        if fixed:
            return [(r, None) for r in fixed]
        address = (contact.email if contact else None) or (
            owner if owner and EMAIL_RE.fullmatch(owner) else None
        )
        address = address or config.get("default_to")
        if address:
            return [(address, None)]
        return [(None, f"no email address known for owner {owner or '(none)'!r}")]
    if kind is ChannelType.SLACK:
        fixed = [r for r in route.recipients if r.startswith(("#", "@"))]
        if fixed:
            return [(r, None) for r in fixed]
        return [(contact.slack_channel if contact else None, None)]
    return [(r, None) for r in route.recipients] or [(owner, None)]


def dedup_key(event: Event, channel: str, recipient: str | None) -> str:
    raw = "\x1f".join((event.type.value, event.subject.key(), channel, recipient or ""))
    return hashlib.sha256(raw.encode()).hexdigest()


class Router:
    """Writes the deliveries an event causes; `new_id` makes delivery ids."""

    def __init__(self, is_sqlite: bool, new_id: Callable[[], str], max_attempts: int) -> None:
        self._insert = insert_for(is_sqlite)
        self._new_id = new_id
        self._max_attempts = max_attempts

    def targets(self, s: Session, event: Event) -> list[Target]:
        rows = s.scalars(select(NotifyRouteRow).order_by(NotifyRouteRow.name))
        routes = [r for r in map(to_route, rows) if r.matches(event)]
        if not routes:
            return []
        names = {c for r in routes for c in r.channels}
        channels = {
            c.name: c
            for c in s.scalars(select(NotifyChannelRow).where(NotifyChannelRow.name.in_(names)))
        }
        owner = event.subject.owner
        row = s.get(NotifyOwnerRow, owner) if owner else None
        contact = to_owner(row) if row is not None else None
        out: list[Target] = []
        seen: set[tuple[str, str | None]] = set()
        for route in routes:
            for name in route.channels:
                chan = channels.get(name)
                if chan is None or not chan.enabled:
                    continue
                kind = ChannelType(chan.type)
                for recipient, problem in recipients_for(route, kind, chan.config, owner, contact):
                    if (name, recipient) not in seen:
                        seen.add((name, recipient))
                        out.append(Target(name, route.name, recipient, problem, route.dedup_window))
        return out

    @staticmethod
    def routes_type(s: Session, event_type: EventType) -> bool:
        """Whether some enabled route matches events of this type (any severity)."""
        rows = s.scalars(select(NotifyRouteRow).where(NotifyRouteRow.enabled.is_(True)))
        return any(fnmatch.fnmatchcase(event_type.value, p) for r in rows for p in r.event_types)

    def enqueue(self, s: Session, event: Event, now: datetime) -> list[str]:
        """Deliveries for every target not already told of this (type, subject) within its
        route's dedup window; a target with a problem is recorded `failed` at once."""
        made: list[str] = []
        for t in self.targets(s, event):
            key = dedup_key(event, t.channel, t.recipient)
            if t.dedup_window and not self._first_within(s, key, now, t.dedup_window):
                continue
            made.append(self.add(s, event, now, t.channel, t.route, t.recipient, t.problem))
        return made

    def add(
        self, s: Session, event: Event, now: datetime, channel: str, route: str | None,
        recipient: str | None, problem: str | None = None, max_attempts: int | None = None,
    ) -> str:  # fmt: skip
        delivery_id = self._new_id()
        s.add(
            NotifyDeliveryRow(
                id=delivery_id, channel=channel, route=route, recipient=recipient,
                event_type=event.type.value, severity=event.severity.value,
                event=event.to_json(),
                state=(DeliveryState.FAILED if problem else DeliveryState.PENDING).value,
                attempts=0, max_attempts=max_attempts or self._max_attempts,
                next_attempt_at=None if problem else now, last_error=problem,
                created_at=now, delivered_at=None,
            )
        )  # fmt: skip
        return delivery_id

    def _first_within(self, s: Session, key: str, now: datetime, window: timedelta) -> bool:
        """Record `now` for `key` unless it was recorded less than `seconds` ago; one atomic
        statement, so two nodes publishing the same event cannot both pass."""
        cutoff = now - window
        stmt = self._insert(NotifyDedupRow).values(key=key, last_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=[NotifyDedupRow.key],
            set_={"last_at": now},
            where=NotifyDedupRow.last_at <= cutoff,
        )
        # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO UPDATE
        return s.execute(stmt.returning(NotifyDedupRow.key)).first() is not None
