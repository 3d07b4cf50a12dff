"""Stored policies and the `authorize` entry point every service calls before doing work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock
from tessera.core.context import annotate_decision
from tessera.core.errors import NotFound, PermissionDenied
from tessera.policy.engine import evaluate
from tessera.policy.models import (
    DEFAULT_POLICY,
    ROOT_POLICY,
    Capability,
    Decision,
    Policy,
    validate_policy_name,
)
from tessera.storage.db import Database
from tessera.storage.models import PolicyRow

BUILTIN = {"root": ROOT_POLICY, "default": DEFAULT_POLICY}


class PolicyService:
    """CRUD on policies plus cached resolution of names to `Policy` objects.

    The cache lives `cache_ttl` seconds so a change on another node applies within that time;
    changes on this node apply at once.
    """

    def __init__(self, db: Database, clock: Clock, cache_ttl: float = 1.0) -> None:
        self._db = db
        self._clock = clock
        self._ttl = cache_ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Policy | None, float]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._generation = 0

    def on_change(self, listener: Callable[[], None]) -> None:
        """Called after a policy is written or deleted (e.g. to drop cached principals)."""
        self._listeners.append(listener)

    # -- decisions -------------------------------------------------------------------------
    def authorize(
        self, principal: Principal, path: str, capability: Capability, *, sudo: bool = False
    ) -> Decision:
        """Evaluate and record the decision for the audit trail; raise when denied."""
        decision = evaluate(principal.policies, path, capability, require_sudo=sudo)
        annotate_decision(
            {
                "path": path,
                "capability": capability.value,
                "allowed": decision.allowed,
                "reasons": list(decision.reasons),
            }
        )
        if not decision.allowed:
            raise PermissionDenied(f"permission denied: {capability.value} on {path!r}")
        return decision

    def permits(self, principal: Principal, path: str, capability: Capability) -> bool:
        """Whether a request would be allowed; no audit annotation, never raises."""
        return evaluate(principal.policies, path, capability).allowed

    def resolve_cached(self, names: tuple[str, ...]) -> tuple[Policy, ...] | None:
        """Like `resolve` from memory only; None when some name needs a database read."""
        found, missing = self._from_cache(names)
        return None if missing else tuple(found)

    def _from_cache(self, names: tuple[str, ...]) -> tuple[list[Policy], list[str]]:
        """Fresh cached policies, and the names that must be (re)read."""
        now = self._clock.monotonic()
        found: list[Policy] = []
        missing: list[str] = []
        for name in names:
            if name in BUILTIN:
                found.append(BUILTIN[name])
                continue
            hit = self._cache.get(name)
            if hit is None or now - hit[1] >= self._ttl:
                missing.append(name)
            elif hit[0] is not None:
                found.append(hit[0])
        return found, missing

    def resolve(self, names: tuple[str, ...]) -> tuple[Policy, ...]:
        """Policies for a token; names that no longer exist are skipped (they grant nothing)."""
        result, missing = self._from_cache(names)
        if missing:
            generation = self._generation  # a write/delete during our read wins over it
            read_at = self._clock.monotonic()  # age counts from before the read
            with self._db.session() as s:
                rows = {
                    r.name: r
                    for r in s.execute(
                        select(PolicyRow).where(PolicyRow.name.in_(missing))
                    ).scalars()
                }
            with self._lock:
                fresh = generation == self._generation
                for name in missing:
                    row = rows.get(name)
                    policy = Policy.from_document(name, row.document) if row else None
                    if fresh:
                        self._cache[name] = (policy, read_at)
                    if policy is not None:
                        result.append(policy)
        return tuple(result)

    # -- CRUD ------------------------------------------------------------------------------
    def write(self, principal: Principal, name: str, document: dict[str, Any]) -> Policy:
        validate_policy_name(name)
        policy = Policy.from_document(name, document)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.get(PolicyRow, name)
            # create for a new policy, update for an existing one, decided in this transaction
            cap = Capability.CREATE if row is None else Capability.UPDATE
            self.authorize(principal, f"sys/policies/{name}", cap)
            if row is None:
                s.add(
                    PolicyRow(
                        name=name, document=policy.to_document(), created_at=now, updated_at=now
                    )
                )
            else:
                row.document = policy.to_document()
                row.updated_at = now
        self._forget(name)
        return policy

    def read(self, principal: Principal, name: str) -> Policy:
        validate_policy_name(name, allow_reserved=True)
        self.authorize(principal, f"sys/policies/{name}", Capability.READ)
        if name in BUILTIN:
            return BUILTIN[name]
        with self._db.session() as s:
            row = s.get(PolicyRow, name)
        if row is None:
            raise NotFound(f"no policy named {name!r}")
        return Policy.from_document(name, row.document)

    def list(self, principal: Principal) -> list[str]:
        self.authorize(principal, "sys/policies", Capability.LIST)
        with self._db.session() as s:
            return sorted([*BUILTIN, *s.execute(select(PolicyRow.name)).scalars()])

    def delete(self, principal: Principal, name: str) -> None:
        validate_policy_name(name)
        self.authorize(principal, f"sys/policies/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = s.get(PolicyRow, name)
            if row is None:
                raise NotFound(f"no policy named {name!r}")
            s.delete(row)
        self._forget(name)

    def exists(self, session: Session, name: str) -> bool:
        return name in BUILTIN or session.get(PolicyRow, name) is not None

    def _forget(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)
            self._generation += 1
        for listener in self._listeners:
            listener()
