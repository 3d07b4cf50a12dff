"""OCSP responder (RFC 6960) for one CA per URL: good / revoked / unknown, nonce echo (RFC 8954
length limits), signed by the CA or its delegated responder. Signed answers are cached and
re-signed once half their validity has passed; status is re-read at most every `status_ttl`
seconds, and at once on this node after a revocation."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from sqlalchemy import select

from tessera.core.clock import Clock, as_utc
from tessera.pki.cas import CAService
from tessera.pki.keys import signature_hash
from tessera.pki.models import CAStatus, CertStatus, RevocationReason
from tessera.pki.repository import format_serial, valid_id
from tessera.storage.db import Database
from tessera.storage.models import PkiCaRow, PkiCertificateRow

MAX_REQUEST = 8 * 1024
MAX_NONCE = 32  # RFC 8954 §2.1
MAX_CACHED = 20_000  # entries per cache
K = TypeVar("K")
V = TypeVar("V")
RESPONSE_VALIDITY = timedelta(hours=1)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class _Status:
    status: ocsp.OCSPCertStatus
    revoked_at: datetime | None
    reason: x509.ReasonFlags | None
    read_at: float


@dataclass(frozen=True)
class _Signed:
    der: bytes
    status: ocsp.OCSPCertStatus
    this_update: datetime


class OcspResponder:
    """`respond(ca_id, request DER)` → response DER; never raises for a client's bytes."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        cas: CAService,
        validity: timedelta = RESPONSE_VALIDITY,
        status_ttl: float = 1.0,
    ) -> None:
        self._db = db
        self._clock = clock
        self._cas = cas
        self._validity = validity
        self._status_ttl = status_ttl
        self._lock = threading.Lock()
        self._status: dict[tuple[str, int], _Status] = {}
        self._signed: dict[tuple[str, int, str], _Signed] = {}
        self._ca_rows: dict[str, tuple[PkiCaRow, float]] = {}
        self._issuer_hashes: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._by_request: dict[tuple[str, bytes], tuple[bytes, float, datetime]] = {}

    def forget(self) -> None:
        """Drop cached status and responses (after a revocation on this node, or on seal)."""
        with self._lock:
            self._status.clear()
            self._signed.clear()
            self._ca_rows.clear()
            self._by_request.clear()

    def respond_cached(self, ca_id: str, der: bytes) -> bytes | None:
        """The answer to a request seen before (same bytes, no nonce) while its status read and
        signature are fresh; None when answering needs the database or a signature. Cheap
        enough for the event loop."""
        hit = self._by_request.get((ca_id, der))
        if hit is None:
            return None
        answer, read_at, this_update = hit
        if (
            self._clock.monotonic() - read_at < self._status_ttl
            and self._clock.now() - this_update < self._validity / 2
        ):
            return answer
        return None

    def respond(self, ca_id: str, der: bytes) -> bytes:
        if len(der) > MAX_REQUEST:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        try:
            req = ocsp.load_der_ocsp_request(der)
            alg = req.hash_algorithm
            serial = req.serial_number
            name_hash, key_hash = req.issuer_name_hash, req.issuer_key_hash
            nonce = _nonce(req)
        except (ValueError, NotImplementedError, UnsupportedAlgorithm):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE:
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        ca = self._ca(ca_id)
        if ca is None or alg.name not in _HASHES:
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        if (name_hash, key_hash) != self._hashes(ca, alg.name):
            # the request names another issuer: this responder is not authoritative for it
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        status = self._lookup(ca.id, serial)
        key = (ca.id, serial, alg.name)
        now = self._clock.now()
        cached = self._signed.get(key)
        if (
            nonce is None
            and cached is not None
            and cached.status == status.status
            and now - cached.this_update < self._validity / 2
        ):
            self._remember(ca.id, der, cached, status)
            return cached.der
        signed = self._sign(ca, req, status, now, nonce)
        # `unknown` is what requests for made-up serials get: not worth memory
        if nonce is None and status.status is not ocsp.OCSPCertStatus.UNKNOWN:
            with self._lock:
                _bounded(self._signed)[key] = signed
            self._remember(ca.id, der, signed, status)
        return signed.der

    def _remember(self, ca_id: str, der: bytes, signed: _Signed, status: _Status) -> None:
        with self._lock:
            _bounded(self._by_request)[(ca_id, der)] = (
                signed.der,
                status.read_at,
                signed.this_update,
            )

    def _sign(
        self,
        ca: PkiCaRow,
        req: ocsp.OCSPRequest,
        st: _Status,
        now: datetime,
        nonce: bytes | None,
    ) -> _Signed:
        this_update = now.replace(microsecond=0)
        responder_cert, signer = self._cas.responder(ca)
        ca_cert = x509.load_der_x509_certificate(ca.certificate_der or b"")
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial_number,
            algorithm=_HASHES[req.hash_algorithm.name](),
            cert_status=st.status,
            this_update=this_update,
            next_update=this_update + self._validity,
            revocation_time=st.revoked_at,
            revocation_reason=st.reason,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert or ca_cert)
        if responder_cert is not None:
            builder = builder.certificates([responder_cert])
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(signer.key, signature_hash(signer.key))
        return _Signed(response.public_bytes(serialization.Encoding.DER), st.status, this_update)

    def _ca(self, ca_id: str) -> PkiCaRow | None:
        if not valid_id(ca_id):
            return None
        mono = self._clock.monotonic()
        hit = self._ca_rows.get(ca_id)
        if hit is not None and mono - hit[1] < self._status_ttl:
            return hit[0]
        with self._db.session() as s:
            row = s.get(PkiCaRow, ca_id)
        if row is None or row.status == CAStatus.PENDING.value or row.certificate_der is None:
            return None
        with self._lock:
            self._ca_rows[ca_id] = (row, mono)
        return row

    def _hashes(self, ca: PkiCaRow, alg: str) -> tuple[bytes, bytes]:
        hit = self._issuer_hashes.get((ca.id, alg))
        if hit is None:
            cert = x509.load_der_x509_certificate(ca.certificate_der or b"")
            # issuerNameHash: hash of the CA's subject DN; issuerKeyHash: of its public key
            digest = hashes.Hash(_HASHES[alg]())
            digest.update(cert.subject.public_bytes())
            probe = ocsp.OCSPRequestBuilder().add_certificate(cert, cert, _HASHES[alg]()).build()
            hit = (digest.finalize(), probe.issuer_key_hash)
            with self._lock:
                self._issuer_hashes[(ca.id, alg)] = hit
        return hit

    def _lookup(self, ca_id: str, serial: int) -> _Status:
        mono = self._clock.monotonic()
        hit = self._status.get((ca_id, serial))
        if hit is not None and mono - hit.read_at < self._status_ttl:
            return hit
        with self._db.session() as s:
            row = s.execute(
                select(
                    PkiCertificateRow.status,
                    PkiCertificateRow.revoked_at,
                    PkiCertificateRow.revocation_reason,
                ).where(
                    PkiCertificateRow.ca_id == ca_id,
                    PkiCertificateRow.serial == format_serial(serial),
                )
            ).first()
        if row is not None and row[0] == CertStatus.ISSUED.value:
            st = _Status(ocsp.OCSPCertStatus.GOOD, None, None, mono)
        elif row is not None and row[0] == CertStatus.REVOKED.value:
            flag = RevocationReason.encoded(row[2])
            revoked_at = as_utc(row[1]).replace(microsecond=0) if row[1] else None
            st = _Status(ocsp.OCSPCertStatus.REVOKED, revoked_at, flag, mono)
        else:  # never issued (or an abandoned intent: no certificate exists)
            st = _Status(ocsp.OCSPCertStatus.UNKNOWN, None, None, mono)
        with self._lock:
            _bounded(self._status)[(ca_id, serial)] = st
        return st


def _bounded(cache: dict[K, V]) -> dict[K, V]:
    """The cache, emptied first when full: requests for endless random serials must not grow
    memory without bound (a cleared cache only costs re-reads)."""
    if len(cache) >= MAX_CACHED:
        cache.clear()
    return cache


def _nonce(req: ocsp.OCSPRequest) -> bytes | None:
    try:
        return req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )
