"""Scheduled renewal of managed certificates whose profile has `auto_renew`: at `renew_at` of
their lifetime the same public key is re-certified (holders fetch the successor; agents renew
with a new key on their own). Each renewal is claimed through the database (exactly once across
nodes); failures retry with back-off forever, and after three in a row become a finding and an
event — which resolve themselves when a later attempt succeeds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import select, tuple_

from tessera.core.clock import Clock, as_utc
from tessera.core.errors import TesseraError
from tessera.core.randomness import Randomness
from tessera.lifecycle.jobs import Claim, Jobs
from tessera.pki.issuance import IssuanceService
from tessera.pki.models import CertStatus
from tessera.pki.profile import Profile
from tessera.posture.findings import FindingStore, NewFinding, Severity
from tessera.storage.db import Database
from tessera.storage.models import PkiCertificateRow, PkiProfileRow

log = logging.getLogger("tessera.lifecycle.renewals")
KIND = "renew_certificate"
RULE = "renewal-failing"
FAILURES_BEFORE_FINDING = 3
MAX_PAGES = 20  # candidates read per pass: at most MAX_PAGES * batch
Event = Callable[[str, str, dict[str, object]], None]  # (type, severity, subject) → publish


class RenewalScheduler:
    """`run_once()` renews every due certificate (up to `batch`) from `threads` threads."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        issuance: IssuanceService,
        findings: FindingStore,
        node: str,
        publish: Event = lambda _t, _s, _d: None,
        threads: int = 4,
        batch: int = 500,
    ) -> None:
        self._db, self._clock = db, clock
        self._issuance = issuance
        self._findings = findings
        self._jobs = Jobs(db, clock, rng, KIND, node)
        self._publish = publish
        self._threads, self._batch = threads, batch

    def due(self) -> list[str]:
        """Certificates past their renewal point, without an issued (or in-flight) successor,
        not held by a claim, a pending retry or a finished job: up to `batch`, soonest expiry
        first. Blocked ones are filtered in the query, so they never starve the others."""
        now = self._clock.now()
        with self._db.session() as s:
            fractions = {}
            for name, doc in s.execute(select(PkiProfileRow.name, PkiProfileRow.document)):
                if doc.get("auto_renew") is True:
                    fractions[name] = Profile.from_document(name, doc).renew_at
            if not fractions:
                return []
            live = (CertStatus.ISSUED.value, CertStatus.PENDING.value)
            succeeded = select(PkiCertificateRow.renewed_from).where(
                PkiCertificateRow.renewed_from.is_not(None), PkiCertificateRow.status.in_(live)
            )
            due: list[str] = []
            after: tuple[datetime, str] | None = None
            for _ in range(MAX_PAGES):
                q = (
                    select(PkiCertificateRow.id, PkiCertificateRow.profile,
                           PkiCertificateRow.not_before, PkiCertificateRow.not_after)
                    .where(
                        PkiCertificateRow.status == CertStatus.ISSUED.value,
                        PkiCertificateRow.profile.in_(list(fractions)),
                        PkiCertificateRow.not_after > now,
                        PkiCertificateRow.id.not_in(succeeded),
                        PkiCertificateRow.id.not_in(self._jobs.blocked_query()),
                    )
                    .order_by(PkiCertificateRow.not_after, PkiCertificateRow.id)
                    .limit(self._batch)
                )  # fmt: skip
                if after is not None:
                    q = q.where(
                        tuple_(PkiCertificateRow.not_after, PkiCertificateRow.id) > tuple_(*after)
                    )
                rows = s.execute(q).all()
                for r in rows:
                    if (
                        r.not_before is not None
                        and r.profile is not None
                        and _due_at(as_utc(r.not_before), as_utc(r.not_after), fractions[r.profile])
                        <= now
                    ):
                        due.append(r.id)
                if len(due) >= self._batch or len(rows) < self._batch:
                    break
                after = (rows[-1].not_after, rows[-1].id)
        return due[: self._batch]

    def run_once(self) -> int:
        """Renew what is due; returns how many this node renewed."""
        due = self.due()
        if not due:
            return 0
        with ThreadPoolExecutor(self._threads, thread_name_prefix="renew") as pool:
            return sum(pool.map(self._renew_one, due))

    def _renew_one(self, cert_id: str) -> int:
        claim = self._jobs.claim(cert_id)
        if claim is None:
            return 0  # another node has it
        successor = self._already_renewed(cert_id)  # issued successors only
        if successor is not None:  # renewed before a crash lost the job's completion
            self._jobs.done(claim, successor)
            return 0
        try:
            issued = self._issuance.recertify(cert_id)
        except TesseraError as exc:
            self._failed(claim, exc.detail)
            return 0
        except Exception as exc:  # never let one certificate stop the others
            log.exception("renewing certificate %s failed", cert_id)
            self._failed(claim, f"internal error: {type(exc).__name__}")
            return 0
        self._jobs.done(claim, issued.certificate.id)
        if self._findings.resolve(RULE, cert_id):
            self._publish("renewal.recovered", "info", {"certificate_id": cert_id})
        return 1

    def _already_renewed(self, cert_id: str) -> str | None:
        with self._db.session() as s:
            return s.scalar(
                select(PkiCertificateRow.id).where(
                    PkiCertificateRow.renewed_from == cert_id,
                    PkiCertificateRow.status == CertStatus.ISSUED.value,
                )
            )

    def _failed(self, claim: Claim, error: str) -> None:
        attempts = self._jobs.failed(claim, error)
        log.warning("renewal of %s failed (attempt %d): %s", claim.subject_id, attempts, error)
        if attempts < FAILURES_BEFORE_FINDING:
            return
        with self._db.session() as s:
            row = s.get(PkiCertificateRow, claim.subject_id)
            credential_id = row.credential_id if row else None
        opened = self._findings.raise_(
            NewFinding(
                RULE, claim.subject_id, Severity.HIGH,
                f"Automatic renewal keeps failing ({attempts} attempts)",
                {"certificate_id": claim.subject_id, "attempts": attempts, "error": error[:300],
                 "remediation": "Fix the cause (CA status, profile, names); the renewal is "
                                "retried automatically."},
                credential_id=credential_id,
            )
        )  # fmt: skip
        if opened:
            self._publish("renewal.failed", "high", {"certificate_id": claim.subject_id,
                                                     "error": error[:300]})  # fmt: skip


def _due_at(not_before: datetime, not_after: datetime, fraction: float) -> datetime:
    return not_before + (not_after - not_before) * fraction
