"""Group commit for issuance: concurrent requests share the two transactions of the write order.

Every caller queues a job and waits (a thread blocks, a coroutine awaits). One worker thread
runs cycles: each cycle is one transaction that (1) records the certificates signed in the
previous cycle with their inventory rows and (2) inserts the intent rows (serials reserved) of
up to `max_batch` newly queued jobs; after it commits, the recorded callers are answered and
the new jobs are signed, to be recorded by the next cycle. The write order of each certificate
is unchanged (intent committed → sign → record committed → answer); only the commits are
shared. A failure of one job (identity decommissioned, CA revoked meanwhile) fails
that job alone; a failing transaction fails its batch, and intents left `pending` are repaired
as `abandoned` — those certificates never left the process.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.inventory.models import CredentialKind, CredentialStatus
from tessera.inventory.service import InventoryService
from tessera.pki import keys, records
from tessera.pki import repository as repo
from tessera.pki.cas import CAService
from tessera.pki.errors import CAUnavailable
from tessera.pki.models import CAStatus, Certificate, CertStatus, IssuedCertificate
from tessera.pki.plan import Plan
from tessera.pki.profile import Profile
from tessera.pki.x509build import leaf_certificate
from tessera.storage.db import Database
from tessera.storage.models import PkiCaRow, PkiCertificateRow

log = logging.getLogger("tessera.pki.issue")
MAX_BATCH = 64
CA_CACHE_TTL = 1.0  # seconds; the record step re-reads CA status, so staleness only delays
_T = cast(Table, PkiCertificateRow.__table__)
_CA = cast(Table, PkiCaRow.__table__)
# statements built once: building and cache-keying them per batch cost more than running them
_INSERT_INTENTS = insert(_T)
_ACTIVE_CAS = (
    select(_CA.c.id)
    .where(_CA.c.id.in_(bindparam("ids", expanding=True)), _CA.c.status == CAStatus.ACTIVE.value)
    .with_for_update(read=True)
)
_LOCK_PENDING = (
    select(_T.c.id)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)), _T.c.status == CertStatus.PENDING.value)
    .with_for_update()
)
_LOCK_ISSUED = (
    select(_T.c.id)
    .where(_T.c.id.in_(bindparam("ids", expanding=True)), _T.c.status == CertStatus.ISSUED.value)
    .with_for_update()
)
_SUCCEEDED = select(_T.c.renewed_from).where(
    _T.c.renewed_from.in_(bindparam("ids", expanding=True)),
    _T.c.status == CertStatus.ISSUED.value,
)
_MARK_ISSUED = (
    update(_T)
    .where(_T.c.id == bindparam("row_id"))
    .values(
        status=CertStatus.ISSUED.value,
        credential_id=bindparam("cred"),
        fingerprint=bindparam("fp"),
        der=bindparam("der_"),
        not_before=bindparam("nb"),
        not_after=bindparam("na"),
    )
)


@dataclass(eq=False)
class Job:
    """One certificate to issue, and where its caller waits for the outcome."""

    profile: Profile
    plan: Plan
    identity: str | None
    renewed_from: str | None
    # scheduled renewal: refused when the certificate already has an issued successor
    once: bool = False
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    wake: threading.Event = field(default_factory=threading.Event)
    notify: Callable[[], object] | None = None
    done: bool = False  # settled early (failed before signing): the batch skips it
    result: IssuedCertificate | None = None
    error: BaseException | None = None
    # filled while the batch runs
    row_id: str = ""
    serial: int = 0
    ca: PkiCaRow | None = None
    identity_id: str | None = None
    owner: str | None = None
    cert: x509.Certificate | None = None


class IssueBatcher:
    """Group commit of issuance jobs by one worker thread (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        cas: CAService,
        inventory: InventoryService,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._cas = cas
        self._inventory = inventory
        self._max = max_batch
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._worker: threading.Thread | None = None
        self._ca_cache: dict[str, tuple[PkiCaRow, float]] = {}  # only the worker touches it

    def submit(self, job: Job) -> IssuedCertificate:
        """Queue the job and block until its certificate is recorded (or it failed)."""
        self._enqueue(job)
        job.wake.wait()
        return _outcome(job)

    def submit_many(self, jobs: list[Job]) -> None:
        """Queue every job at once and block until each is settled (see `_outcome`)."""
        with self._cond:
            for job in jobs:
                self._queue.append(job)
            self._start()
            self._cond.notify()
        for job in jobs:
            job.wake.wait()

    async def submit_async(self, job: Job) -> IssuedCertificate:
        """Queue the job and await it without holding a thread of the event loop's pool."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        job.notify = lambda: loop.call_soon_threadsafe(_resolve, future)
        self._enqueue(job)
        await future
        return _outcome(job)

    def _enqueue(self, job: Job) -> None:
        with self._cond:
            self._queue.append(job)
            self._start()
            self._cond.notify()

    def _start(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="pki-issue", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        try:
            self._loop()
        except BaseException:  # never silently: the callers waiting now get an error
            log.exception("the issuance worker stopped; it restarts with the next request")
            with self._cond:
                stranded, self._queue = list(self._queue), deque()
                self._worker = None
            for job in stranded:
                job.error = job.error or RuntimeError("the issuance worker stopped")
            _wake(stranded)
            raise

    def _loop(self) -> None:
        signed: list[Job] = []  # signed in the previous cycle, recorded in this one
        while True:
            with self._cond:
                while not self._queue and not signed:
                    self._cond.wait()
                fresh = [self._queue.popleft() for _ in range(min(self._max, len(self._queue)))]
            settled = signed
            try:
                self._cycle(signed, fresh)
            except BaseException as exc:  # the transaction failed: every caller gets the cause
                for job in signed + fresh:
                    if job.result is None and job.error is None:
                        job.error, job.done = exc, True
            signed = []
            for job in fresh:
                if job.done:  # refused before signing (or the cycle failed)
                    settled.append(job)
                    continue
                try:
                    job.cert = self._sign(job)
                except Exception as exc:
                    job.error = exc  # recorded as abandoned next cycle
                signed.append(job)
            _wake(settled)

    # -- the steps ---------------------------------------------------------------------------
    def _cycle(self, signed: list[Job], fresh: list[Job]) -> None:
        """One transaction: record what was signed last cycle (its callers are answered after
        the commit) and reserve the serials of the fresh jobs (signed after the commit).
        Pipelining the two halves this way costs one commit per cycle, not two per batch."""
        contexts = [j.context for j in signed + fresh]
        for attempt in range(2):
            try:
                with self._db.session(write=True, on_behalf=contexts) as s:
                    results = self._record(s, signed) if signed else []
                    if fresh:
                        self._reserve(s, fresh)
                # only a committed record is answered: a failed commit answers an error
                for job, result in results:
                    job.result = result
                return
            except IntegrityError:  # a repeated random serial (p ≈ 2^-120): draw again
                if attempt:
                    raise

    def _reserve(self, s: Session, batch: list[Job]) -> None:
        cas: dict[str, PkiCaRow | BaseException] = {}
        rows = []
        now = self._clock.now()
        for job in batch:
            if job.done:
                continue
            try:
                issuer = job.profile.issuer
                if issuer not in cas:
                    try:
                        ca = self._ca(s, issuer)
                        # a profile read before a rollover (cached up to a second on another
                        # node) still names the retired CA: issuance follows its successor
                        for _ in range(3):
                            if ca.status != CAStatus.RETIRED.value or not ca.successor_id:
                                break
                            ca = s.get(PkiCaRow, ca.successor_id) or ca
                        self._cas.require_issuing(ca)
                        cas[issuer] = ca
                    except Exception as exc:
                        cas[issuer] = exc
                found = cas[issuer]
                if isinstance(found, BaseException):
                    raise found
                job.ca = found
                job.identity_id, job.owner = self._bind(s, job.identity)
            except Exception as exc:
                job.error, job.done = exc, True
                continue
            job.row_id = new_ulid(self._clock, self._rng)
            job.serial = records.new_serial(self._rng)
            rows.append(
                {
                    "id": job.row_id,
                    "ca_id": job.ca.id,
                    "serial": repo.format_serial(job.serial),
                    "status": CertStatus.PENDING.value,
                    "profile": job.profile.name,
                    "identity_id": job.identity_id,
                    "credential_id": None,
                    "fingerprint": None,
                    "common_name": job.plan.common_name[:1024],
                    "not_before": None,
                    "not_after": None,
                    "der": None,
                    "renewed_from": job.renewed_from,
                    "revoked_at": None,
                    "revocation_reason": None,
                    "created_at": now,
                }
            )
        if rows:
            s.connection().execute(_INSERT_INTENTS, rows)  # Core executemany: no ORM per row

    def forget(self) -> None:
        """Drop cached CA rows (after a rollover or a CA revocation on this node)."""
        self._ca_cache = {}

    def _ca(self, s: Session, name: str) -> PkiCaRow:
        """The issuing CA by name, cached for a second: `_record` re-reads its status before
        anything is recorded, so a CA revoked meanwhile still fails the request."""
        hit = self._ca_cache.get(name)
        now = self._clock.monotonic()
        if hit is not None and now - hit[1] < CA_CACHE_TTL:
            return hit[0]
        row = repo.ca_by_name(s, name)
        if row.status == CAStatus.ACTIVE.value:  # a pending CA may be imported any moment
            self._ca_cache[name] = (row, now)
        return row

    def _sign(self, job: Job) -> x509.Certificate:
        assert job.ca is not None
        p = job.plan
        now = self._clock.now()
        not_after = records.not_after_clamped(now + p.ttl, as_utc(job.ca.not_after or now))
        return leaf_certificate(
            p.subject, p.public_key, self._cas.issuer(job.ca), job.serial,
            now - records.BACKDATE, not_after, p.sans, job.profile.usage.eku(),
        )  # fmt: skip

    def _record(self, s: Session, live: list[Job]) -> list[tuple[Job, IssuedCertificate]]:
        """Record the signed certificates; returns the results to hand out once committed.
        The CA rows (FOR SHARE), the intents and renewed rows (FOR UPDATE) are locked, so a CA
        revocation, decommission or repair that lands while we signed either waits for this
        commit (and then revokes what it recorded) or is seen here and fails the request."""
        conn = s.connection()
        ca_ids = list({j.ca.id for j in live if j.ca is not None})
        active = set(conn.execute(_ACTIVE_CAS, {"ids": ca_ids}).scalars())
        pending = set(conn.execute(_LOCK_PENDING, {"ids": [j.row_id for j in live]}).scalars())
        renewed_ids = [j.renewed_from for j in live if j.renewed_from is not None]
        renewable = set(conn.execute(_LOCK_ISSUED, {"ids": renewed_ids}).scalars())
        # under the lock on the renewed rows: a second scheduled renewal sees the first one
        once = [j.renewed_from for j in live if j.once and j.renewed_from is not None]
        succeeded = set(conn.execute(_SUCCEEDED, {"ids": once}).scalars()) if once else set()
        good: list[Job] = []
        for job in live:
            if job.error is None:
                try:
                    if job.ca is None or job.ca.id not in active:
                        raise CAUnavailable("the CA stopped issuing during the request")
                    if job.row_id not in pending:
                        raise CAUnavailable("the certificate intent was repaired meanwhile")
                    if job.renewed_from is not None and job.renewed_from not in renewable:
                        raise CAUnavailable("the certificate being renewed was revoked")
                    if job.once and job.renewed_from in succeeded:
                        raise Conflict("the certificate has been renewed already")
                    self._bind(s, job.identity)
                    good.append(job)
                except Exception as exc:
                    job.error = exc
        failed = [j.row_id for j in live if j.error is not None]
        if failed:
            s.execute(
                update(PkiCertificateRow)
                .where(PkiCertificateRow.id.in_(failed))
                .values(status=CertStatus.ABANDONED.value)
            )
        recs = []
        ders = []
        for job in good:
            assert job.cert is not None and job.ca is not None
            der = job.cert.public_bytes(serialization.Encoding.DER)
            ders.append(der)
            recs.append(
                records.credential_for(
                    job.cert,
                    der,
                    job.plan.sans.as_text(),
                    ca_id=job.ca.id,
                    serial=repo.format_serial(job.serial),
                    common_name=job.plan.common_name,
                    profile=job.profile.name,
                    identity_id=job.identity_id,
                    owner=job.owner,
                    issuer_subject=job.ca.subject,
                    renewed_from=job.renewed_from,
                )
            )
        cred_ids = self._inventory.record_issued(s, recs)
        if good:
            s.connection().execute(
                _MARK_ISSUED,
                [
                    {
                        "row_id": j.row_id,
                        "cred": cid,
                        "fp": rec.fingerprint,
                        "der_": der,
                        "nb": rec.issued_at,
                        "na": rec.not_after,
                    }
                    for j, cid, rec, der in zip(good, cred_ids, recs, ders, strict=True)
                ],
            )
        renewed = [j for j in good if j.renewed_from is not None]
        if renewed:
            old = select(PkiCertificateRow.fingerprint).where(
                PkiCertificateRow.id.in_([j.renewed_from for j in renewed])
            )
            self._inventory.set_status_of_fingerprints(
                s,
                CredentialKind.X509_CERTIFICATE.value,
                old,
                CredentialStatus.SUPERSEDED,
                self._clock.now(),
                only_from=CredentialStatus.ACTIVE,
            )
        results = []
        for job, cid, rec in zip(good, cred_ids, recs, strict=True):
            assert job.ca is not None and job.cert is not None
            result = IssuedCertificate(
                certificate=_certificate(job, cid, rec.fingerprint),
                chain_pem=self._cas.chain_pem(job.ca),
                private_key_pem=(
                    keys.private_pem(job.plan.private_key) if job.plan.private_key else None
                ),
            )
            results.append((job, result))
        return results

    def _bind(self, s: Session, identity: str | None) -> tuple[str | None, str | None]:
        if identity is None:
            return None, None
        return self._inventory.bind_identity(s, identity)


def _wake(jobs: list[Job]) -> None:
    for job in jobs:
        if job.result is None and job.error is None:
            job.error = RuntimeError("issuance ended without a result")
        job.wake.set()
        if job.notify is not None:
            try:
                job.notify()
            except RuntimeError:  # the caller's event loop is closed: nobody is waiting
                log.info("an issuance caller went away before its answer")


def outcome(job: Job) -> IssuedCertificate:
    """The job's certificate, or its error raised."""
    return _outcome(job)


def _outcome(job: Job) -> IssuedCertificate:
    if job.error is not None:
        raise job.error
    assert job.result is not None
    return job.result


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # the caller may have gone (client disconnected)
        future.set_result(None)


def _certificate(job: Job, credential_id: str, fingerprint: str) -> Certificate:
    assert job.ca is not None and job.cert is not None
    return Certificate(
        id=job.row_id,
        ca_id=job.ca.id,
        ca_name=job.ca.name,
        serial=repo.format_serial(job.serial),
        status=CertStatus.ISSUED,
        profile=job.profile.name,
        identity_id=job.identity_id,
        credential_id=credential_id,
        fingerprint=fingerprint,
        common_name=job.plan.common_name,
        not_before=job.cert.not_valid_before_utc,
        not_after=job.cert.not_valid_after_utc,
        certificate_pem=keys.cert_pem(job.cert),
        renewed_from=job.renewed_from,
        revoked_at=None,
        revocation_reason=None,
    )
