"""Scans as jobs, and what they found into the inventory.

A CLI scan (files, secrets, TLS from where the network is) opens a scan, uploads its findings in
batches and completes it; the server runs TLS scans itself when asked through the API. On
completion, locations under the scan's scope that it did not see again are removed from their
credentials (kept in `attributes.gone_locations`); a credential with no location left is marked
`missing_since` until a later scan finds it again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.discovery.models import DiscoveredCredential, ScanError
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    LocationKind,
    RecordCredential,
)
from tessera.inventory.service import InventoryService
from tessera.policy.models import Capability
from tessera.policy.service import PolicyService
from tessera.storage.db import Database
from tessera.storage.models import CredentialLocationRow, CredentialRow
from tessera.storage.models_discovery import DiscoveryScanRow

log = logging.getLogger("tessera.discovery")
MAX_BATCH = 1000
MAX_SCOPE = 1000
MAX_GONE_KEPT = 20
ERROR_SAMPLES = 50
# Attributes Tessera keeps about discovery itself; uploads cannot set them.
RESERVED_ATTRIBUTES = frozenset({"missing_since", "gone_locations", "last_scan"})


class ScanKind(StrEnum):
    SECRETS = "secrets"
    FILES = "files"
    TLS = "tls"


# What each kind of scan can see: a scan only removes locations it would have reported.
SCAN_REACH: dict[ScanKind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    ScanKind.SECRETS: (
        (LocationKind.FILE.value, LocationKind.GIT.value), (CredentialKind.LEAKED_SECRET.value,)
    ),
    ScanKind.FILES: (
        (LocationKind.FILE.value,),
        (CredentialKind.X509_CERTIFICATE.value, CredentialKind.PRIVATE_KEY.value,
         CredentialKind.SSH_KEY.value),
    ),
    ScanKind.TLS: ((LocationKind.ENDPOINT.value,), (CredentialKind.X509_CERTIFICATE.value,)),
}  # fmt: skip


class ScanStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class Scan:
    """A scan as callers see it."""

    id: str
    kind: ScanKind
    status: ScanStatus
    scope: tuple[str, ...]
    started_at: datetime
    finished_at: datetime | None
    credentials: int
    new_credentials: int
    locations: int
    missing: int
    errors: int
    error_samples: tuple[dict[str, str], ...]
    failure: str | None


def _scan(row: DiscoveryScanRow) -> Scan:
    return Scan(
        row.id, ScanKind(row.kind), ScanStatus(row.status), tuple(row.scope),
        as_utc(row.started_at), None if row.finished_at is None else as_utc(row.finished_at),
        row.credentials, row.new_credentials, row.locations, row.missing, row.errors,
        tuple(row.error_samples), row.failure,
    )  # fmt: skip


def _check_scope(scope: Sequence[str]) -> list[str]:
    if len(scope) > MAX_SCOPE:
        raise InvalidRequest(f"scope: at most {MAX_SCOPE} prefixes")
    out = []
    for prefix in scope:
        if not isinstance(prefix, str) or not 0 < len(prefix) <= 1024 or "\x00" in prefix:
            raise InvalidRequest("scope entries must be 1-1024 characters")
        out.append(prefix)
    return out


class DiscoveryService:
    """Scan jobs and the ingestion of their findings (policy paths `discovery/scans…`)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        policies: PolicyService,
        inventory: InventoryService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._policies = policies
        self._inventory = inventory

    def start(
        self, p: Principal, kind: ScanKind, scope: Sequence[str],
        request: dict[str, Any] | None = None, *, sudo: bool = False,
    ) -> Scan:  # fmt: skip
        """Open a scan covering `scope` (location prefixes); results follow in batches. A scope
        lets the scan remove locations it did not see again, so it takes sudo."""
        self._policies.authorize(
            p, f"discovery/scans/{kind.value}", Capability.CREATE, sudo=sudo or bool(scope)
        )
        now = self._clock.now()
        row = DiscoveryScanRow(
            id=new_ulid(self._clock, self._rng), kind=kind.value,
            status=ScanStatus.RUNNING.value, scope=_check_scope(scope), request=request or {},
            created_by=p.accessor, started_at=now, finished_at=None, credentials=0,
            new_credentials=0, locations=0, missing=0, errors=0, error_samples=[], failure=None,
        )  # fmt: skip
        with self._db.session(write=True) as s:
            s.add(row)
        return _scan(row)

    def get(self, p: Principal, scan_id: str) -> Scan:
        if not scan_id.isalnum() or len(scan_id) > 32:
            raise NotFound("no such scan")
        self._policies.authorize(p, f"discovery/scans/{scan_id}", Capability.READ)
        with self._db.session() as s:
            row = s.get(DiscoveryScanRow, scan_id)
            if row is None:
                raise NotFound("no such scan")
            return _scan(row)

    def list_scans(self, p: Principal, limit: int = 50) -> list[Scan]:
        self._policies.authorize(p, "discovery/scans", Capability.LIST)
        if not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be between 1 and 1000")
        with self._db.session() as s:
            q = select(DiscoveryScanRow).order_by(DiscoveryScanRow.id.desc()).limit(limit)
            return [_scan(r) for r in s.scalars(q)]

    def _running(self, s: Session, scan_id: str) -> DiscoveryScanRow:
        row = s.get(DiscoveryScanRow, scan_id)
        if row is None:
            raise NotFound("no such scan")
        if row.status != ScanStatus.RUNNING.value:
            raise Conflict(f"scan {scan_id} is {row.status}")
        return row

    def add_results(
        self, p: Principal, scan_id: str, found: Sequence[DiscoveredCredential],
        errors: Sequence[ScanError] = (),
    ) -> Scan:  # fmt: skip
        """Record one batch of findings (one transaction); repeated locations are refreshed."""
        if len(found) > MAX_BATCH or len(errors) > MAX_BATCH:
            raise InvalidRequest(f"at most {MAX_BATCH} credentials and errors per batch")
        self._policies.authorize(p, f"discovery/scans/{scan_id}", Capability.UPDATE)
        with self._db.session(write=True) as s:
            row = self._running(s, scan_id)
            for cred in found:
                self._record(s, row, cred)
            row.errors += len(errors)
            room = ERROR_SAMPLES - len(row.error_samples)
            if room > 0 and errors:
                samples = [{"where": e.where[:512], "message": e.message[:512]} for e in errors]
                row.error_samples = [*row.error_samples, *samples[:room]]
            s.flush()
            return _scan(row)

    def _record(self, s: Session, scan: DiscoveryScanRow, cred: DiscoveredCredential) -> None:
        clean = {k: v for k, v in cred.attributes.items() if k not in RESERVED_ATTRIBUTES}
        existing = s.scalar(
            select(CredentialRow.id).where(
                CredentialRow.kind == cred.kind.value, CredentialRow.fingerprint == cred.fingerprint
            )
        )
        scan.credentials += 1
        scan.new_credentials += existing is None
        wheres: list[tuple[LocationKind, str] | None] = [
            (loc.kind, loc.location[:1024]) for loc in cred.locations
        ] or [None]
        for where in wheres:
            credential_id = self._inventory.record(
                s,
                RecordCredential(
                    kind=cred.kind, fingerprint=cred.fingerprint, name=cred.name[:512],
                    source=CredentialSource.DISCOVERED, not_after=cred.not_after,
                    attributes={**clean, "last_scan": scan.id}, location=where,
                ),
            )  # fmt: skip
        scan.locations += len(cred.locations)
        row = s.get(CredentialRow, credential_id)
        if row is not None and ("missing_since" in row.attributes or existing is not None):
            # found (again): refresh what the scanner knows, keep what others wrote
            attrs = {k: v for k, v in row.attributes.items() if k != "missing_since"}
            if row.source == CredentialSource.DISCOVERED.value:
                attrs.update(clean)
            attrs["last_scan"] = scan.id
            row.attributes = attrs

    def complete(self, p: Principal, scan_id: str) -> Scan:
        """Close the scan; locations under its scope not seen since it started are gone."""
        self._policies.authorize(p, f"discovery/scans/{scan_id}", Capability.UPDATE)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = self._running(s, scan_id)
            row.missing = self._mark_gone(
                s, ScanKind(row.kind), list(row.scope), as_utc(row.started_at), now
            )
            row.status = ScanStatus.COMPLETED.value
            row.finished_at = now
            s.flush()
            return _scan(row)

    def fail(self, scan_id: str, reason: str) -> None:
        with self._db.session(write=True) as s:
            row = s.get(DiscoveryScanRow, scan_id)
            if row is not None and row.status == ScanStatus.RUNNING.value:
                row.status, row.failure = ScanStatus.FAILED.value, reason[:1024]
                row.finished_at = self._clock.now()

    def _mark_gone(
        self, s: Session, kind: ScanKind, scope: list[str], started: datetime, now: datetime
    ) -> int:
        """Remove locations this kind of scan reports, under its scope (at a path or port
        boundary), of credential kinds it finds, not seen since it started."""
        if not scope:
            return 0
        under = or_(
            *(
                or_(
                    CredentialLocationRow.location == pfx,
                    *(func.substr(CredentialLocationRow.location, 1, len(pfx) + 1) == pfx + sep
                      for sep in ("/", ":", "#", "@")),
                )
                for pfx in scope
            )
        )  # fmt: skip
        locs, kinds = SCAN_REACH[kind]
        stale = list(
            s.execute(
                select(
                    CredentialLocationRow.id, CredentialLocationRow.credential_id,
                    CredentialLocationRow.kind, CredentialLocationRow.location,
                    CredentialLocationRow.last_seen_at,
                )
                .join(CredentialRow, CredentialRow.id == CredentialLocationRow.credential_id)
                .where(
                    under, CredentialLocationRow.kind.in_(locs), CredentialRow.kind.in_(kinds),
                    CredentialLocationRow.last_seen_at < started,
                )
            )
        )  # fmt: skip
        if not stale:
            return 0
        ids = [r.id for r in stale]
        for i in range(0, len(ids), 500):  # bounded parameter lists on every engine
            s.execute(
                delete(CredentialLocationRow).where(CredentialLocationRow.id.in_(ids[i : i + 500]))
            )
        by_credential: dict[str, list[dict[str, str]]] = {}
        for r in stale:
            by_credential.setdefault(r.credential_id, []).append(
                {"kind": r.kind, "location": r.location,
                 "last_seen_at": as_utc(r.last_seen_at).isoformat()}
            )  # fmt: skip
        for credential_id, gone in by_credential.items():
            cred = s.get(CredentialRow, credential_id)
            if cred is None:
                continue
            left = s.scalar(
                select(func.count()).where(CredentialLocationRow.credential_id == credential_id)
            )
            attrs = dict(cred.attributes)
            attrs["gone_locations"] = [*attrs.get("gone_locations", []), *gone][-MAX_GONE_KEPT:]
            if not left:
                attrs["missing_since"] = now.isoformat()
            cred.attributes = attrs
            cred.updated_at = now
        return len(stale)


def run_in_background(work: Callable[[], None], name: str) -> threading.Thread:
    """Start `work` on a daemon thread (server-run scans); failures are logged by `work`."""
    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    return thread
