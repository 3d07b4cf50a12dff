"""Notification use cases: channels, routes and owner contacts (policy-checked CRUD),
`publish` (route an event into deliveries), delivery listing, channel tests, and the
worker's step (send due deliveries, the daily digest).

Policy paths: `notify/channels/<name>`, `notify/routes/<name>`, `notify/owners`,
`notify/deliveries[/<id>]` (read, list) and `notify/test/<channel>` (update)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.core.ids import new_ulid
from tessera.core.paging import check_limit, decode_cursor, encode_cursor
from tessera.core.randomness import Randomness
from tessera.inventory.models import Page
from tessera.notify.delivery import DeliveryRunner, RetryPolicy
from tessera.notify.digest import DigestRunner
from tessera.notify.email import EmailNotifier
from tessera.notify.models import (
    Channel,
    ChannelRequest,
    ChannelType,
    Delivery,
    DeliveryQuery,
    DigestResult,
    Event,
    EventType,
    OwnerContact,
    Route,
    Severity,
    Subject,
    check_email,
    check_name,
    check_recipient,
)
from tessera.notify.ports import Authorizer, ExpiringInventory, Notifier, SecretBox
from tessera.notify.routing import Router
from tessera.notify.store import seal_config, to_channel, to_delivery, to_owner, to_route
from tessera.notify.webhook import WebhookNotifier
from tessera.notify.worker import NotifyWorker
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models_notify import (
    NotifyChannelRow,
    NotifyDeliveryRow,
    NotifyOwnerRow,
    NotifyRouteRow,
)

_DELIVERY_ID = re.compile(r"[0-9A-Z]{26}")


@dataclass(frozen=True)
class NotifySettings:
    """Retries, the digest's horizon and hour (UTC), and the worker's tick."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    digest_days: int = 30
    digest_hour: int = 8
    interval: float = 2.0


class NotifyService:
    """Channels, routes, owners, deliveries; `start`/`stop` run the delivery worker."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        box: SecretBox,
        authz: Authorizer,
        inventory: ExpiringInventory,
        settings: NotifySettings | None = None,
        notifiers: Mapping[ChannelType, Notifier] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._box = box
        self._authz = authz
        self.settings = settings or NotifySettings()
        self._notifiers: dict[ChannelType, Notifier] = dict(
            notifiers
            or {
                ChannelType.WEBHOOK: WebhookNotifier(clock),
                ChannelType.SLACK: WebhookNotifier(clock, slack=True),
                ChannelType.EMAIL: EmailNotifier(clock),
            }
        )
        retry = self.settings.retry
        self._router = Router(db.is_sqlite, lambda: new_ulid(clock, rng), retry.max_attempts)
        self._runner = DeliveryRunner(db, clock, box, self._notifiers, retry)
        self._digest = DigestRunner(
            db, clock, inventory, self._enqueue,
            lambda s: self._router.routes_type(s, EventType.DIGEST_EXPIRING),
            self.settings.digest_days, self.settings.digest_hour,
        )  # fmt: skip
        self._worker = NotifyWorker(self.step, self.settings.interval)

    def register(self, kind: ChannelType, notifier: Notifier) -> None:
        """Replace the notifier of a channel type (tests, or a custom transport)."""
        self._notifiers[kind] = notifier

    # -- background ------------------------------------------------------------------------
    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    def step(self) -> None:
        """One worker pass: due deliveries, then the digest if today's is due. Sealed: idle."""
        if self._box.sealed:
            return
        self.process_due()
        if self._digest.due():
            self._digest.run()

    def process_due(self) -> int:
        return self._runner.process_due()

    def run_digest(self) -> DigestResult:
        """Today's digest now (if no node sent it yet), whatever the hour."""
        return self._digest.run()

    def request_digest(self, p: Principal) -> DigestResult:
        """`run_digest` for an operator (policy: `update` on `notify/digest`)."""
        self._authz.authorize(p, "notify/digest", Capability.UPDATE)
        result = self._digest.run()
        self._worker.wake()
        return result

    # -- events ----------------------------------------------------------------------------
    def publish(self, event: Event) -> list[str]:
        """Route `event` to its channels; returns the ids of the deliveries it made."""
        with self._db.session(write=True) as s:
            ids = self._enqueue(s, event)
        if ids:
            self._worker.wake()
        return ids

    def publish_in(self, session: Session, event: Event) -> list[str]:
        """`publish` inside the caller's transaction (the event commits with its cause)."""
        ids = self._enqueue(session, event)
        if ids:
            self._worker.wake()
        return ids

    def _enqueue(self, s: Session, event: Event) -> list[str]:
        return self._router.enqueue(s, event, self._clock.now())

    # -- channels --------------------------------------------------------------------------
    def put_channel(self, p: Principal, req: ChannelRequest) -> Channel:
        """Create or replace a channel; its secrets are sealed, never shown again."""
        path = f"notify/channels/{req.name}"
        now = self._clock.now()
        with self._db.session() as s:
            exists = s.get(NotifyChannelRow, req.name) is not None
        self._authz.authorize(p, path, Capability.UPDATE if exists else Capability.CREATE)
        public, sealed = seal_config(self._box, req.name, req.config)
        with self._db.session(write=True) as s:
            row = s.get(NotifyChannelRow, req.name)
            if row is None:
                row = NotifyChannelRow(name=req.name, created_at=now)
                s.add(row)
            row.type, row.config, row.secret = req.type.value, public, sealed
            row.enabled, row.updated_at = req.enabled, now
            s.flush()
            return to_channel(row)

    def get_channel(self, p: Principal, name: str) -> Channel:
        check_name(name, "channel name")
        self._authz.authorize(p, f"notify/channels/{name}", Capability.READ)
        with self._db.session() as s:
            return to_channel(self._channel_row(s, name))

    def list_channels(self, p: Principal) -> list[Channel]:
        self._authz.authorize(p, "notify/channels", Capability.LIST)
        with self._db.session() as s:
            rows = s.scalars(select(NotifyChannelRow).order_by(NotifyChannelRow.name))
            return [to_channel(r) for r in rows]

    def delete_channel(self, p: Principal, name: str) -> None:
        """Refused while a route sends to it; pending deliveries to it then fail."""
        check_name(name, "channel name")
        self._authz.authorize(p, f"notify/channels/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = self._channel_row(s, name)
            users = [r.name for r in s.scalars(select(NotifyRouteRow)) if name in r.channels]
            if users:
                raise Conflict(f"routes still send to this channel: {', '.join(users)}")
            s.delete(row)

    @staticmethod
    def _channel_row(s: Session, name: str) -> NotifyChannelRow:
        row = s.get(NotifyChannelRow, name)
        if row is None:
            raise NotFound("no such channel")
        return row

    # -- routes ----------------------------------------------------------------------------
    def put_route(self, p: Principal, route: Route) -> Route:
        """Create or replace a route; every channel it names must exist."""
        now = self._clock.now()
        with self._db.session() as s:
            exists = s.get(NotifyRouteRow, route.name) is not None
        cap = Capability.UPDATE if exists else Capability.CREATE
        self._authz.authorize(p, f"notify/routes/{route.name}", cap)
        with self._db.session(write=True) as s:
            known = set(s.scalars(select(NotifyChannelRow.name)))
            missing = [c for c in route.channels if c not in known]
            if missing:
                raise InvalidRequest(f"no such channel: {', '.join(missing)}")
            row = s.get(NotifyRouteRow, route.name)
            if row is None:
                row = NotifyRouteRow(name=route.name, created_at=now)
                s.add(row)
            row.event_types, row.channels = list(route.event_types), list(route.channels)
            row.min_severity, row.recipients = route.min_severity.value, list(route.recipients)
            row.dedup_seconds = int(route.dedup_window.total_seconds())
            row.enabled, row.updated_at = route.enabled, now
            s.flush()
            return to_route(row)

    def get_route(self, p: Principal, name: str) -> Route:
        check_name(name, "route name")
        self._authz.authorize(p, f"notify/routes/{name}", Capability.READ)
        with self._db.session() as s:
            row = s.get(NotifyRouteRow, name)
            if row is None:
                raise NotFound("no such route")
            return to_route(row)

    def list_routes(self, p: Principal) -> list[Route]:
        self._authz.authorize(p, "notify/routes", Capability.LIST)
        with self._db.session() as s:
            rows = s.scalars(select(NotifyRouteRow).order_by(NotifyRouteRow.name))
            return [to_route(r) for r in rows]

    def delete_route(self, p: Principal, name: str) -> None:
        check_name(name, "route name")
        self._authz.authorize(p, f"notify/routes/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            gone = s.execute(delete(NotifyRouteRow).where(NotifyRouteRow.name == name))
            if not getattr(gone, "rowcount", 0):
                raise NotFound("no such route")

    # -- owner directory -------------------------------------------------------------------
    def put_owner(self, p: Principal, contact: OwnerContact) -> OwnerContact:
        self._authz.authorize(p, "notify/owners", Capability.UPDATE)
        with self._db.session(write=True) as s:
            row = s.get(NotifyOwnerRow, contact.owner) or NotifyOwnerRow(owner=contact.owner)
            row.email, row.slack_channel = contact.email, contact.slack_channel
            row.updated_at = self._clock.now()
            s.add(row)
        return contact

    def list_owners(self, p: Principal) -> list[OwnerContact]:
        self._authz.authorize(p, "notify/owners", Capability.LIST)
        with self._db.session() as s:
            rows = s.scalars(select(NotifyOwnerRow).order_by(NotifyOwnerRow.owner))
            return [to_owner(r) for r in rows]

    def delete_owner(self, p: Principal, owner: str) -> None:
        self._authz.authorize(p, "notify/owners", Capability.DELETE)
        with self._db.session(write=True) as s:
            gone = s.execute(delete(NotifyOwnerRow).where(NotifyOwnerRow.owner == owner))
            if not getattr(gone, "rowcount", 0):
                raise NotFound("no such owner in the directory")

    # -- deliveries ------------------------------------------------------------------------
    def list_deliveries(self, p: Principal, query: DeliveryQuery) -> Page[Delivery]:
        """Newest first (by id: time-sortable to the millisecond); `next_cursor` continues
        after the last one shown."""
        self._authz.authorize(p, "notify/deliveries", Capability.LIST)
        check_limit(query.limit)
        after = decode_cursor(query.cursor)
        d = NotifyDeliveryRow
        q = select(d).order_by(d.id.desc()).limit(query.limit + 1)
        if query.state is not None:
            q = q.where(d.state == query.state.value)
        if query.channel is not None:
            q = q.where(d.channel == check_name(query.channel, "channel"))
        if after is not None:
            q = q.where(d.id < after)
        with self._db.session() as s:
            rows = list(s.scalars(q))
        more = len(rows) > query.limit
        items = tuple(to_delivery(r) for r in rows[: query.limit])
        return Page(items, encode_cursor(items[-1].id) if more and items else None)

    def get_delivery(self, p: Principal, delivery_id: str) -> Delivery:
        if not _DELIVERY_ID.fullmatch(delivery_id):
            raise NotFound("no such delivery")
        self._authz.authorize(p, f"notify/deliveries/{delivery_id}", Capability.READ)
        with self._db.session() as s:
            row = s.get(NotifyDeliveryRow, delivery_id)
            if row is None:
                raise NotFound("no such delivery")
            return to_delivery(row)

    def test_channel(self, p: Principal, name: str, recipient: str | None = None) -> Delivery:
        """Send a test message through `name` now (one attempt, no retries) and return the
        delivery: `delivered`, or `failed` with the reason."""
        check_name(name, "channel name")
        self._authz.authorize(p, f"notify/test/{name}", Capability.UPDATE)
        if recipient is not None:
            check_recipient(recipient)
        now = self._clock.now()
        event = Event(
            EventType.NOTIFY_TEST, Severity.INFO, Subject(name=f"channel {name}"),
            f"Test message from Tessera through channel {name}.", now,
        )  # fmt: skip
        with self._db.session(write=True) as s:
            row = self._channel_row(s, name)
            to = recipient or self._test_recipient(row.type, row.config)
            delivery_id = self._router.add(s, event, now, name, None, to, max_attempts=1)
        self._runner.attempt(delivery_id)
        with self._db.session() as s:
            done = s.get(NotifyDeliveryRow, delivery_id)
            assert done is not None
            return to_delivery(done)

    @staticmethod
    def _test_recipient(kind: str, config: Mapping[str, Any]) -> str | None:
        if kind != ChannelType.EMAIL.value:
            return None
        default = config.get("default_to")
        if not default:
            raise InvalidRequest("give a recipient: this email channel has no default_to")
        return check_email(str(default))
