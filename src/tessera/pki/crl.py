"""Full CRLs per CA (RFC 5280 §5): CRL number, thisUpdate/nextUpdate, reason codes.

Rebuilds never hold a write transaction while they build: a short transaction claims the work
(clears `crl_dirty` and notes the current CRL number), the entries are read and signed outside
any lock, and a second short transaction stores the CRL only if nobody stored a newer one in
between (else the CA is marked dirty again). Revocations made after the claim set `crl_dirty`
again, so nothing is ever missed. Built entries are cached per CA: entries are only ever added,
so a rebuild after a few revocations signs 100,000 entries in about a second.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from tessera.core.clock import Clock, as_utc
from tessera.core.errors import NotFound
from tessera.pki.cas import CAService
from tessera.pki.keys import signature_hash
from tessera.pki.models import CAStatus, CertStatus, RevocationReason
from tessera.pki.pem import armor
from tessera.pki.repository import valid_id
from tessera.storage.db import Database
from tessera.storage.models import PkiCaRow, PkiCertificateRow, PkiCrlRow

log = logging.getLogger("tessera.pki.crl")
CRL_VALIDITY = timedelta(hours=24)
REFRESH_CLAIM = timedelta(minutes=5)
SERVE_TTL = 1.0  # seconds a served CRL stays in memory before the database is asked again


@dataclass(frozen=True)
class StoredCrl:
    """A CA's current CRL as served."""

    number: int
    this_update: datetime
    next_update: datetime
    der: bytes
    entries: int

    @cached_property
    def pem(self) -> str:
        return armor(self.der, "X509 CRL")


class CrlService:
    """Builds, stores and serves CRLs; `due` says which CAs need a rebuild."""

    def __init__(
        self, db: Database, clock: Clock, cas: CAService, validity: timedelta = CRL_VALIDITY
    ) -> None:
        self._db = db
        self._clock = clock
        self._cas = cas
        self._validity = validity
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, x509.RevokedCertificate]] = {}
        self._served: dict[str, tuple[StoredCrl, float]] = {}

    def current(self, ca_id: str) -> StoredCrl:
        """The stored CRL; built now if the CA has none yet. Served from memory for up to a
        second (a large CRL is megabytes: not read from the database per request); a rebuild
        on this node replaces it at once."""
        hit = self._served.get(ca_id)
        if hit is not None and self._clock.monotonic() - hit[1] < SERVE_TTL:
            return hit[0]
        crl = self._load(ca_id)
        with self._lock:
            self._served[ca_id] = (crl, self._clock.monotonic())
        return crl

    def _load(self, ca_id: str) -> StoredCrl:
        for _ in range(3):
            with self._db.session() as s:
                row = s.get(PkiCrlRow, ca_id) if valid_id(ca_id) else None
                ca = s.get(PkiCaRow, ca_id) if valid_id(ca_id) else None
            if ca is None or ca.status == CAStatus.PENDING.value:
                raise NotFound("no such CA")
            if row is not None:
                return StoredCrl(
                    row.number,
                    as_utc(row.this_update),
                    as_utc(row.next_update),
                    row.der,
                    row.entries,
                )
            self.rebuild(ca_id, force=True)
        raise NotFound("the CRL is being built; retry")

    def due(self) -> list[str]:
        """CAs whose CRL is dirty, missing, or past half its validity (refreshed early)."""
        refresh_before = self._clock.now() + self._validity / 2
        with self._db.session() as s:
            stmt = (
                select(PkiCaRow.id)
                .outerjoin(PkiCrlRow, PkiCrlRow.ca_id == PkiCaRow.id)
                .where(
                    PkiCaRow.status != CAStatus.PENDING.value,
                    or_(
                        PkiCaRow.crl_dirty.is_(True),
                        PkiCrlRow.ca_id.is_(None),
                        PkiCrlRow.next_update < refresh_before,
                    ),
                )
            )
            return list(s.execute(stmt).scalars())

    def rebuild(self, ca_id: str, *, force: bool = False) -> bool:
        """Build and store a new CRL for the CA; False when another builder got there first."""
        with self._db.session(write=True) as s:
            claimed = s.execute(
                update(PkiCaRow)
                .where(PkiCaRow.id == ca_id, PkiCaRow.crl_dirty.is_(True))
                .values(crl_dirty=False)
            )
            was_dirty = bool(getattr(claimed, "rowcount", 0))
            existing = s.get(PkiCrlRow, ca_id)
            base = existing.number if existing is not None else 0
            ca = s.get(PkiCaRow, ca_id)
            now = self._clock.now()
            fresh = existing is not None and (
                as_utc(existing.next_update) - now > self._validity / 2
            )
            if existing is not None and not fresh and not (was_dirty or force):
                # the periodic refresh is claimed too: moving the row's refresh time a few
                # minutes on keeps the other nodes' `due` from picking it up meanwhile (if this
                # node dies, the refresh falls due again after REFRESH_CLAIM)
                refreshing = s.execute(
                    update(PkiCrlRow)
                    .where(PkiCrlRow.ca_id == ca_id, PkiCrlRow.number == base)
                    .values(next_update=now + self._validity / 2 + REFRESH_CLAIM)
                )
                if not getattr(refreshing, "rowcount", 0):
                    return False
        if ca is None or ca.certificate_der is None:
            return False
        if fresh and not (was_dirty or force):
            return False
        try:
            stored = self._build(ca, base + 1)
        except BaseException:
            if was_dirty:
                self._mark_dirty(ca_id)
            raise
        if not self._store(ca_id, base, stored):
            if was_dirty:  # our claim covered revocations the stored CRL may lack
                self._mark_dirty(ca_id)
            return False
        with self._lock:
            self._served[ca_id] = (stored, self._clock.monotonic())
        return True

    def _store(self, ca_id: str, base: int, stored: StoredCrl) -> bool:
        """Compare-and-swap on the CRL number: store only over CRL `base` (none when 0), so
        two nodes that built from the same base cannot both store, nor one overwrite a newer
        CRL with an older one. False when another builder got there first."""
        values = {
            "number": stored.number,
            "this_update": stored.this_update,
            "next_update": stored.next_update,
            "der": stored.der,
            "entries": stored.entries,
        }
        try:
            with self._db.session(write=True) as s:
                if base == 0:
                    s.execute(insert(PkiCrlRow).values(ca_id=ca_id, **values))
                    return True
                swapped = s.execute(
                    update(PkiCrlRow)
                    .where(PkiCrlRow.ca_id == ca_id, PkiCrlRow.number == base)
                    .values(**values)
                )
                return bool(getattr(swapped, "rowcount", 0))
        except IntegrityError:  # another node stored the first CRL at the same moment
            return False

    def _build(self, ca: PkiCaRow, number: int) -> StoredCrl:
        with self._db.session() as s:
            rows = s.execute(
                select(
                    PkiCertificateRow.serial,
                    PkiCertificateRow.revoked_at,
                    PkiCertificateRow.revocation_reason,
                ).where(
                    PkiCertificateRow.ca_id == ca.id,
                    PkiCertificateRow.status == CertStatus.REVOKED.value,
                )
            ).all()
        now = self._clock.now().replace(microsecond=0)
        cache = self._entries.setdefault(ca.id, {})
        entries = []
        for serial, revoked_at, reason in rows:
            entry = cache.get(serial)
            if entry is None:
                builder = (
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(serial, 16))
                    .revocation_date(as_utc(revoked_at or now))
                )
                flag = RevocationReason.encoded(reason)
                if flag is not None:
                    builder = builder.add_extension(x509.CRLReason(flag), critical=False)
                entry = builder.build()
                cache[serial] = entry
            entries.append(entry)
        issuer = self._cas.issuer(ca)
        crl = x509.CertificateRevocationListBuilder(
            issuer_name=issuer.name,
            last_update=now,
            next_update=now + self._validity,
            extensions=[
                x509.Extension(
                    x509.AuthorityKeyIdentifier.oid,
                    False,
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key),
                ),
                x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
            ],
            revoked_certificates=entries,
        ).sign(issuer.key, signature_hash(issuer.key))
        return StoredCrl(
            number,
            now,
            now + self._validity,
            crl.public_bytes(serialization.Encoding.DER),
            len(entries),
        )

    def _mark_dirty(self, ca_id: str) -> None:
        with self._db.session(write=True) as s:
            s.execute(update(PkiCaRow).where(PkiCaRow.id == ca_id).values(crl_dirty=True))

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()
            self._served.clear()
