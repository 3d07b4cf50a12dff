"""Issue, sign and renew leaf certificates in the PKI write order (see `records`), and read them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cryptography import x509
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock
from tessera.core.errors import InvalidRequest, NotFound, TesseraError
from tessera.core.paging import check_limit, decode_cursor, encode_cursor
from tessera.core.randomness import Randomness
from tessera.inventory.models import Page
from tessera.inventory.service import InventoryService
from tessera.pki import keys
from tessera.pki import repository as repo
from tessera.pki.batch import IssueBatcher, Job, outcome
from tessera.pki.cas import CAService
from tessera.pki.errors import CAUnavailable
from tessera.pki.models import (
    Certificate,
    CertQuery,
    CertStatus,
    IssuedCertificate,
    IssueRequest,
    RenewRequest,
)
from tessera.pki.plan import Plan, plan
from tessera.pki.ports import Authorizer
from tessera.pki.profile import Profile, validate_profile_name
from tessera.pki.profiles import ProfileService
from tessera.policy.models import Capability, Decision
from tessera.storage.db import Database
from tessera.storage.models import IdentityRow, PkiCertificateRow

MAX_BULK = 1000


class IssuanceService:
    """`pki/issue/<profile>` (server key), `pki/sign/<profile>` (CSR) and renewal."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        cas: CAService,
        authz: Authorizer,
        inventory: InventoryService,
        profiles: ProfileService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._cas = cas
        self._authz = authz
        self._inventory = inventory
        self._profiles = profiles
        self._batcher = IssueBatcher(db, clock, rng, cas, inventory)

    def _authorize(
        self, principal: Principal, profile: str, csr: bool, identity: str | None
    ) -> Decision:
        """`pki/issue/<profile>` (server key) or `pki/sign/<profile>` (CSR), `create`; binding
        the certificate to an identity also takes `update` on `identities/<name>`, as for
        tokens. The decision's constraints (max_ttl) shape the plan."""
        action = "sign" if csr else "issue"
        decision = self._authz.authorize(principal, f"pki/{action}/{profile}", Capability.CREATE)
        if identity is not None:
            self._authz.authorize(principal, f"identities/{identity}", Capability.UPDATE)
        return decision

    def issue(self, principal: Principal, req: IssueRequest) -> IssuedCertificate:
        profile = self._profiles.cached(validate_profile_name(req.profile))
        decision = self._authorize(principal, profile.name, req.csr_pem is not None, req.identity)
        return self._execute(profile, plan(profile, req, decision.constraints), req.identity)

    def issue_many(
        self, principal: Principal, reqs: Sequence[IssueRequest]
    ) -> list[IssuedCertificate | TesseraError]:
        """Bulk issuance (e.g. an agent renewing many certificates): every request is checked
        and issued on its own — one refusal does not fail the others — while all share the
        group commit. Results come back in request order."""
        if len(reqs) > MAX_BULK:
            raise InvalidRequest(f"at most {MAX_BULK} certificates per call")
        out: list[IssuedCertificate | TesseraError | None] = [None] * len(reqs)
        jobs: list[tuple[int, Job]] = []
        for i, req in enumerate(reqs):
            try:
                profile = self._profiles.cached(validate_profile_name(req.profile))
                decision = self._authorize(
                    principal, profile.name, req.csr_pem is not None, req.identity
                )
                checked = plan(profile, req, decision.constraints)
            except TesseraError as exc:
                out[i] = exc
                continue
            jobs.append((i, Job(profile, checked, req.identity, None)))
        self._batcher.submit_many([job for _, job in jobs])
        for i, job in jobs:
            try:
                out[i] = outcome(job)
            except TesseraError as exc:
                out[i] = exc
        return [x for x in out if x is not None]

    def forget(self) -> None:
        """Drop what issuance caches about CAs (after a rollover or revocation here)."""
        self._batcher.forget()

    async def issue_async(self, principal: Principal, req: IssueRequest) -> IssuedCertificate:
        """`issue` for the event loop: no pool thread is held while the batch commits. A CSR
        is checked on the loop (a signature check); key generation (RSA may take a while) and
        a profile cache miss (a database read) run in a thread."""
        name = validate_profile_name(req.profile)
        profile = self._profiles.cached_only(name)
        if profile is None:
            profile = await asyncio.to_thread(self._profiles.cached, name)
        decision = self._authorize(principal, name, req.csr_pem is not None, req.identity)
        if req.csr_pem is not None:
            checked = plan(profile, req, decision.constraints)
        else:
            checked = await asyncio.to_thread(plan, profile, req, decision.constraints)
        return await self._batcher.submit_async(Job(profile, checked, req.identity, None))

    def renew(self, principal: Principal, req: RenewRequest) -> IssuedCertificate:
        """Same profile, names and identity; a new server key, or the key of the CSR. Takes
        `update` on `pki/certs/<id>` besides what issuing with the profile takes."""
        self._authz.authorize(principal, f"pki/certs/{_check_id(req.cert_id)}", Capability.UPDATE)
        with self._db.session() as s:
            old = self._cert_row(s, req.cert_id)
            if old.status != CertStatus.ISSUED.value or old.profile is None or old.der is None:
                raise CAUnavailable(
                    "only an issued (not revoked) certificate of a profile can be renewed"
                )
            profile = ProfileService.load(s, old.profile)
            identity = s.get(IdentityRow, old.identity_id) if old.identity_id else None
        identity_name = identity.name if identity else None
        decision = self._authorize(principal, profile.name, req.csr_pem is not None, identity_name)
        cert = x509.load_der_x509_certificate(old.der)
        names = _names_of_cert(cert)
        again = IssueRequest(
            profile=profile.name,
            common_name=old.common_name or None,
            dns_names=names[0],
            ip_addresses=names[1],
            uris=names[2],
            emails=names[3],
            ttl=req.ttl,
            key_type=keys.key_type_of(cert.public_key()) if req.csr_pem is None else None,
            csr_pem=req.csr_pem,
        )
        # a CSR only brings the new key: the names stay those of the certificate renewed
        checked = plan(profile, again, decision.constraints)
        return self._execute(profile, checked, identity_name, renewed_from=old.id)

    def recertify(self, cert_id: str) -> IssuedCertificate:
        """The scheduler's renewal: the same public key, names, profile and identity, a new
        validity (the profile's ttl). A system action: the profile's `auto_renew` is the
        authorisation, checked by the caller; refused for anything but an issued certificate."""
        with self._db.session() as s:
            old = self._cert_row(s, _check_id(cert_id))
            if old.status != CertStatus.ISSUED.value or old.profile is None or old.der is None:
                raise CAUnavailable("only an issued certificate of a profile can be renewed")
            profile = ProfileService.load(s, old.profile)
            identity = s.get(IdentityRow, old.identity_id) if old.identity_id else None
        cert = x509.load_der_x509_certificate(old.der)
        names = _names_of_cert(cert)
        again = IssueRequest(
            profile=profile.name, common_name=old.common_name or None, dns_names=names[0],
            ip_addresses=names[1], uris=names[2], emails=names[3], public_key=cert.public_key(),
        )  # fmt: skip
        checked = plan(profile, again, {})
        return self._execute(
            profile, checked, identity.name if identity else None, old.id, once=True
        )

    def _execute(
        self,
        profile: Profile,
        p: Plan,
        identity: str | None,
        renewed_from: str | None = None,
        once: bool = False,
    ) -> IssuedCertificate:
        """Intent committed → sign → record → answer, with commits shared by concurrent
        callers (see `batch`)."""
        return self._batcher.submit(Job(profile, p, identity, renewed_from, once))

    # -- reading ----------------------------------------------------------------------------
    def get(self, principal: Principal, cert_id: str) -> Certificate:
        self._authz.authorize(principal, f"pki/certs/{_check_id(cert_id)}", Capability.READ)
        with self._db.session() as s:
            row = self._cert_row(s, cert_id)
            return repo.cert_from_row(row, repo.ca_names(s).get(row.ca_id, ""))

    def list(self, principal: Principal, query: CertQuery) -> Page[Certificate]:
        self._authz.authorize(principal, "pki/certs", Capability.LIST)
        check_limit(query.limit)
        after = decode_cursor(query.cursor)
        with self._db.session() as s:
            names = repo.ca_names(s)
            stmt: Select[PkiCertificateRow] = select(PkiCertificateRow).order_by(
                PkiCertificateRow.id
            )
            if query.ca is not None:
                stmt = stmt.where(PkiCertificateRow.ca_id == repo.ca_by_name(s, query.ca).id)
            if query.status is not None:
                stmt = stmt.where(PkiCertificateRow.status == query.status.value)
            if query.identity is not None:
                ident = s.execute(
                    select(IdentityRow.id).where(IdentityRow.name == query.identity)
                ).scalar_one_or_none()
                if ident is None:  # not "unbound": an unknown identity holds nothing
                    return Page((), None)
                stmt = stmt.where(PkiCertificateRow.identity_id == ident)
            if query.expiring_within is not None:
                now = self._clock.now()
                stmt = stmt.where(
                    PkiCertificateRow.status == CertStatus.ISSUED.value,
                    PkiCertificateRow.not_after > now,
                    PkiCertificateRow.not_after <= now + query.expiring_within,
                )
            if after is not None:
                stmt = stmt.where(PkiCertificateRow.id > after)
            rows = list(s.execute(stmt.limit(query.limit + 1)).scalars())
            items = [repo.cert_from_row(r, names.get(r.ca_id, "")) for r in rows]
        more = len(items) > query.limit
        items = items[: query.limit]
        visible = tuple(
            c for c in items if self._authz.permits(principal, f"pki/certs/{c.id}", Capability.READ)
        )
        return Page(visible, encode_cursor(items[-1].id) if more else None)

    @staticmethod
    def _cert_row(s: Session, cert_id: str) -> PkiCertificateRow:
        row = s.get(PkiCertificateRow, _check_id(cert_id))
        if row is None:
            raise NotFound("no certificate with that id")
        return row


def _check_id(cert_id: str) -> str:
    if not repo.valid_id(cert_id):
        raise NotFound("no certificate with that id")
    return cert_id


def _names_of_cert(
    cert: x509.Certificate,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return (), (), (), ()
    return (
        tuple(ext.get_values_for_type(x509.DNSName)),
        tuple(str(i) for i in ext.get_values_for_type(x509.IPAddress)),
        tuple(ext.get_values_for_type(x509.UniformResourceIdentifier)),
        tuple(ext.get_values_for_type(x509.RFC822Name)),
    )
