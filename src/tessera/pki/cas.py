"""Certificate authorities: create (root, intermediate under a Tessera CA, or external via CSR),
import an externally signed certificate, list, and roll issuance over to a successor."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.core.text import check_text
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    LocationKind,
    RecordCredential,
)
from tessera.inventory.service import InventoryService
from tessera.pki import keys, records, urls
from tessera.pki import repository as repo
from tessera.pki.errors import BadCertificate, CAUnavailable
from tessera.pki.models import (
    CA,
    CAKind,
    CAStatus,
    CreateCARequest,
    ImportCARequest,
    KeyType,
    OcspSigner,
    SubjectFields,
)
from tessera.pki.pem import load_certificates
from tessera.pki.ports import Authorizer, KeyStore
from tessera.pki.profile import validate_profile_name
from tessera.pki.x509build import (
    Issuer,
    ca_certificate,
    ca_csr,
    responder_certificate,
    subject_name,
)
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models import PkiCaRow, PkiProfileRow

RESPONDER_TTL = timedelta(days=30)
RESPONDER_MIN_LIFE = timedelta(hours=1)  # a CA closer to its end keeps its responder


class CAService:
    """CA lifecycle. CA creation is one transaction: the key, the certificate and (for a CA
    signed by a Tessera parent) its row under the parent commit together or not at all."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        keystore: KeyStore,
        authz: Authorizer,
        inventory: InventoryService,
        base_url: str,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._keys = keystore
        self._authz = authz
        self._inventory = inventory
        self._base = base_url
        self._lock = threading.Lock()
        self._issuers: dict[str, Issuer] = {}
        self._generation = 0  # bumped by forget(): a fill that raced a seal is not kept
        self._profile_listeners: list[Callable[[], None]] = []
        self._chains: dict[str, str] = {}
        self._responders: dict[str, tuple[bytes, x509.Certificate, Issuer]] = {}

    def on_profiles_changed(self, listener: Callable[[], None]) -> None:
        """Called after a rollover re-pointed profiles at the successor CA."""
        self._profile_listeners.append(listener)

    # -- use cases --------------------------------------------------------------------------
    def create(self, principal: Principal, req: CreateCARequest) -> CA:
        name = validate_profile_name(req.name)
        self._authz.authorize(principal, f"pki/cas/{name}", Capability.CREATE, sudo=True)
        check_text(req.common_name, "common_name", 64)
        if req.max_path_length is not None and not 0 <= req.max_path_length <= 8:
            raise InvalidRequest("max_path_length must be between 0 and 8")
        if req.ttl <= timedelta(0):
            raise InvalidRequest("ttl must be positive")
        if req.kind is CAKind.ROOT and req.parent is not None:
            raise InvalidRequest("a root CA has no parent")
        with self._db.session(write=True) as s:
            if s.execute(select(PkiCaRow.id).where(PkiCaRow.name == name)).first():
                raise Conflict(f"a CA named {name!r} already exists")
            row = self._create(s, name, req)
            return repo.ca_from_row(row)

    def _create(self, s: Session, name: str, req: CreateCARequest) -> PkiCaRow:
        now = self._clock.now()
        handle = self._keys.create(s, req.key_type)
        public = keys.as_certificate_key(handle.public_key)
        subject = subject_name(req.common_name, req.subject)
        row = PkiCaRow(
            id=new_ulid(self._clock, self._rng),
            name=name,
            kind=req.kind.value,
            status=CAStatus.ACTIVE.value,
            key_type=req.key_type.value,
            key_ref=handle.ref,
            parent_id=None,
            certificate_der=None,
            cert_fingerprint=None,
            chain_pem="",
            csr_pem=None,
            subject=subject.rfc4514_string(),
            key_id_sha1=keys.spki_sha1(public),
            not_before=None,
            not_after=None,
            ocsp_signer=req.ocsp_signer.value,
            responder_key_ref=None,
            responder_der=None,
            crl_dirty=True,
            successor_id=None,
            created_at=now,
            updated_at=now,
        )
        not_before, not_after = now - records.BACKDATE, now + req.ttl
        if req.kind is CAKind.ROOT:
            key = self._keys.signing_key(handle.ref)
            issuer = Issuer(subject, key, public)
            cert = ca_certificate(
                subject, public, issuer, records.new_serial(self._rng), not_before, not_after,
                req.max_path_length,
            )  # fmt: skip
            s.add(row)
            s.flush()
            self._activate(s, row, cert, "")
            self._inventory_root(s, row, cert)
        elif req.parent is not None:
            parent = repo.ca_by_name(s, validate_profile_name(req.parent), lock=True)
            self.require_issuing(parent)
            parent_cert = x509.load_der_x509_certificate(parent.certificate_der or b"")
            limit = parent_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            if limit.path_length == 0:
                raise InvalidRequest(f"CA {parent.name!r} may not sign CAs (path length 0)")
            path_len = req.max_path_length
            if path_len is None:
                path_len = 0 if limit.path_length is None else limit.path_length - 1
            elif limit.path_length is not None and path_len >= limit.path_length:
                raise InvalidRequest("max_path_length must be below the parent's path length")
            row.parent_id = parent.id
            s.add(row)
            s.flush()
            intent = records.add_intent(
                s, self._clock, self._rng, parent.id, req.common_name, None, None
            )
            cert = ca_certificate(
                subject, public, self.issuer(parent), intent.serial, not_before,
                records.not_after_clamped(not_after, as_utc(parent.not_after or not_after)),
                path_len,
            )  # fmt: skip
            records.complete(s, self._inventory, intent, cert, parent.subject, None)
            chain = keys.cert_pem(parent_cert) + parent.chain_pem
            self._activate(s, row, cert, chain)
        else:
            row.status = CAStatus.PENDING.value
            key = self._keys.signing_key(handle.ref)
            csr = ca_csr(subject, key, req.max_path_length)
            row.csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
            s.add(row)
        return row

    def import_certificate(self, principal: Principal, name: str, req: ImportCARequest) -> CA:
        """Activate a pending intermediate with the certificate its external root signed."""
        name = validate_profile_name(name)
        self._authz.authorize(principal, f"pki/cas/{name}", Capability.UPDATE, sudo=True)
        certs = load_certificates(req.certificate_pem, "certificate")
        chain = load_certificates(req.chain_pem, "chain") if req.chain_pem.strip() else []
        if len(certs) != 1:
            raise BadCertificate("give exactly one certificate (the CA's); issuers go in chain")
        cert = certs[0]
        if not chain:
            raise BadCertificate("chain must hold at least the certificate that signed this CA")
        with self._db.session(write=True) as s:
            row = repo.ca_by_name(s, name, lock=True)
            if row.status != CAStatus.PENDING.value:
                raise Conflict(f"CA {name!r} is not waiting for a certificate")
            ours = self._keys.signing_key(row.key_ref).public_key()
            if _spki(cert.public_key()) != _spki(ours):
                raise BadCertificate("the certificate is not for this CA's key")
            try:
                bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                bc = None
            if bc is None or not bc.ca:
                raise BadCertificate("the certificate is not a CA certificate (basicConstraints)")
            _require_ca_key_usage(cert, OcspSigner(row.ocsp_signer))
            try:
                cert.verify_directly_issued_by(chain[0])
            except (ValueError, TypeError, Exception) as exc:  # InvalidSignature has no message
                raise BadCertificate(
                    f"the first chain certificate did not sign this one ({type(exc).__name__})"
                ) from None
            if cert.not_valid_after_utc <= self._clock.now():
                raise BadCertificate("the certificate has expired")
            pem_chain = "".join(keys.cert_pem(c) for c in chain)
            self._activate(s, row, cert, pem_chain)
            self._inventory_root(s, row, cert)
            return repo.ca_from_row(row)

    def list(self, principal: Principal) -> list[CA]:
        self._authz.authorize(principal, "pki/cas", Capability.LIST)
        with self._db.session() as s:
            rows = s.execute(select(PkiCaRow).order_by(PkiCaRow.name)).scalars().all()
            return [repo.ca_from_row(r) for r in rows]

    def get(self, principal: Principal, name: str) -> CA:
        name = validate_profile_name(name)
        self._authz.authorize(principal, f"pki/cas/{name}", Capability.READ)
        with self._db.session() as s:
            return repo.ca_from_row(repo.ca_by_name(s, name))

    def rollover(self, principal: Principal, name: str, to: str | None, new_name: str | None) -> CA:
        """Move issuance from CA `name` to its successor: an existing active CA `to`, or a new
        CA `new_name` made like the old one (same parent, key type and subject). Profiles that
        named the old CA now name the successor; the old one is `retired` and keeps serving
        CRL and OCSP for what it issued."""
        name = validate_profile_name(name)
        self._authz.authorize(principal, f"pki/cas/{name}", Capability.UPDATE, sudo=True)
        if (to is None) == (new_name is None):
            raise InvalidRequest("give exactly one of 'to' (an existing CA) or 'new_name'")
        with self._db.session(write=True) as s:
            old = repo.ca_by_name(s, name, lock=True)
            if old.status != CAStatus.ACTIVE.value:
                raise CAUnavailable(f"CA {name!r} is {old.status}; only an active CA rolls over")
            if to is not None:
                new = repo.ca_by_name(s, validate_profile_name(to))
                self.require_issuing(new)
                if new.id == old.id:
                    raise InvalidRequest("a CA cannot roll over to itself")
            else:
                assert new_name is not None
                self._authz.authorize(
                    principal, f"pki/cas/{validate_profile_name(new_name)}", Capability.CREATE
                )
                if s.execute(select(PkiCaRow.id).where(PkiCaRow.name == new_name)).first():
                    raise Conflict(f"a CA named {new_name!r} already exists")
                new = self._create(s, new_name, self._like(s, old, new_name))
                if new.status != CAStatus.ACTIVE.value:
                    raise InvalidRequest(
                        "the old CA was signed externally: create and import the new "
                        "intermediate first, then roll over with 'to'"
                    )
            for profile in s.execute(select(PkiProfileRow)).scalars():
                if profile.document.get("issuer") == old.name:
                    profile.document = {**profile.document, "issuer": new.name}
                    profile.updated_at = self._clock.now()
            old.status = CAStatus.RETIRED.value
            old.successor_id = new.id
            old.updated_at = self._clock.now()
            result = repo.ca_from_row(new)
        for listener in self._profile_listeners:
            listener()
        return result

    def _like(self, s: Session, old: PkiCaRow, new_name: str) -> CreateCARequest:
        cert = x509.load_der_x509_certificate(old.certificate_der or b"")
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        fields = {
            k: _attr(cert.subject, oid)
            for k, oid in (
                ("organization", x509.NameOID.ORGANIZATION_NAME),
                ("organizational_unit", x509.NameOID.ORGANIZATIONAL_UNIT_NAME),
                ("country", x509.NameOID.COUNTRY_NAME),
                ("locality", x509.NameOID.LOCALITY_NAME),
                ("state", x509.NameOID.STATE_OR_PROVINCE_NAME),
            )
        }
        parent = s.get(PkiCaRow, old.parent_id) if old.parent_id else None
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        return CreateCARequest(
            name=new_name,
            kind=CAKind(old.kind),
            # a distinct DN: clients that choose issuers by name must not mix up the two keys
            common_name=next_generation(str(cns[0].value)) if cns else new_name,
            key_type=KeyType(old.key_type),
            ttl=lifetime,
            parent=parent.name if parent is not None else None,
            subject=SubjectFields(**fields),
            ocsp_signer=OcspSigner(old.ocsp_signer),
        )

    # -- helpers used by issuance, CRL and OCSP ----------------------------------------------
    def _activate(self, s: Session, row: PkiCaRow, cert: x509.Certificate, chain: str) -> None:
        row.status = CAStatus.ACTIVE.value
        row.subject = cert.subject.rfc4514_string()  # an external root may set another DN
        row.certificate_der = cert.public_bytes(serialization.Encoding.DER)
        row.cert_fingerprint = keys.fingerprint(cert)
        row.chain_pem = chain
        row.csr_pem = None
        row.not_before = cert.not_valid_before_utc
        row.not_after = cert.not_valid_after_utc
        row.updated_at = self._clock.now()
        if row.ocsp_signer == OcspSigner.DELEGATED.value:
            self._new_responder(s, row)

    def _inventory_root(self, s: Session, row: PkiCaRow, cert: x509.Certificate) -> None:
        """A CA certificate not signed by a Tessera CA (self-signed or external) has no serial
        of ours to reserve, but is still one inventory credential."""
        algorithm, size = keys.describe(cert.public_key())
        self._inventory.record(
            s,
            RecordCredential(
                kind=CredentialKind.X509_CERTIFICATE,
                fingerprint=keys.fingerprint(cert),
                name=f"CA {row.name}",
                source=CredentialSource.MANAGED,
                issued_at=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                attributes={
                    "subject": row.subject,
                    "issuer": cert.issuer.rfc4514_string(),
                    "key_type": algorithm,
                    "key_bits": size,
                    "is_ca": True,
                    "ca_id": row.id,
                },
                location=(LocationKind.ISSUED, f"tessera:pki/ca/{row.id}"),
            ),
        )

    def _new_responder(self, s: Session, row: PkiCaRow) -> None:
        handle = self._keys.create(s, KeyType(row.key_type))
        public = keys.as_certificate_key(handle.public_key)
        now = self._clock.now()
        intent = records.add_intent(
            s, self._clock, self._rng, row.id, f"OCSP responder {row.name}", None, None
        )
        cert = responder_certificate(
            subject_name(f"OCSP responder {row.name}"[:64], SubjectFields()),
            public,
            self.issuer(row),
            intent.serial,
            now - records.BACKDATE,
            records.not_after_clamped(now + RESPONDER_TTL, as_utc(row.not_after or now)),
        )
        s.flush()
        records.complete(s, self._inventory, intent, cert, row.subject, None)
        row.responder_key_ref = handle.ref
        row.responder_der = cert.public_bytes(serialization.Encoding.DER)
        with self._lock:
            self._responders.pop(row.id, None)

    def issuer(self, row: PkiCaRow) -> Issuer:
        """Signing material of an active CA (cached per CA; the certificate never changes)."""
        cached = self._issuers.get(row.id)
        if cached is not None:
            return cached
        generation = self._generation
        if row.certificate_der is None:
            raise CAUnavailable(f"CA {row.name!r} has no certificate yet")
        cert = x509.load_der_x509_certificate(row.certificate_der)
        issuer = Issuer(
            name=cert.subject,
            key=self._keys.signing_key(row.key_ref),
            public_key=keys.as_certificate_key(cert.public_key()),
            ocsp_url=urls.ocsp_url(self._base, row.id),
            ca_issuers_url=urls.ca_cert_url(self._base, row.id),
            crl_url=urls.crl_url(self._base, row.id),
        )
        with self._lock:
            if generation == self._generation:  # a seal in between drops, never re-caches
                self._issuers[row.id] = issuer
        return issuer

    def certificate_der(self, ca_id: str) -> bytes:
        """The CA certificate (DER) for relying parties; NotFound for unknown or pending CAs."""
        if repo.valid_id(ca_id):
            with self._db.session() as s:
                row = s.get(PkiCaRow, ca_id)
            if row is not None and row.certificate_der is not None:
                return row.certificate_der
        raise NotFound("no such CA")

    def chain_pem(self, row: PkiCaRow) -> str:
        """The CA's certificate then its issuers (PEM): what a leaf's holder serves with it."""
        cached = self._chains.get(row.id)
        if cached is None:
            cert = x509.load_der_x509_certificate(row.certificate_der or b"")
            cached = keys.cert_pem(cert) + row.chain_pem
            with self._lock:
                self._chains[row.id] = cached
        return cached

    def responder(self, row: PkiCaRow) -> tuple[x509.Certificate | None, Issuer]:
        """Who signs OCSP for this CA: (delegated responder certificate, its key) or (None,
        the CA itself)."""
        ca = self.issuer(row)
        if row.ocsp_signer != OcspSigner.DELEGATED.value or row.responder_der is None:
            return None, ca
        cached = self._responders.get(row.id)
        if cached is not None and cached[0] == row.responder_der:
            return cached[1], cached[2]
        cert = x509.load_der_x509_certificate(row.responder_der)
        signer = Issuer(
            name=cert.subject,
            key=self._keys.signing_key(row.responder_key_ref or ""),
            public_key=keys.as_certificate_key(cert.public_key()),
        )
        with self._lock:
            self._responders[row.id] = (row.responder_der, cert, signer)
        return cert, signer

    def refresh_responder(self, ca_id: str) -> bool:
        """Re-issue a delegated responder certificate past two thirds of its life, for CAs that
        still answer OCSP (active or retired, not expired). The CA row is locked, so two nodes
        never both re-issue."""
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.execute(
                select(PkiCaRow).where(PkiCaRow.id == ca_id).with_for_update()
            ).scalar_one_or_none()
            if (
                row is None
                or row.responder_der is None
                or row.status not in (CAStatus.ACTIVE.value, CAStatus.RETIRED.value)
                or row.not_after is None
                or as_utc(row.not_after) <= now + RESPONDER_MIN_LIFE
            ):
                return False
            cert = x509.load_der_x509_certificate(row.responder_der)
            life = cert.not_valid_after_utc - cert.not_valid_before_utc
            if now < cert.not_valid_before_utc + life * 2 / 3:
                return False
            self._new_responder(s, row)
            return True

    def forget(self) -> None:
        """Drop cached signing keys (on seal)."""
        with self._lock:
            self._generation += 1
            self._issuers.clear()
            self._responders.clear()

    def require_issuing(self, row: PkiCaRow) -> None:
        if row.status != CAStatus.ACTIVE.value:
            raise CAUnavailable(f"CA {row.name!r} is {row.status} and cannot issue")
        if row.not_after is not None and as_utc(row.not_after) <= self._clock.now():
            raise CAUnavailable(f"CA {row.name!r} has expired")


def next_generation(common_name: str) -> str:
    """ "Example Issuing" → "Example Issuing G2" → "… G3": the successor's common name."""
    match = re.fullmatch(r"(.*) G(\d{1,4})", common_name)
    base, n = (match.group(1), int(match.group(2)) + 1) if match else (common_name, 2)
    suffix = f" G{n}"
    return base[: 64 - len(suffix)] + suffix


def _require_ca_key_usage(cert: x509.Certificate, signer: OcspSigner) -> None:
    """A CA certificate must allow signing certificates and CRLs (and OCSP responses when the
    CA signs them itself), or everything it issues fails validation."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return  # RFC 5280 §4.2.1.3: absent keyUsage places no restriction
    if not (usage.key_cert_sign and usage.crl_sign):
        raise BadCertificate("the CA certificate's keyUsage lacks keyCertSign or cRLSign")
    if signer is OcspSigner.CA and not usage.digital_signature:
        raise BadCertificate("the CA signs OCSP itself but keyUsage lacks digitalSignature")


def _spki(key: object) -> bytes:
    assert hasattr(key, "public_bytes")
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    found = name.get_attributes_for_oid(oid)
    return str(found[0].value) if found else ""
