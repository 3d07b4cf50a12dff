"""Leases of dynamic credentials: lookup, renew, revoke (also by prefix, by identity and when the
creating token dies), and the claimed, retried revocation that the worker drives.

A revocation first marks the lease `revoking` with a claim time (committed), then asks the
engine, then records `revoked`. A node that dies mid-way leaves a claim that lapses; any node
retries it. Retries back off; after `MAX_ATTEMPTS` the lease is `irrevocable` and flagged."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, and_, event, or_, select, update
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import InvalidRequest, NotFound, TesseraError
from tessera.inventory.models import CredentialKind, CredentialStatus
from tessera.inventory.service import InventoryService
from tessera.policy.models import Capability
from tessera.policy.service import PolicyService
from tessera.secrets.errors import LeaseNotRenewable
from tessera.storage.db import Database
from tessera.storage.models import CredentialRow, TokenRow
from tessera.storage.models_secrets import LeaseRow

log = logging.getLogger("tessera.secrets.leases")
MAX_ATTEMPTS = 8  # back-off 2, 4, … 256 s: about 8.5 minutes before `irrevocable`
CLAIM_HOLD = timedelta(seconds=60)  # a claimed revocation unfinished after this is retried
PENDING_GRACE = timedelta(minutes=2)  # pending longer than any create takes = interrupted
LEASE_ID_MAX = 255


class LeaseState(StrEnum):
    """pending (recorded, credential being made) → active → revoking → revoked | irrevocable."""

    PENDING = "pending"
    ACTIVE = "active"
    REVOKING = "revoking"
    REVOKED = "revoked"
    IRREVOCABLE = "irrevocable"


LIVE = (LeaseState.PENDING.value, LeaseState.ACTIVE.value, LeaseState.REVOKING.value)


@dataclass(frozen=True)
class Lease:
    """A lease as callers see it (never the credential itself)."""

    id: str
    engine: str
    role: str
    connection: str
    username: str
    state: LeaseState
    renewable: bool
    issued_at: datetime
    expires_at: datetime
    max_expires_at: datetime
    revoked_at: datetime | None
    attempts: int
    last_error: str | None
    identity_id: str | None


@dataclass(frozen=True)
class _Claim:
    """A revocation this caller owns until `until` (the lease row's next_attempt_at)."""

    lease: Lease
    until: datetime


def _holds(claim: _Claim) -> ColumnElement[bool]:
    return and_(
        LeaseRow.state == LeaseState.REVOKING.value, LeaseRow.next_attempt_at == claim.until
    )


class LeaseBackend(Protocol):
    """The engine side of a lease: make its credential last longer, or destroy it."""

    def renew_lease(self, lease: Lease, expires_at: datetime) -> None: ...

    def revoke_lease(self, lease: Lease) -> None: ...


def lease_fingerprint(lease_id: str) -> str:
    return hashlib.sha256(lease_id.encode()).hexdigest()


def to_lease(row: LeaseRow) -> Lease:
    revoked = None if row.revoked_at is None else as_utc(row.revoked_at)
    return Lease(
        row.id, row.engine, row.role, row.connection, row.username, LeaseState(row.state),
        row.renewable, as_utc(row.issued_at), as_utc(row.expires_at),
        as_utc(row.max_expires_at), revoked, row.attempts, row.last_error, row.identity_id,
    )  # fmt: skip


def check_lease_id(value: str, what: str = "lease_id") -> str:
    if not isinstance(value, str) or not 0 < len(value) <= LEASE_ID_MAX or not value.isprintable():
        raise InvalidRequest(f"{what} must be 1-{LEASE_ID_MAX} printable characters")
    if any(seg in (".", "..") for seg in value.split("/")):
        raise InvalidRequest(f"{what} must not contain '.' or '..' segments")
    return value


class LeaseService:
    """Lease use cases; `process_due` is the worker's step."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        policies: PolicyService,
        inventory: InventoryService,
        on_irrevocable: Callable[[Lease], None] = lambda _lease: None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._policies = policies
        self._inventory = inventory
        self._backends: dict[str, LeaseBackend] = {}
        self._on_irrevocable = on_irrevocable
        self.wake: Callable[[], None] = lambda: None  # set by the worker

    def register(self, engine: str, backend: LeaseBackend) -> None:
        self._backends[engine] = backend

    # -- queries -----------------------------------------------------------------------------
    def get(self, p: Principal, lease_id: str) -> Lease:
        check_lease_id(lease_id)
        self._policies.authorize(p, f"leases/{lease_id}", Capability.READ)
        with self._db.session() as s:
            row = s.get(LeaseRow, lease_id)
            if row is None:
                raise NotFound("no such lease")
            return to_lease(row)

    def list(
        self, p: Principal, prefix: str = "", *, live_only: bool = True, limit: int = 100,
        after: str | None = None,
    ) -> list[Lease]:  # fmt: skip
        """Leases whose id starts with `prefix`, in id order, `limit` after `after`."""
        if prefix:
            check_lease_id(prefix, "prefix")
        if not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be between 1 and 1000")
        self._policies.authorize(p, f"leases/{prefix}".rstrip("/"), Capability.LIST)
        q = select(LeaseRow).order_by(LeaseRow.id).limit(limit)
        if prefix:
            q = q.where(LeaseRow.id >= prefix, LeaseRow.id < prefix + "\U0010ffff")
        if after:
            q = q.where(LeaseRow.id > check_lease_id(after, "after"))
        if live_only:
            q = q.where(LeaseRow.state.in_((*LIVE, LeaseState.IRREVOCABLE.value)))
        with self._db.session() as s:
            return [to_lease(r) for r in s.scalars(q)]

    # -- renew -----------------------------------------------------------------------------
    def renew(self, p: Principal, lease_id: str, increment: timedelta | None) -> Lease:
        """Extend to now + increment (default: the original TTL), never past max_expires_at."""
        check_lease_id(lease_id)
        self._policies.authorize(p, f"leases/{lease_id}", Capability.UPDATE)
        now = self._clock.now()
        with self._db.session() as s:
            row = s.get(LeaseRow, lease_id)
            if row is None:
                raise NotFound("no such lease")
            lease = to_lease(row)
        if lease.state is not LeaseState.ACTIVE:
            raise LeaseNotRenewable(f"lease is {lease.state.value}, not active")
        if lease.expires_at <= now:
            raise LeaseNotRenewable("lease has expired")
        if not lease.renewable:
            raise LeaseNotRenewable("this lease is not renewable")
        if increment is not None and increment <= timedelta(0):
            raise InvalidRequest("increment must be positive")
        step = increment or (lease.expires_at - lease.issued_at)
        expires = min(now + step, lease.max_expires_at)
        self._backend(lease).renew_lease(lease, expires)
        with self._db.session(write=True) as s:
            done = s.execute(
                update(LeaseRow)
                .where(LeaseRow.id == lease_id, LeaseRow.state == LeaseState.ACTIVE.value)
                .values(expires_at=expires)
            )
            if not getattr(done, "rowcount", 0):
                raise LeaseNotRenewable("the lease was revoked while renewing")
            self._inventory.set_not_after(
                s, CredentialKind.DYNAMIC_LEASE.value, lease_fingerprint(lease_id), expires
            )
            row = s.get(LeaseRow, lease_id)
            assert row is not None
            return to_lease(row)

    # -- revoke ----------------------------------------------------------------------------
    def revoke(self, p: Principal, lease_id: str) -> Lease:
        """Revoke now; if the engine fails, the lease stays `revoking` and is retried."""
        check_lease_id(lease_id)
        self._policies.authorize(p, f"leases/{lease_id}", Capability.DELETE)
        with self._db.session() as s:
            if s.get(LeaseRow, lease_id) is None:
                raise NotFound("no such lease")
        self._attempt(lease_id, force=True)
        with self._db.session() as s:
            row = s.get(LeaseRow, lease_id)
            assert row is not None
            return to_lease(row)

    def revoke_prefix(self, p: Principal, prefix: str) -> int:
        """Mark every live lease under `prefix` for revocation (sudo); the worker finishes."""
        check_lease_id(prefix, "prefix")
        self._policies.authorize(p, f"leases/{prefix}".rstrip("/"), Capability.UPDATE, sudo=True)
        cond = and_(LeaseRow.id >= prefix, LeaseRow.id < prefix + "\U0010ffff")
        count = self._mark_revoking(cond)
        self.process_due()
        return count

    def revoke_for_identity(self, session: Session, identity_id: str, now: datetime) -> int:
        """Decommission: in the caller's transaction, mark the identity's leases for revocation
        and their inventory rows revoked; the worker drops the users once this commits."""
        ids = list(
            session.scalars(
                select(LeaseRow.id).where(
                    LeaseRow.identity_id == identity_id, LeaseRow.state.in_(LIVE)
                )
            )
        )
        if not ids:
            return 0
        session.execute(
            update(LeaseRow)
            .where(LeaseRow.id.in_(ids), LeaseRow.state.in_(LIVE))
            .values(state=LeaseState.REVOKING.value, next_attempt_at=now)
        )
        kind = CredentialKind.DYNAMIC_LEASE.value
        self._inventory.set_status(
            session, [(kind, lease_fingerprint(i)) for i in ids], CredentialStatus.REVOKED, now
        )
        event.listen(session, "after_commit", lambda _s: self.wake(), once=True)
        return len(ids)

    def _mark_revoking(self, cond: ColumnElement[bool]) -> int:
        now = self._clock.now()
        with self._db.session(write=True) as s:
            result = s.execute(
                update(LeaseRow)
                .where(cond, LeaseRow.state.in_(LIVE))
                .values(state=LeaseState.REVOKING.value, next_attempt_at=now)
            )
        self.wake()
        return int(getattr(result, "rowcount", 0) or 0)

    # -- the worker's step -----------------------------------------------------------------
    def _due(self, now: datetime, pending_before: datetime) -> ColumnElement[bool]:
        dead_tokens = select(TokenRow.accessor).where(
            or_(TokenRow.revoked_at.is_not(None), TokenRow.expires_at <= now)
        )
        return or_(
            and_(LeaseRow.state == LeaseState.ACTIVE.value, LeaseRow.expires_at <= now),
            and_(LeaseRow.state == LeaseState.REVOKING.value, LeaseRow.next_attempt_at <= now),
            and_(
                LeaseRow.state == LeaseState.PENDING.value,
                LeaseRow.issued_at < pending_before,
            ),
            and_(
                LeaseRow.state == LeaseState.ACTIVE.value,
                LeaseRow.token_accessor.in_(dead_tokens),
            ),
        )

    def process_due(self, limit: int = 200, pending_before: datetime | None = None) -> int:
        """Claim and revoke leases that are due; returns how many this call revoked. A pending
        lease is taken for interrupted when issued before `pending_before` (default: older
        than PENDING_GRACE; a single node passes its own start time)."""
        now = self._clock.now()
        before = pending_before or now - PENDING_GRACE
        with self._db.session() as s:
            ids = list(
                s.scalars(
                    select(LeaseRow.id)
                    .where(self._due(now, before))
                    .order_by(LeaseRow.expires_at)
                    .limit(limit)
                )
            )
        return sum(self._attempt(i, pending_before=before) for i in ids)

    def _claim(self, lease_id: str, force: bool, pending_before: datetime) -> _Claim | None:
        """Compare-and-set the lease to `revoking` with a claim deadline; None if not ours.
        `force` (an explicit revoke) takes any live lease except one another caller is
        revoking right now (its claim has not lapsed)."""
        now = self._clock.now()
        if force:
            cond = or_(
                LeaseRow.state.in_((LeaseState.PENDING.value, LeaseState.ACTIVE.value)),
                and_(LeaseRow.state == LeaseState.REVOKING.value, LeaseRow.next_attempt_at <= now),
            )
        else:
            cond = self._due(now, pending_before)
        until = now + CLAIM_HOLD
        with self._db.session(write=True) as s:
            result = s.execute(
                update(LeaseRow)
                .where(LeaseRow.id == lease_id, cond)
                .values(state=LeaseState.REVOKING.value, next_attempt_at=until)
            )
            if not getattr(result, "rowcount", 0):
                return None
            row = s.get(LeaseRow, lease_id)
            assert row is not None
            return _Claim(to_lease(row), until)

    def _attempt(
        self, lease_id: str, *, force: bool = False, pending_before: datetime | None = None
    ) -> bool:
        claim = self._claim(lease_id, force, pending_before or self._clock.now() - PENDING_GRACE)
        if claim is None:
            return False
        lease = claim.lease
        try:
            self._backend(lease).revoke_lease(lease)
        except TesseraError as exc:
            self._failed(claim, exc.detail)
            return False
        except Exception as exc:  # an engine bug must not stop the worker; retried later
            log.exception("revoking lease %s failed", lease.id)
            self._failed(claim, type(exc).__name__)
            return False
        now = self._clock.now()
        with self._db.session(write=True) as s:
            s.execute(
                update(LeaseRow)
                .where(LeaseRow.id == lease.id, _holds(claim))
                .values(
                    state=LeaseState.REVOKED.value,
                    revoked_at=now,
                    next_attempt_at=None,
                    last_error=None,
                )
            )
            self._inventory.set_status(
                s,
                [(CredentialKind.DYNAMIC_LEASE.value, lease_fingerprint(lease.id))],
                CredentialStatus.REVOKED,
                now,
            )
        return True

    def _failed(self, claim: _Claim, error: str) -> None:
        lease = claim.lease
        attempts = lease.attempts + 1
        now = self._clock.now()
        final = attempts >= MAX_ATTEMPTS
        state = LeaseState.IRREVOCABLE if final else LeaseState.REVOKING
        delay = timedelta(seconds=min(2**attempts, 300))
        with self._db.session(write=True) as s:
            held = s.execute(
                update(LeaseRow)
                .where(LeaseRow.id == lease.id, _holds(claim))
                .values(
                    state=state.value,
                    attempts=attempts,
                    last_error=error[:512],
                    next_attempt_at=None if final else now + delay,
                )
            )
            if not getattr(held, "rowcount", 0):
                return  # someone else finished or took over this revocation meanwhile
            if final:
                cred = s.get(CredentialRow, self._credential_id(s, lease.id))
                if cred is not None:
                    cred.attributes = {**cred.attributes, "irrevocable": True, "error": error[:200]}
        log.warning("revoking lease %s failed (attempt %d): %s", lease.id, attempts, error)
        if final:
            self._on_irrevocable(lease)

    @staticmethod
    def _credential_id(s: Session, lease_id: str) -> str:
        return str(s.scalar(select(LeaseRow.credential_id).where(LeaseRow.id == lease_id)))

    def live_usernames(self) -> set[str]:
        """Database users that a live lease accounts for, on any connection: user lists are
        per database server, and several connections may share one (the sweep keeps these)."""
        with self._db.session() as s:
            return set(s.scalars(select(LeaseRow.username).where(LeaseRow.state.in_(LIVE))))

    def _backend(self, lease: Lease) -> LeaseBackend:
        backend = self._backends.get(lease.engine)
        if backend is None:
            raise TesseraError(f"no secrets engine {lease.engine!r} is registered")
        return backend

    def states(self, ids: Sequence[str]) -> dict[str, str]:
        with self._db.session() as s:
            rows = s.execute(select(LeaseRow.id, LeaseRow.state).where(LeaseRow.id.in_(ids)))
            return {i: st for i, st in rows}
