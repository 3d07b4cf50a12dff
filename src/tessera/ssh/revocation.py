"""SSH revocation (by serial, key id or public key), the KRL built from it, and CA key rotation
with the old key published until its last certificate expires."""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import InvalidRequest, NotFound
from tessera.inventory.service import InventoryService
from tessera.pki.ports import Authorizer, KeyStore
from tessera.pki.profile import validate_profile_name
from tessera.policy.models import Capability
from tessera.ssh import service as ssh_service
from tessera.ssh.krl import CaRevocations, Krl
from tessera.storage.db import Database
from tessera.storage.models import SshCaRow, SshCertificateRow, SshRevocationRow

Row = SshCertificateRow


class SshRevocations:
    """Revoke (`ssh/revoke/<ca>`), publish KRLs (no token) and rotate CA keys (sudo)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        keystore: KeyStore,
        authz: Authorizer,
        inventory: InventoryService,
        ssh: ssh_service.SshService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._keys = keystore
        self._authz = authz
        self._inventory = inventory
        self._ssh = ssh

    def revoke(
        self,
        principal: Principal,
        ca: str,
        *,
        serial: int | None = None,
        key_id: str | None = None,
        public_key: str | None = None,
    ) -> int:
        """Revoke certificates of CA `ca`; idempotent. A key id or public key is also kept
        on the KRL for certificates not issued yet (or issued elsewhere by this CA key)."""
        if sum(x is not None for x in (serial, key_id, public_key)) != 1:
            raise InvalidRequest("give exactly one of serial, key_id or public_key")
        name = validate_profile_name(ca)
        self._authz.authorize(principal, f"ssh/revoke/{name}", Capability.UPDATE)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            ca_row = self._ssh.ca_row(s, name)
            if serial is not None:
                if not 0 < serial < 1 << 64:
                    raise NotFound("no certificate with that serial")
                cond = (Row.ca_id == ca_row.id) & (Row.serial == format(serial, "x"))
                if s.execute(select(Row.id).where(cond)).first() is None:
                    raise NotFound(f"no certificate with serial {serial} on SSH CA {name!r}")
            elif key_id is not None:
                if not key_id or len(key_id) > 512:
                    raise InvalidRequest("key_id must be 1-512 characters")
                cond = (Row.ca_id == ca_row.id) & (Row.key_id == key_id)
                self._remember(s, ca_row.id, "key_id", key_id, now)
            else:
                assert public_key is not None
                key = ssh_service.load_public_key(public_key)
                cond = (Row.ca_id == ca_row.id) & (
                    Row.key_fingerprint == ssh_service.key_fingerprint(key)
                )
                self._remember(s, ca_row.id, "public_key", ssh_service.key_blob_b64(key), now)
            return self._ssh.revoke_where(s, cond, now)

    def _remember(self, s: Session, ca_id: str, kind: str, value: str, now: datetime) -> None:
        exists = s.execute(
            select(SshRevocationRow.id).where(
                SshRevocationRow.ca_id == ca_id,
                SshRevocationRow.kind == kind,
                SshRevocationRow.value == value,
            )
        ).first()
        if exists is None:
            s.add(SshRevocationRow(ca_id=ca_id, kind=kind, value=value, created_at=now))

    def krl(self, ca: str | None = None) -> bytes:
        """The KRL of one CA (every key it trusts now), or of every CA; no token needed."""
        now = self._clock.now()
        with self._db.session() as s:
            stmt = select(SshCaRow)
            if ca is not None:
                stmt = stmt.where(SshCaRow.name == validate_profile_name(ca))
            cas = list(s.execute(stmt.order_by(SshCaRow.name)).scalars())
            if ca is not None and not cas:
                raise NotFound(f"no SSH CA named {ca!r}")
            sections: list[CaRevocations] = []
            keys: list[bytes] = []
            for row in cas:
                serials = [
                    int(x, 16)
                    for x in s.execute(
                        select(Row.serial).where(Row.ca_id == row.id, Row.status == "revoked")
                    ).scalars()
                ]
                revs = s.execute(
                    select(SshRevocationRow.kind, SshRevocationRow.value).where(
                        SshRevocationRow.ca_id == row.id
                    )
                ).all()
                key_ids = [v for k, v in revs if k == "key_id"]
                keys += [base64.b64decode(v) for k, v in revs if k == "public_key"]
                for line in ssh_service.trusted_keys(row, now):
                    blob = base64.b64decode(line.split()[1])
                    sections.append(CaRevocations(blob, serials, key_ids))
            version = s.execute(
                select(func.count()).select_from(Row).where(Row.status == "revoked")
            ).scalar_one()
        return Krl(version=int(version), generated=int(now.timestamp()), cas=sections,
                   keys=keys).encode()  # fmt: skip

    def rotate(self, principal: Principal, ca: str) -> SshCaRow:
        """A new CA key signs from now on; the old public key stays published (trusted) until
        the last certificate it signed expires."""
        name = validate_profile_name(ca)
        self._authz.authorize(principal, f"ssh/cas/{name}", Capability.UPDATE, sudo=True)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.execute(
                select(SshCaRow).where(SshCaRow.name == name).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                raise NotFound(f"no SSH CA named {name!r}")
            last = s.execute(
                select(func.max(Row.valid_before)).where(Row.ca_id == row.id)
            ).scalar_one_or_none()
            handle = self._ssh.new_ca_key(s, row.key_type)
            row.previous_public_key = row.public_key
            row.previous_until = as_utc(last) if last is not None else now
            row.public_key = ssh_service.public_line(handle.public_key, name)
            row.key_ref = handle.ref
            row.rotated_at = now
        self._ssh.forget()
        return row
