"""TLS certificate login: a workload presents a client certificate over mutual TLS (to the
listener in `cert_listener`) and gets a Tessera token bound to the role's identity.

A login checks, in order: a certificate was presented; it is within its validity period (by
Tessera's clock); it carries the clientAuth extended key usage; it chains, under the
client-auth verification policy of `cryptography.x509.verification`, to a trust anchor of the
role; one of its DNS or URI SANs (SPIFFE IDs included) matches the role; neither it nor a CA
above it is revoked (`cert_revocation`).

Policy paths: `auth/cert/roles/<name>` (create, update, read, delete), `auth/cert/roles`
(list). Login needs no token; throttling and lockout share the other methods' guard, keyed on
the certificate's SHA-256 fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.auth.methods import cert_store as store
from tessera.auth.methods.audit import admit, login_accepted, login_refused
from tessera.auth.methods.cert_models import (
    CertExpired,
    CertLogin,
    CertNotClient,
    CertNotMatched,
    CertRequired,
    CertRole,
    CertRoleSpec,
    CertUntrusted,
    load_ca_pem,
)
from tessera.auth.methods.cert_revocation import CrlSet, check_chain
from tessera.auth.methods.errors import LoginRefused
from tessera.auth.methods.models import validate_role_name
from tessera.auth.methods.ports import Authorizer, InventoryPort, TokenMinter
from tessera.auth.methods.ratelimit import LoginGuard
from tessera.auth.models import CreatedToken, Principal
from tessera.core.clock import Clock
from tessera.core.errors import InvalidRequest, NotFound
from tessera.pki.names import glob_match
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models_auth import CertRoleRow

METHOD = "cert"
MAX_DER = 16 * 1024
MAX_ROLES_TRIED = 256
MAX_CHAIN_DEPTH = 8


def san_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """The certificate's DNS names (lower case) and URIs."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]
    return dns, list(san.get_values_for_type(x509.UniformResourceIdentifier))


def matching_san(spec: CertRoleSpec, cert: x509.Certificate) -> str | None:
    """The first SAN of the certificate one of the role's patterns accepts, else None."""
    dns, uris = san_names(cert)
    for uri in uris:
        if any(glob_match(p, uri, "/") for p in spec.allowed_uri_sans):
            return uri
    for name in dns:
        if any(glob_match(p, name, ".") for p in spec.allowed_dns_sans):
            return name
    return None


def is_client_certificate(cert: x509.Certificate) -> bool:
    """Whether the certificate lists clientAuth (an absent EKU is refused: Tessera asks for an
    explicit purpose, as its own `client` profile issues)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.CLIENT_AUTH in eku


class CertAuthService:
    """Roles and login of the TLS certificate method, and the trust material its listener
    builds the handshake's client-CA bundle from."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        authz: Authorizer,
        inventory: InventoryPort,
        tokens: TokenMinter,
        guard: LoginGuard,
        crls: CrlSet | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._authz = authz
        self._inventory = inventory
        self._tokens = tokens
        self._guard = guard
        self.crls = crls or CrlSet()

    # -- roles -----------------------------------------------------------------------------
    def write_role(self, principal: Principal, name: str, spec: CertRoleSpec) -> CertRole:
        """Create or replace a role; every named Tessera CA must exist."""
        name = validate_role_name(name)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.get(CertRoleRow, name, with_for_update=True)
            capability = Capability.UPDATE if row else Capability.CREATE
            self._authz.authorize(principal, f"auth/cert/roles/{name}", capability)
            known = {ca.name for ca in store.tessera_cas(s)}
            missing = [ca for ca in spec.allowed_cas if ca not in known]
            if missing:
                raise InvalidRequest(f"no CA with a certificate named {missing[0]!r}")
            for policy in spec.policies:
                if not self._authz.exists(s, policy):
                    raise InvalidRequest(f"no policy named {policy!r}")
            if spec.identity is not None:
                self._inventory.bind_identity(s, spec.identity)
            if row is None:
                row = CertRoleRow(name=name, created_at=now)
                s.add(row)
            store.apply_spec(row, spec, now)
            s.flush()
            return store.role_from_row(row)

    def read_role(self, principal: Principal, name: str) -> CertRole:
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/cert/roles/{name}", Capability.READ)
        with self._db.session() as s:
            return store.role_from_row(self._role(s, name))

    def list_roles(self, principal: Principal) -> list[str]:
        self._authz.authorize(principal, "auth/cert/roles", Capability.LIST)
        with self._db.session() as s:
            return list(s.execute(select(CertRoleRow.name).order_by(CertRoleRow.name)).scalars())

    def delete_role(self, principal: Principal, name: str) -> None:
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/cert/roles/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            s.delete(self._role(s, name, lock=True))

    @staticmethod
    def _role(s: Session, name: str, lock: bool = False) -> CertRoleRow:
        row = s.get(CertRoleRow, name, with_for_update=lock or None)
        if row is None:
            raise NotFound(f"no cert role named {name!r}")
        return row

    # -- trust material for the listener ---------------------------------------------------
    def prepare(self) -> None:
        """Load the revocation data logins depend on (CRL files); raises CrlUnavailable."""
        self.crls.load()

    def trust_digest(self) -> str:
        with self._db.session() as s:
            return store.trust_digest(s)

    def trust_bundle_pem(self) -> str:
        with self._db.session() as s:
            return store.trust_bundle_pem(s)

    # -- login -----------------------------------------------------------------------------
    def login(self, req: CertLogin) -> CreatedToken:
        """A token for the first role (or the named one) accepting the certificate, or a
        LoginRefused subclass naming what was wrong (audited); RateLimited when throttled."""
        der = req.certificate_der
        key = hashlib.sha256(der).hexdigest() if der else "no-certificate"
        admit(self._guard, METHOD, req.source, key)
        role: CertRole | None = None
        try:
            leaf = _parse_leaf(der)
            self._check_leaf(leaf)
            role, subject = self._accepting_role(leaf, req.role)
        except LoginRefused as exc:
            self._guard.failed(METHOD, key, req.source)
            login_refused(METHOD, exc.reason, role.name if role else None)
            raise
        spec = role.spec
        meta = {"role": role.name, "cert_fingerprint": key, "subject": subject[:256]}
        created = self._tokens.create_for_login(
            METHOD, spec.identity, spec.policies, spec.token_ttl, spec.token_max_ttl, meta
        )
        self._guard.succeeded(METHOD, key, req.source)
        login_accepted(METHOD, role.name, created)
        return created

    def _check_leaf(self, leaf: x509.Certificate) -> None:
        now = self._clock.now()
        if leaf.not_valid_after_utc <= now:
            raise CertExpired("the client certificate has expired", "certificate expired")
        if leaf.not_valid_before_utc > now:
            raise CertExpired("the client certificate is not valid yet", "not yet valid")
        if not is_client_certificate(leaf):
            raise CertNotClient(
                "the certificate's extended key usage does not include clientAuth",
                "no clientAuth extended key usage",
            )

    def _accepting_role(self, leaf: x509.Certificate, wanted: str | None) -> tuple[CertRole, str]:
        """The role whose anchors verify the chain and whose patterns accept a SAN (checked
        for revocation), with that SAN. Refusal: untrusted when no role's anchors verify the
        certificate, not matched when some do but none accepts its names."""
        now = self._clock.now()
        untrusted = "no role trusts the certificate's issuer"
        trusted_by_one = False
        with self._db.session() as s:
            cas = store.tessera_cas(s)
            stmt = select(CertRoleRow).order_by(CertRoleRow.name).limit(MAX_ROLES_TRIED)
            if wanted is not None:
                stmt = stmt.where(CertRoleRow.name == wanted.strip().lower())
            roles = [store.role_from_row(r) for r in s.execute(stmt).scalars()]
            for role in roles:
                try:
                    chain = _verify(leaf, role.spec, cas, now)
                except VerificationError as exc:
                    untrusted = f"role {role.name!r}: {str(exc)[:200]}"
                    continue
                trusted_by_one = True
                subject = matching_san(role.spec, leaf)
                if subject is None:
                    continue
                check_chain(s, chain, cas, self.crls, now)
                return role, subject
        if not roles:
            raise CertNotMatched(_NOT_MATCHED, "unknown role" if wanted else "no cert roles")
        if not trusted_by_one:
            raise CertUntrusted(
                "the certificate does not chain to a CA trusted for this login", untrusted
            )
        raise CertNotMatched(_NOT_MATCHED, "no SAN of the certificate matches the role")


_NOT_MATCHED = "no cert role (or not the one named) accepts this certificate's names"


def _parse_leaf(der: bytes | None) -> x509.Certificate:
    if not der:
        raise CertRequired(
            "present a client certificate in the TLS handshake", "no client certificate"
        )
    if len(der) > MAX_DER:
        raise CertUntrusted("the client certificate is too large", "certificate too large")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise CertUntrusted("the client certificate cannot be parsed", "unparsable") from None


def _verify(
    leaf: x509.Certificate,
    spec: CertRoleSpec,
    cas: Sequence[store.TesseraCA],
    now: datetime,
) -> list[x509.Certificate]:
    """The verified chain (leaf first) to one of the role's anchors, or VerificationError.
    Every known CA certificate may serve as an intermediate; only the role's are anchors."""
    extra = [load_ca_pem(p) for p in spec.trusted_ca_pems]
    anchors = [ca.certificate for ca in cas if ca.name in spec.allowed_cas] + extra
    if not anchors:
        raise VerificationError("none of the role's CAs has a certificate")
    verifier = (
        PolicyBuilder()
        .store(Store(anchors))
        .time(now)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .build_client_verifier()
    )
    intermediates = [ca.certificate for ca in cas] + extra
    return list(verifier.verify(leaf, intermediates).chain)


__all__ = [
    "METHOD",
    "CertAuthService",
    "is_client_certificate",
    "matching_san",
    "san_names",
]
