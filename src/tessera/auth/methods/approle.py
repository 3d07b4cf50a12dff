"""AppRole: a machine logs in with a role id (not secret, unguessable) and a secret id (256
random bits, shown once, stored as HMAC-SHA256 under a barrier-held key).

Policy paths: `auth/approle/roles/<name>` (create, update, read, delete), `auth/approle/roles`
(list), `auth/approle/roles/<name>/role-id` (read), `auth/approle/roles/<name>/secret-id`
(create; list the accessors), `auth/approle/roles/<name>/secret-id-accessor` (read, delete).
A secret id is reachable by its accessor only under its own role. Every secret id is an
inventory credential of kind `oauth_client` (a client secret for machine login).

Login takes one path whatever is wrong: the keyed hash is always computed and always compared
(against a dummy when nothing matches), so unknown role ids and wrong secrets look alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tessera.auth.methods import store
from tessera.auth.methods.audit import admit, login_accepted, login_refused
from tessera.auth.methods.errors import LoginRefused
from tessera.auth.methods.models import (
    AppRole,
    AppRoleLogin,
    AppRoleSpec,
    CreatedSecretId,
    SecretIdInfo,
    SecretIdRequest,
    source_in,
    validate_role_name,
)
from tessera.auth.methods.ports import Authorizer, InventoryPort, KeySource, TokenMinter
from tessera.auth.methods.ratelimit import LoginGuard
from tessera.auth.models import CreatedToken, Principal
from tessera.auth.validation import fingerprint
from tessera.core.clock import Clock
from tessera.core.errors import Conflict, NotFound
from tessera.core.randomness import Randomness
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    CredentialStatus,
    LocationKind,
    RecordCredential,
)
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models_auth import AppRoleRow, AppRoleSecretIdRow

METHOD = "approle"
SECRET_KEY_NAME = "approle_secret_id_hmac_key"
SECRET_PREFIX = "tsid_"
MAX_PRESENTED = 256  # longer role ids / secret ids cannot be ours: refused before hashing
_DUMMY = bytes(32)
_REFUSED = "invalid role_id or secret_id"


def keyed_hash(key: bytes, secret: str) -> bytes:
    return hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def canonical_role_id(role_id: str) -> str:
    return role_id.strip().lower()


class AppRoleService:
    """Roles, secret ids and login of the AppRole method."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        keys: KeySource,
        authz: Authorizer,
        inventory: InventoryPort,
        tokens: TokenMinter,
        guard: LoginGuard,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._keys = keys
        self._authz = authz
        self._inventory = inventory
        self._tokens = tokens
        self._guard = guard
        self._key: bytes | None = None

    # -- seal lifecycle --------------------------------------------------------------------
    def on_unseal(self) -> None:
        self._key = self._keys.system_secret(SECRET_KEY_NAME)

    def on_seal(self) -> None:
        self._key = None

    def _secret_key(self) -> bytes:
        if self._key is None:  # not wired to the barrier's listeners: fetch on first use
            self._key = self._keys.system_secret(SECRET_KEY_NAME)
        return self._key

    def _uuid(self) -> str:
        return str(uuid.UUID(bytes=self._rng.token_bytes(16), version=4))

    # -- roles -----------------------------------------------------------------------------
    def write_role(self, principal: Principal, name: str, spec: AppRoleSpec) -> AppRole:
        """Create or replace a role; its role id stays as it was."""
        name = validate_role_name(name)
        path = f"auth/approle/roles/{name}"
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.get(AppRoleRow, name, with_for_update=True)
            self._authz.authorize(principal, path, Capability.UPDATE if row else Capability.CREATE)
            store.check_grants(
                s, self._authz, self._inventory, spec.identity, spec.policies, principal
            )
            if row is None:
                row = AppRoleRow(name=name, role_id=self._uuid(), created_at=now)
                s.add(row)
            store.apply_approle_spec(row, spec, now)
            s.flush()
            return store.approle_from_row(row)

    def read_role(self, principal: Principal, name: str) -> AppRole:
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/approle/roles/{name}", Capability.READ)
        with self._db.session() as s:
            return store.approle_from_row(self._role(s, name))

    def role_id(self, principal: Principal, name: str) -> str:
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/approle/roles/{name}/role-id", Capability.READ)
        with self._db.session() as s:
            return self._role(s, name).role_id

    def list_roles(self, principal: Principal) -> list[str]:
        self._authz.authorize(principal, "auth/approle/roles", Capability.LIST)
        with self._db.session() as s:
            return list(s.execute(select(AppRoleRow.name).order_by(AppRoleRow.name)).scalars())

    def delete_role(self, principal: Principal, name: str) -> None:
        """Delete the role and every secret id of it (their inventory rows become revoked)."""
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/approle/roles/{name}", Capability.DELETE)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = self._role(s, name, lock=True)
            hashes = s.execute(
                select(AppRoleSecretIdRow.secret_hash).where(AppRoleSecretIdRow.role_name == name)
            ).scalars()
            self._revoke_inventory(s, list(hashes), now)
            s.execute(delete(AppRoleSecretIdRow).where(AppRoleSecretIdRow.role_name == name))
            s.delete(row)

    @staticmethod
    def _role(s: Session, name: str, lock: bool = False) -> AppRoleRow:
        row = s.get(AppRoleRow, name, with_for_update=lock or None)
        if row is None:
            raise NotFound(f"no AppRole role named {name!r}")
        return row

    # -- secret ids ------------------------------------------------------------------------
    def create_secret_id(
        self, principal: Principal, name: str, req: SecretIdRequest
    ) -> CreatedSecretId:
        """A new secret id, returned once; its CIDR blocks must lie within the role's."""
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/approle/roles/{name}/secret-id", Capability.CREATE)
        key = self._secret_key()
        now = self._clock.now()
        raw = SECRET_PREFIX + base64.urlsafe_b64encode(self._rng.token_bytes(32)).decode()
        raw = raw.rstrip("=")
        digest = keyed_hash(key, raw)
        with self._db.session(write=True) as s:
            role = self._role(s, name, lock=True)
            if not role.bind_secret_id:
                raise Conflict(f"role {name!r} does not use secret ids (bind_secret_id is off)")
            cidrs = store.narrow_cidrs(req.cidrs, tuple(role.secret_id_bound_cidrs))
            ttl = role.secret_id_ttl_seconds
            row = AppRoleSecretIdRow(
                accessor=self._uuid(),
                role_name=name,
                secret_hash=digest,
                uses_left=role.secret_id_num_uses or None,
                cidrs=list(cidrs),
                meta=dict(req.meta),
                created_at=now,
                expires_at=now + timedelta(seconds=ttl) if ttl else None,
            )
            s.add(row)
            binding = (
                self._inventory.bind_identity(s, role.identity) if role.identity else (None, None)
            )
            self._inventory.record(
                s,
                RecordCredential(
                    kind=CredentialKind.OAUTH_CLIENT,
                    fingerprint=fingerprint(digest),
                    name=f"approle/{name}/secret-id",
                    source=CredentialSource.MANAGED,
                    identity_id=binding[0],
                    owner=binding[1],
                    issued_at=now,
                    not_after=row.expires_at,
                    attributes={"auth_method": METHOD, "role": name, "accessor": row.accessor},
                    location=(LocationKind.ISSUED, f"tessera:auth/approle/roles/{name}"),
                ),
            )
            s.flush()
            return CreatedSecretId(secret_id=raw, info=store.secret_info(row))

    def list_secret_ids(self, principal: Principal, name: str) -> list[SecretIdInfo]:
        name = validate_role_name(name)
        self._authz.authorize(principal, f"auth/approle/roles/{name}/secret-id", Capability.LIST)
        now = self._clock.now()
        with self._db.session() as s:
            self._role(s, name)
            rows = s.execute(
                select(AppRoleSecretIdRow)
                .where(AppRoleSecretIdRow.role_name == name)
                .order_by(AppRoleSecretIdRow.created_at)
                .limit(1000)
            ).scalars()
            return [store.secret_info(r) for r in rows if not store.expired(r, now)]

    def lookup_secret_id(self, principal: Principal, name: str, accessor: str) -> SecretIdInfo:
        name = validate_role_name(name)
        path = f"auth/approle/roles/{name}/secret-id-accessor"
        self._authz.authorize(principal, path, Capability.READ)
        with self._db.session() as s:
            row = self._by_accessor(s, name, accessor)
            if store.expired(row, self._clock.now()):
                raise NotFound("no such secret id accessor for this role")
            return store.secret_info(row)

    def destroy_secret_id(self, principal: Principal, name: str, accessor: str) -> None:
        name = validate_role_name(name)
        path = f"auth/approle/roles/{name}/secret-id-accessor"
        self._authz.authorize(principal, path, Capability.DELETE)
        with self._db.session(write=True) as s:
            row = self._by_accessor(s, name, accessor)
            self._revoke_inventory(s, [row.secret_hash], self._clock.now())
            s.delete(row)

    @staticmethod
    def _by_accessor(s: Session, name: str, accessor: str) -> AppRoleSecretIdRow:
        # the role is part of the key: an accessor of another role is simply not found here
        row = s.execute(
            select(AppRoleSecretIdRow).where(
                AppRoleSecretIdRow.accessor == canonical_role_id(accessor)[:64],
                AppRoleSecretIdRow.role_name == name,
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound("no such secret id accessor for this role")
        return row

    def _revoke_inventory(self, s: Session, hashes: list[bytes], now: datetime) -> None:
        if hashes:
            kind = CredentialKind.OAUTH_CLIENT.value
            self._inventory.set_status(
                s, [(kind, fingerprint(h)) for h in hashes], CredentialStatus.REVOKED, now
            )

    # -- login -----------------------------------------------------------------------------
    def login(self, req: AppRoleLogin) -> CreatedToken:
        """A token for the role, or LoginRefused (reason audited); RateLimited when throttled."""
        role_id = canonical_role_id(req.role_id) if isinstance(req.role_id, str) else ""
        admit(self._guard, METHOD, req.source, role_id[:MAX_PRESENTED])
        role, reason = self._check(role_id, req.secret_id, req.source)
        if role is None or reason is not None:
            reason = reason or "refused"
            self._guard.failed(METHOD, role_id[:MAX_PRESENTED], req.source)
            login_refused(METHOD, reason, role.name if role else None)
            raise LoginRefused(_REFUSED, reason)
        meta = {"role": role.name}
        if role.token_bound_cidrs:
            meta["bound_cidrs"] = ",".join(role.token_bound_cidrs)
        created = self._tokens.create_for_login(
            METHOD,
            role.identity,
            role.policies,
            timedelta(seconds=role.token_ttl_seconds),
            timedelta(seconds=role.token_max_ttl_seconds),
            meta,
        )
        self._guard.succeeded(METHOD, role_id, req.source)
        login_accepted(METHOD, role.name, created)
        return created

    def _check(
        self, role_id: str, secret_id: str | None, source: str
    ) -> tuple[AppRoleRow | None, str | None]:
        """(role, None) when the proof holds, else (role or None, the reason). Changes (a use
        spent, an expired secret id removed) commit even when the login is refused."""
        presented = secret_id if isinstance(secret_id, str) else ""
        if len(presented) > MAX_PRESENTED or len(role_id) > MAX_PRESENTED:
            presented, role_id = "", ""
        digest = keyed_hash(self._secret_key(), presented)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            role = s.execute(
                select(AppRoleRow).where(AppRoleRow.role_id == role_id)
            ).scalar_one_or_none()
            row = s.execute(
                select(AppRoleSecretIdRow).where(AppRoleSecretIdRow.secret_hash == digest)
            ).scalar_one_or_none()
            matched = hmac.compare_digest(row.secret_hash if row is not None else _DUMMY, digest)
            if role is None:
                return None, "unknown role_id"
            if not role.bind_secret_id:
                if not source_in(source, role.token_bound_cidrs):
                    return role, "source address outside the role's token_bound_cidrs"
                return role, None
            if row is None or not matched or not presented:
                return role, "invalid secret_id"
            if row.role_name != role.name:
                return role, "secret_id belongs to another role"
            if store.expired(row, now):
                s.delete(row)
                return role, "secret_id expired"
            if not source_in(source, row.cidrs):
                return role, "source address outside the secret_id's cidrs"
            if not source_in(source, role.token_bound_cidrs):
                return role, "source address outside the role's token_bound_cidrs"
            if row.uses_left is not None and not self._spend(s, row):
                return role, "secret_id has no uses left"
            return role, None

    def _spend(self, s: Session, row: AppRoleSecretIdRow) -> bool:
        """Take one use atomically (a concurrent login cannot take the same one); the last
        use removes the secret id."""
        accessor = row.accessor
        spent = s.execute(
            update(AppRoleSecretIdRow)
            .where(AppRoleSecretIdRow.accessor == accessor, AppRoleSecretIdRow.uses_left > 0)
            .values(uses_left=AppRoleSecretIdRow.uses_left - 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(spent, "rowcount", 0) != 1:
            return False
        s.expire(row)
        if row.uses_left == 0:
            self._revoke_inventory(s, [row.secret_hash], self._clock.now())
            s.delete(row)
        return True


__all__ = ["AppRoleService", "canonical_role_id", "keyed_hash"]
