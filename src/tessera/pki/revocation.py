"""Revocation (RFC 5280 reasons) by serial, certificate id, identity, or a whole CA. Idempotent:
revoking a revoked certificate changes nothing. The inventory follows in the same transaction,
and the CA is marked for a CRL rebuild that the scheduler coalesces."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, event, select, update
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.inventory.models import CredentialKind, CredentialStatus
from tessera.inventory.service import InventoryService
from tessera.pki import repository as repo
from tessera.pki.models import (
    CA,
    CAStatus,
    Certificate,
    CertStatus,
    RevocationReason,
    RevokeRequest,
)
from tessera.pki.ports import Authorizer
from tessera.pki.profile import validate_profile_name
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models import IdentityRow, PkiCaRow, PkiCertificateRow

MAX_RETURNED = 1000  # a bulk revocation reports its count and the first rows

Row = PkiCertificateRow


class RevocationService:
    """Revokes certificates; `on_revoke` listeners (CRL scheduler, OCSP cache) run after
    commit."""

    def __init__(
        self, db: Database, clock: Clock, authz: Authorizer, inventory: InventoryService
    ) -> None:
        self._db = db
        self._clock = clock
        self._authz = authz
        self._inventory = inventory
        self._listeners: list[Callable[[], None]] = []

    def on_revoke(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def revoke(self, principal: Principal, req: RevokeRequest) -> tuple[int, list[Certificate]]:
        """Returns how many certificates this call revoked and the certificates it names."""
        given = [req.serial is not None, req.cert_id is not None, req.identity is not None]
        if sum(given) != 1 or (req.serial is not None) != (req.ca is not None):
            raise InvalidRequest("give exactly one of: ca and serial, cert_id, or identity")
        now = self._clock.now()
        with self._db.session(write=True) as s:
            # scoped paths: a team can be allowed to revoke on its CA or for its identities
            if req.serial is not None and req.ca is not None:
                self._authz.authorize(
                    principal, f"pki/revoke/{validate_profile_name(req.ca)}", Capability.UPDATE
                )
                ca = repo.ca_by_name(s, req.ca)
                serial = repo.parse_serial(req.serial)
                cond: ColumnElement[bool] = (Row.ca_id == ca.id) & (Row.serial == serial)
                self._require_one(s, cond, f"no certificate with serial {serial} on CA {ca.name!r}")
                self._refuse_ca_certificate(s, cond)
            elif req.cert_id is not None:
                ca_name = None
                if repo.valid_id(req.cert_id):
                    ca_name = s.execute(
                        select(PkiCaRow.name)
                        .join(Row, Row.ca_id == PkiCaRow.id)
                        .where(Row.id == req.cert_id)
                    ).scalar_one_or_none()
                if ca_name is None:
                    raise NotFound("no certificate with that id")
                self._authz.authorize(principal, f"pki/revoke/{ca_name}", Capability.UPDATE)
                cond = Row.id == req.cert_id
                self._require_one(s, cond, "no certificate with that id")
                self._refuse_ca_certificate(s, cond)
            else:
                self._authz.authorize(
                    principal, f"identities/{req.identity}/revoke", Capability.UPDATE
                )
                ident = s.execute(
                    select(IdentityRow.id).where(IdentityRow.name == req.identity)
                ).scalar_one_or_none()
                if ident is None:
                    raise NotFound(f"no identity named {req.identity!r}")
                cond = Row.identity_id == ident
            count = self._revoke_where(s, cond, req.reason, now)
            rows = s.execute(select(Row).where(cond).limit(MAX_RETURNED)).scalars().all()
            names = repo.ca_names(s)
            return count, [repo.cert_from_row(r, names.get(r.ca_id, "")) for r in rows]

    def revoke_ca(self, principal: Principal, name: str, reason: RevocationReason) -> CA:
        """The CA stops issuing; everything it issued is revoked, and so is its own certificate
        on its Tessera parent's CRL."""
        name = validate_profile_name(name)
        self._authz.authorize(principal, f"pki/cas/{name}/revoke", Capability.UPDATE, sudo=True)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            ca = repo.ca_by_name(s, name, lock=True)
            self._revoke_ca(s, ca, reason, now)
            if ca.parent_id is not None and ca.cert_fingerprint is not None:
                own = (Row.ca_id == ca.parent_id) & (Row.fingerprint == ca.cert_fingerprint)
                self._revoke_where(s, own, reason, now)
            return repo.ca_from_row(ca)

    def _revoke_ca(self, s: Session, ca: PkiCaRow, reason: RevocationReason, now: datetime) -> int:
        """The CA stops issuing and everything it issued is revoked, CAs below it included."""
        ca.status = CAStatus.REVOKED.value
        ca.updated_at = now
        return self._revoke_where(s, Row.ca_id == ca.id, reason, now)

    def revoke_for_identity(self, session: Session, identity_id: str, now: datetime) -> int:
        """CredentialRevoker port (identity decommission): in the caller's transaction."""
        return self._revoke_where(
            session, Row.identity_id == identity_id, RevocationReason.CESSATION_OF_OPERATION, now
        )

    def _revoke_where(
        self,
        s: Session,
        cond: ColumnElement[bool],
        reason: RevocationReason,
        now: datetime,
    ) -> int:
        live = cond & (Row.status == CertStatus.ISSUED.value)
        cas = list(s.execute(select(Row.ca_id).where(live).distinct()).scalars())
        if not cas:
            return 0
        # a revoked CA certificate takes its CA (and everything below it) down with it
        children = list(
            s.execute(
                select(PkiCaRow)
                .where(
                    PkiCaRow.cert_fingerprint.in_(select(Row.fingerprint).where(live)),
                    PkiCaRow.status != CAStatus.REVOKED.value,
                )
                .with_for_update()
            ).scalars()
        )
        self._inventory.set_status_of_fingerprints(
            s,
            CredentialKind.X509_CERTIFICATE.value,
            select(Row.fingerprint).where(live),
            CredentialStatus.REVOKED,
            now,
        )
        result = s.execute(
            update(Row)
            .where(live)
            .values(status=CertStatus.REVOKED.value, revoked_at=now, revocation_reason=reason)
        )
        s.execute(update(PkiCaRow).where(PkiCaRow.id.in_(cas)).values(crl_dirty=True))
        for listener in self._listeners:
            event.listen(s, "after_commit", lambda _s, f=listener: f(), once=True)
        count = int(getattr(result, "rowcount", 0) or 0)
        for child in children:
            count += self._revoke_ca(s, child, reason, now)
        return count

    @staticmethod
    def _refuse_ca_certificate(s: Session, cond: ColumnElement[bool]) -> None:
        """Revoking a CA's own certificate revokes the CA and all below it: that takes the CA
        revocation (sudo on pki/cas/<name>/revoke), not the certificate revocation path."""
        fingerprint = s.execute(select(Row.fingerprint).where(cond)).scalar_one_or_none()
        if fingerprint is None:
            return
        ca = s.execute(
            select(PkiCaRow.name).where(PkiCaRow.cert_fingerprint == fingerprint)
        ).scalar_one_or_none()
        if ca is not None:
            raise Conflict(f"this is the certificate of CA {ca!r}: revoke the CA itself")

    @staticmethod
    def _require_one(s: Session, cond: ColumnElement[bool], missing: str) -> None:
        status = s.execute(select(Row.status).where(cond)).scalar_one_or_none()
        if status not in (CertStatus.ISSUED.value, CertStatus.REVOKED.value):
            raise NotFound(missing)
