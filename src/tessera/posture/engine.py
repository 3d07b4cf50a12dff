"""Posture evaluation: every credential rule over the whole inventory, one keyset page at a
time (memory stays flat at millions of credentials), then the PKI-wide CA rule.

Per page: one read of credentials, one of their identities, one of the findings in the page's
id range (which includes findings of credentials deleted since), then at most three batched
writes (insert, refresh/reopen, resolve). A finding whose cause is gone is resolved; one whose
cause returns is reopened. Acknowledgements whose `ack_until` has passed become open again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.core.clock import Clock, as_utc
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.inventory.models import CredentialKind, CredentialSource, CredentialStatus
from tessera.posture.config import ConfigStore, PostureConfig
from tessera.posture.findings import RISK, FindingStatus, NewFinding
from tessera.posture.models import EvaluationResult
from tessera.posture.rules import Context, Rule, Subject, credential_rules
from tessera.posture.rules_expiry import CA_RULE, ca_findings
from tessera.storage.db import Database
from tessera.storage.models import CredentialRow, IdentityRow
from tessera.storage.models_lifecycle import FindingRow, PostureRunRow

log = logging.getLogger("tessera.posture")
PAGE_SIZE = 1000
RUN_HISTORY = timedelta(days=7)
Key = tuple[str, str]  # (rule id, subject key)
_ACTIVE = CredentialStatus.ACTIVE.value

_C = CredentialRow
_CREDENTIAL_COLUMNS = (
    _C.id, _C.kind, _C.name, _C.status, _C.source, _C.owner, _C.identity_id, _C.issued_at,
    _C.not_after, _C.created_at, _C.last_used_at, _C.last_rotated_at, _C.key_type, _C.key_bits,
    _C.signature_algorithm, _C.attributes,
)  # fmt: skip
_F = FindingRow
_FINDING_COLUMNS = (
    _F.id, _F.rule_id, _F.subject_key, _F.credential_id, _F.identity_id, _F.severity,
    _F.status, _F.title, _F.details,
)  # fmt: skip


@dataclass(frozen=True)
class _Identity:
    owner: str
    status: str
    environment: str


@dataclass
class _Tally:
    evaluated: int = 0
    opened: int = 0
    refreshed: int = 0
    resolved: int = 0


@dataclass
class _Changes:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    refreshes: list[dict[str, Any]] = field(default_factory=list)
    reopens: list[dict[str, Any]] = field(default_factory=list)
    resolves: list[dict[str, Any]] = field(default_factory=list)


class PostureEngine:
    """`run_once()` evaluates when this node claims the current scheduled slot (one node per
    `interval` across a cluster); `evaluate()` evaluates now, unconditionally."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        config: ConfigStore,
        node: str,
        interval: timedelta = timedelta(minutes=10),
        page_size: int = PAGE_SIZE,
        rules: Sequence[Rule] | None = None,
    ) -> None:
        self._db, self._clock, self._rng = db, clock, rng
        self._config, self._node = config, node[:64]
        self._interval, self._page = interval, page_size
        self._rules = tuple(rules if rules is not None else credential_rules())
        self._rule_ids = sorted({r.info.id.value for r in self._rules})
        self._lock = threading.Lock()  # one evaluation at a time in this process
        self._tried_slot: int | None = None  # a slot is claimed (or lost) once per node

    def run_once(self) -> EvaluationResult | None:
        """The scheduled step: None when this slot was already claimed (by any node)."""
        now = self._clock.now()
        slot = int(now.timestamp() // self._interval.total_seconds())
        if slot == self._tried_slot:
            return None
        self._tried_slot = slot
        run_id = self._claim(f"auto:{slot}", now)
        return None if run_id is None else self._run(run_id)

    def evaluate(self) -> EvaluationResult:
        """Evaluate now (the `evaluate` use case), whatever the schedule."""
        now = self._clock.now()
        run_id = self._claim(f"manual:{new_ulid(self._clock, self._rng)}", now)
        assert run_id is not None  # a fresh ULID slot cannot be taken
        return self._run(run_id)

    def last_run(self) -> datetime | None:
        with self._db.session() as s:
            last = s.scalar(select(func.max(PostureRunRow.finished_at)))
        return as_utc(last) if last is not None else None

    # -- one run ---------------------------------------------------------------------------
    def _claim(self, slot: str, now: datetime) -> str | None:
        run_id = new_ulid(self._clock, self._rng)
        try:
            with self._db.session(write=True) as s:
                s.add(
                    PostureRunRow(
                        id=run_id,
                        slot=slot,
                        node=self._node,
                        started_at=now,
                        finished_at=None,
                        evaluated=0,
                        opened=0,
                        resolved=0,
                    )
                )
        except IntegrityError:
            return None
        return run_id

    def _run(self, run_id: str) -> EvaluationResult:
        with self._lock:
            started = self._clock.now()
            config = self._config.load()
            lapsed = self._reopen_lapsed(started)
            shared = self._shared_public_keys()
            tally = _Tally()
            after: str | None = None
            while True:
                last = self._page_pass(after, config, shared, started, tally)
                if last is None:
                    break
                after = last
            self._ca_pass(started, tally)
            finished = self._clock.now()
            with self._db.session(write=True) as s:
                s.execute(update(PostureRunRow).where(PostureRunRow.id == run_id).values(
                    finished_at=finished, evaluated=tally.evaluated, opened=tally.opened,
                    resolved=tally.resolved))  # fmt: skip
                s.execute(delete(PostureRunRow).where(
                    PostureRunRow.started_at < started - RUN_HISTORY))  # fmt: skip
        log.info("posture: %d credentials, %d opened, %d resolved", tally.evaluated,
                 tally.opened, tally.resolved)  # fmt: skip
        return EvaluationResult(tally.evaluated, tally.opened, tally.refreshed, tally.resolved,
                                lapsed, started, finished)  # fmt: skip

    def _reopen_lapsed(self, now: datetime) -> int:
        with self._db.session(write=True) as s:
            result = s.execute(
                update(FindingRow)
                .where(FindingRow.status == FindingStatus.ACKNOWLEDGED.value,
                       FindingRow.ack_until <= now)
                .values(status=FindingStatus.OPEN.value, updated_at=now)
            )  # fmt: skip
            return int(getattr(result, "rowcount", 0) or 0)

    def _shared_public_keys(self) -> dict[str, int]:
        """Public keys behind more than one active discovered certificate (one grouped query;
        the result holds only the shared keys)."""
        key = CredentialRow.attributes["public_key_fingerprint"].as_string()
        with self._db.session() as s:
            rows = s.execute(
                select(key, func.count())
                .where(CredentialRow.kind == CredentialKind.X509_CERTIFICATE.value,
                       CredentialRow.source == CredentialSource.DISCOVERED.value,
                       CredentialRow.status == CredentialStatus.ACTIVE.value, key.is_not(None))
                .group_by(key)
                .having(func.count() > 1)
            ).all()  # fmt: skip
        return {str(k): int(n) for k, n in rows}

    def _page_pass(
        self, after: str | None, config: PostureConfig, shared: Mapping[str, int],
        now: datetime, tally: _Tally,
    ) -> str | None:  # fmt: skip
        """Evaluate the page after `after`; returns its last id, or None after the last page."""
        for attempt in (1, 2):
            with self._db.session() as s:
                stmt = select(*_CREDENTIAL_COLUMNS).order_by(CredentialRow.id).limit(self._page)
                if after is not None:
                    stmt = stmt.where(CredentialRow.id > after)
                rows = s.execute(stmt).all()
                last = rows[-1].id if len(rows) == self._page else None
                identities = _identities(s, {r.identity_id for r in rows if r.identity_id})
                existing = self._existing(s, after, last)
            desired = self._desired(rows, identities, config, shared, now)
            changes = _diff(desired, existing, self._new_row, now)
            try:
                self._write(changes)
            except IntegrityError:  # a concurrent evaluation inserted the same finding
                if attempt == 2:
                    raise
                continue
            tally.evaluated += len(rows)
            tally.opened += len(changes.inserts) + len(changes.reopens)
            tally.refreshed += len(changes.refreshes)
            tally.resolved += len(changes.resolves)
            return last
        return None  # pragma: no cover - the loop returns or raises

    def _existing(self, s: Session, low: str | None, high: str | None) -> dict[Key, Row[Any]]:
        stmt = select(*_FINDING_COLUMNS).where(FindingRow.rule_id.in_(self._rule_ids),
                                               FindingRow.credential_id.is_not(None))  # fmt: skip
        if low is not None:
            stmt = stmt.where(FindingRow.credential_id > low)
        if high is not None:
            stmt = stmt.where(FindingRow.credential_id <= high)
        return {(r.rule_id, r.subject_key): r for r in s.execute(stmt)}

    def _desired(
        self, rows: Iterable[Row[Any]], identities: Mapping[str, _Identity],
        config: PostureConfig, shared: Mapping[str, int], now: datetime,
    ) -> dict[Key, NewFinding]:  # fmt: skip
        out: dict[Key, NewFinding] = {}
        # per environment: its context, and the enabled rules for active and other credentials
        plans: dict[str | None, tuple[Context, tuple[Rule, ...], tuple[Rule, ...]]] = {}
        for row in rows:
            subject = _subject(row, identities.get(row.identity_id or ""))
            plan = plans.get(subject.environment)
            if plan is None:
                settings = config.for_environment(subject.environment)
                enabled = tuple(r for r in self._rules if settings.enabled(r.info.id))
                inactive = tuple(r for r in enabled if not r.active_only)
                plan = plans[subject.environment] = (Context(now, settings, shared), enabled,
                                                     inactive)  # fmt: skip
            ctx, enabled, inactive = plan
            for rule in enabled if subject.status == _ACTIVE else inactive:
                hit = rule.check(subject, ctx)
                if hit is None:
                    continue
                rule_id = rule.info.id.value
                out[(rule_id, subject.id)] = NewFinding(
                    rule_id, subject.id, hit.severity or rule.info.severity, hit.title,
                    dict(hit.details), credential_id=subject.id, identity_id=subject.identity_id,
                )  # fmt: skip
        return out

    def _ca_pass(self, now: datetime, tally: _Tally) -> None:
        with self._db.session() as s:
            desired = {(f.rule_id, f.subject_key): f for f in ca_findings(s, now)}
            existing = {
                (r.rule_id, r.subject_key): r
                for r in s.execute(select(*_FINDING_COLUMNS).where(
                    FindingRow.rule_id == CA_RULE.id.value))
            }  # fmt: skip
        changes = _diff(desired, existing, self._new_row, now)
        self._write(changes)
        tally.opened += len(changes.inserts) + len(changes.reopens)
        tally.refreshed += len(changes.refreshes)
        tally.resolved += len(changes.resolves)

    def _new_row(self, f: NewFinding, now: datetime) -> dict[str, Any]:
        return {
            "id": new_ulid(self._clock, self._rng), "rule_id": f.rule_id,
            "subject_key": f.subject_key[:128], "credential_id": f.credential_id,
            "identity_id": f.identity_id, "severity": f.severity.value, "risk": RISK[f.severity],
            "status": FindingStatus.OPEN.value, "title": f.title[:512],
            "details": dict(f.details), "opened_at": now, "updated_at": now,
            "resolved_at": None, "ack_reason": None, "ack_by": None, "ack_until": None,
        }  # fmt: skip

    def _write(self, changes: _Changes) -> None:
        if not (changes.inserts or changes.refreshes or changes.reopens or changes.resolves):
            return
        with self._db.session(write=True) as s:
            if changes.inserts:
                s.execute(insert(FindingRow), changes.inserts)
            for batch in (changes.refreshes, changes.reopens, changes.resolves):
                if batch:
                    s.execute(update(FindingRow), batch)


def _identities(s: Session, ids: set[str]) -> dict[str, _Identity]:
    if not ids:
        return {}
    rows = s.execute(
        select(IdentityRow.id, IdentityRow.owner, IdentityRow.status, IdentityRow.environment)
        .where(IdentityRow.id.in_(sorted(ids)))
    )  # fmt: skip
    return {r.id: _Identity(r.owner, r.status, r.environment) for r in rows}


def _opt(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _subject(row: Row[Any], identity: _Identity | None) -> Subject:
    return Subject(
        id=row.id, kind=row.kind, name=row.name, status=row.status, source=row.source,
        owner=row.owner, identity_id=row.identity_id,
        identity_owner=identity.owner if identity else None,
        identity_status=identity.status if identity else None,
        environment=identity.environment if identity else None,
        issued_at=_opt(row.issued_at), not_after=_opt(row.not_after),
        created_at=as_utc(row.created_at), last_used_at=_opt(row.last_used_at),
        last_rotated_at=_opt(row.last_rotated_at), key_type=row.key_type,
        key_bits=row.key_bits, signature_algorithm=row.signature_algorithm,
        attributes=row.attributes if isinstance(row.attributes, dict) else {},
    )  # fmt: skip


def _diff(
    desired: Mapping[Key, NewFinding], existing: Mapping[Key, Row[Any]],
    new_row: Any, now: datetime,
) -> _Changes:  # fmt: skip
    """Inserts for new causes, reopens for returned ones, refreshes for changed ones (only
    when something changed: a steady estate writes nothing), resolves for causes gone."""
    out = _Changes()
    for key, f in desired.items():
        row = existing.get(key)
        if row is None:
            out.inserts.append(new_row(f, now))
            continue
        fields = {"id": row.id, "severity": f.severity.value, "risk": RISK[f.severity],
                  "title": f.title[:512], "details": dict(f.details),
                  "credential_id": f.credential_id, "identity_id": f.identity_id,
                  "updated_at": now}  # fmt: skip
        if row.status == FindingStatus.RESOLVED.value:
            out.reopens.append({**fields, "status": FindingStatus.OPEN.value, "opened_at": now,
                                "resolved_at": None, "ack_reason": None, "ack_by": None,
                                "ack_until": None})  # fmt: skip
        elif (row.severity, row.title, row.details, row.identity_id, row.credential_id) != (
            f.severity.value,
            f.title[:512],
            dict(f.details),
            f.identity_id,
            f.credential_id,
        ):
            out.refreshes.append(fields)
    for key, row in existing.items():
        if key not in desired and row.status != FindingStatus.RESOLVED.value:
            out.resolves.append({"id": row.id, "status": FindingStatus.RESOLVED.value,
                                 "resolved_at": now, "updated_at": now})  # fmt: skip
    return out
