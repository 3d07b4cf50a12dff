"""Revocation of presented client certificates (RFC 5280 §6.3).

Certificates a Tessera CA issued are looked up in the PKI tables at every login, so a
revocation is effective at once, on every node and right after a restart: there is no cache
to warm. Certificates of external CAs are checked against CRL files loaded (and signature
checked) before the listener serves; a stale or unverifiable CRL refuses, it never passes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.methods.cert_models import CertRevocationUnknown, CertRevoked
from tessera.auth.methods.cert_store import TesseraCA, fingerprint
from tessera.core.errors import TesseraError
from tessera.pki.models import CAStatus, CertStatus
from tessera.storage.models import PkiCertificateRow

log = logging.getLogger("tessera.auth.cert")
_REFUSED = "the client certificate is revoked or its revocation status is unknown"
MAX_CRL_BYTES = 64 * 1024 * 1024


class CrlUnavailable(TesseraError):
    """Raised at start when a configured CRL file cannot be read or parsed."""

    status, slug, title = 500, "crl-unavailable", "A configured CRL cannot be loaded"


def _parse(data: bytes, path: Path) -> list[x509.CertificateRevocationList]:
    try:
        if b"-----BEGIN X509 CRL-----" in data:
            return [
                x509.load_pem_x509_crl(b"-----BEGIN X509 CRL-----" + part)
                for part in data.split(b"-----BEGIN X509 CRL-----")[1:]
            ]
        return [x509.load_der_x509_crl(data)]
    except ValueError:
        raise CrlUnavailable(f"{path} is not a PEM or DER CRL") from None


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int]  # modification time (ns) and size
    crls: tuple[x509.CertificateRevocationList, ...]


class CrlSet:
    """CRLs of external CAs from files; `load` before serving (raises CrlUnavailable), then
    a file whose modification time changed is read again at the next check. Thread-safe."""

    def __init__(self, paths: Sequence[Path] = ()) -> None:
        self._paths = tuple(paths)
        self._lock = threading.Lock()
        self._loaded: dict[Path, _Loaded] = {}
        self.ready = not self._paths

    def load(self) -> None:
        with self._lock:
            for path in self._paths:
                self._loaded[path] = self._read(path)
            self.ready = True

    @staticmethod
    def _read(path: Path) -> _Loaded:
        try:
            st = os.stat(path)
            with open(path, "rb") as fh:
                data = fh.read(MAX_CRL_BYTES + 1)
        except OSError as exc:
            raise CrlUnavailable(f"cannot read CRL file {path}: {exc.strerror}") from None
        if len(data) > MAX_CRL_BYTES:
            raise CrlUnavailable(f"CRL file {path} is larger than {MAX_CRL_BYTES} bytes")
        return _Loaded((st.st_mtime_ns, st.st_size), tuple(_parse(data, path)))

    def _refresh(self) -> list[x509.CertificateRevocationList]:
        with self._lock:
            if not self.ready:
                raise CertRevocationUnknown(_REFUSED, "CRL files are not loaded yet")
            for path in self._paths:
                try:
                    st = os.stat(path)
                    if (st.st_mtime_ns, st.st_size) != self._loaded[path].stamp:
                        self._loaded[path] = self._read(path)
                except (OSError, CrlUnavailable) as exc:
                    # keep the last good CRL: its nextUpdate still bounds how long it counts
                    log.warning("keeping the previous CRL of %s: %s", path, exc)
            return [crl for loaded in self._loaded.values() for crl in loaded.crls]

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
        """Raise CertRevoked when a CRL of `issuer` lists `cert`, CertRevocationUnknown when
        its only CRLs are stale; nothing when no CRL of that issuer is configured."""
        mine = []
        for crl in self._refresh():
            if crl.issuer != issuer.subject:
                continue
            try:
                valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
            except (TypeError, ValueError):
                valid = False
            if valid:
                mine.append(crl)
        if not mine:
            return
        fresh = [c for c in mine if c.next_update_utc is None or c.next_update_utc > now]
        if any(c.get_revoked_certificate_by_serial_number(cert.serial_number) for c in mine):
            raise CertRevoked(_REFUSED, f"listed on the CRL of {issuer.subject.rfc4514_string()}")
        if not fresh:
            raise CertRevocationUnknown(_REFUSED, "the issuer's CRL is past its nextUpdate")


def check_chain(
    s: Session,
    chain: Sequence[x509.Certificate],
    cas: Sequence[TesseraCA],
    crls: CrlSet,
    now: datetime,
) -> None:
    """Every certificate of a verified chain (leaf first, anchor last): a Tessera CA in it
    must not be revoked; a leaf issued by a Tessera CA must be on record as issued; a
    certificate of an external issuer must not be on that issuer's CRL."""
    by_fp = {fingerprint(ca.certificate): ca for ca in cas}
    for cert in chain[1:]:
        ca = by_fp.get(fingerprint(cert))
        if ca is not None and ca.status == CAStatus.REVOKED.value:
            raise CertRevoked(_REFUSED, f"Tessera CA {ca.name!r} is revoked")
    for cert, issuer in pairwise(chain):
        if fingerprint(cert) in by_fp:
            continue  # a Tessera CA certificate: its status was checked above
        ca = by_fp.get(fingerprint(issuer))
        if ca is None:
            crls.check(cert, issuer, now)
            continue
        status = s.execute(
            select(PkiCertificateRow.status).where(
                PkiCertificateRow.ca_id == ca.id,
                PkiCertificateRow.serial == format(cert.serial_number, "x"),
            )
        ).scalar_one_or_none()
        if status == CertStatus.REVOKED.value:
            raise CertRevoked(_REFUSED, f"revoked on Tessera CA {ca.name!r}")
        if status != CertStatus.ISSUED.value:
            # signed by our CA key yet not on record as issued: never trust it
            raise CertRevocationUnknown(_REFUSED, f"no issued record on Tessera CA {ca.name!r}")


__all__ = ["CrlSet", "CrlUnavailable", "check_chain"]
