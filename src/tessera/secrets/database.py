"""Database secrets engine use cases: connections, dynamic roles and their credentials, static
roles whose password Tessera rotates, and the orphan sweep.

Order of writes for dynamic credentials: lease recorded (`pending`, committed) → user created
→ lease `active` (committed) → answer. A user never exists without its lease row; the sweep
drops users with Tessera's prefix that no live lease accounts for."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from tessera.auth.models import Principal
from tessera.barrier.aead import AAD
from tessera.barrier.service import Barrier
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound, TesseraError
from tessera.core.ids import new_ulid
from tessera.core.randomness import Randomness
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    LocationKind,
    RecordCredential,
)
from tessera.inventory.service import InventoryService
from tessera.policy.models import Capability
from tessera.policy.service import PolicyService
from tessera.secrets.connections import Connections, info, new_password
from tessera.secrets.db_models import (
    USER_PREFIX,
    ConnectionConfig,
    ConnectionInfo,
    DynamicRole,
    RoleInfo,
    StaticCredentials,
    StaticRole,
    validate_name,
)
from tessera.secrets.engines import PLUGINS, engine_for
from tessera.secrets.errors import EngineUnavailable
from tessera.secrets.leases import (
    CLAIM_HOLD,
    LIVE,
    Lease,
    LeaseService,
    LeaseState,
    lease_fingerprint,
    to_lease,
)
from tessera.secrets.ports import CreateUser, RenewUser, RevokeUser, RotatePassword, SecretEngine
from tessera.storage.db import Database
from tessera.storage.models_secrets import DbConnectionRow, DbRoleRow, LeaseRow

log = logging.getLogger("tessera.secrets.database")
ENGINE = "database"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


@dataclass(frozen=True)
class DynamicCredentials:
    """A fresh database login; the password is returned once and never stored."""

    lease: Lease
    username: str
    password: str


class DatabaseSecrets:
    """The `database/…` paths; also the lease backend of engine `database`."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        barrier: Barrier,
        policies: PolicyService,
        inventory: InventoryService,
        leases: LeaseService,
        engines: Callable[[str], SecretEngine] = engine_for,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._barrier = barrier
        self._policies = policies
        self._inventory = inventory
        self._leases = leases
        self.connections = Connections(db, clock, rng, barrier, engines)
        leases.register(ENGINE, self)

    # -- connections -------------------------------------------------------------------------
    def write_connection(self, p: Principal, name: str, doc: dict[str, object]) -> ConnectionInfo:
        """Create or replace a connection; its login is checked first unless `verify` is false."""
        validate_name(name, "connection name")
        self._policies.authorize(p, f"database/config/{name}", Capability.UPDATE)
        cfg = ConnectionConfig.from_document(doc, PLUGINS)
        if cfg.verify:
            self.connections.engine_for(cfg.plugin).verify(cfg.connection())
        with self._db.session(write=True) as s:
            self.connections.store(s, name, cfg, self._clock.now())
            s.flush()
            return info(self.connections.row(s, name))

    def read_connection(self, p: Principal, name: str) -> ConnectionInfo:
        validate_name(name, "connection name")
        self._policies.authorize(p, f"database/config/{name}", Capability.READ)
        with self._db.session() as s:
            return info(self.connections.row(s, name))

    def list_connections(self, p: Principal) -> list[str]:
        self._policies.authorize(p, "database/config", Capability.LIST)
        return self.connections.names()

    def delete_connection(self, p: Principal, name: str) -> None:
        validate_name(name, "connection name")
        self._policies.authorize(p, f"database/config/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = self.connections.row(s, name)
            roles = s.scalar(select(func.count()).where(DbRoleRow.connection == name))
            live = s.scalar(
                select(func.count()).where(LeaseRow.connection == name, LeaseRow.state.in_(LIVE))
            )
            if roles or live:
                raise Conflict(
                    f"connection {name!r} still has {roles} roles and {live} live leases"
                )
            s.delete(row)

    def rotate_root(self, p: Principal, name: str) -> ConnectionInfo:
        validate_name(name, "connection name")
        self._policies.authorize(p, f"database/rotate-root/{name}", Capability.UPDATE)
        return self.connections.rotate_root(name)

    # -- roles -------------------------------------------------------------------------------
    def write_role(self, p: Principal, name: str, doc: dict[str, object]) -> RoleInfo:
        validate_name(name, "role name")
        self._policies.authorize(p, f"database/roles/{name}", Capability.UPDATE)
        role = DynamicRole.from_document(doc)
        return self._store_role(name, "dynamic", role.connection, role.document())

    def write_static_role(self, p: Principal, name: str, doc: dict[str, object]) -> RoleInfo:
        """Create or replace a static role, then rotate its password at once (only Tessera
        knows it from then on)."""
        validate_name(name, "role name")
        self._policies.authorize(p, f"database/static-roles/{name}", Capability.UPDATE)
        role = StaticRole.from_document(doc)
        self._store_role(name, "static", role.connection, role.document())
        self._rotate_static(name)
        return self._role_info(name, "static")

    def _store_role(self, name: str, kind: str, connection: str, document: dict[str, object]
                    ) -> RoleInfo:  # fmt: skip
        now = self._clock.now()
        with self._db.session(write=True) as s:
            conn = self.connections.row(s, connection)
            if "*" not in conn.allowed_roles and name not in conn.allowed_roles:
                raise InvalidRequest(f"connection {connection!r} does not allow role {name!r}")
            row = s.get(DbRoleRow, name)
            if row is not None and row.kind != kind:
                raise Conflict(f"{name!r} is a {row.kind} role")
            if row is None:
                row = DbRoleRow(name=name, kind=kind, created_at=now, password=None,
                                pending_password=None, last_rotated_at=None,
                                next_rotation_at=None, credential_id=None)  # fmt: skip
                s.add(row)
            row.connection, row.document, row.updated_at = connection, document, now
        return self._role_info(name, kind)

    def _role_info(self, name: str, kind: str) -> RoleInfo:
        with self._db.session() as s:
            row = s.get(DbRoleRow, name)
            if row is None or row.kind != kind:
                raise NotFound(f"{kind} role {name!r} does not exist")
            return RoleInfo(row.name, row.kind, row.document, _utc(row.last_rotated_at),
                            _utc(row.next_rotation_at), as_utc(row.created_at),
                            as_utc(row.updated_at))  # fmt: skip

    def read_role(self, p: Principal, name: str, kind: str = "dynamic") -> RoleInfo:
        validate_name(name, "role name")
        base = "roles" if kind == "dynamic" else "static-roles"
        self._policies.authorize(p, f"database/{base}/{name}", Capability.READ)
        return self._role_info(name, kind)

    def list_roles(self, p: Principal, kind: str = "dynamic") -> list[str]:
        base = "roles" if kind == "dynamic" else "static-roles"
        self._policies.authorize(p, f"database/{base}", Capability.LIST)
        with self._db.session() as s:
            q = select(DbRoleRow.name).where(DbRoleRow.kind == kind).order_by(DbRoleRow.name)
            return list(s.scalars(q))

    def delete_role(self, p: Principal, name: str, kind: str = "dynamic") -> None:
        """Delete a role; leases already issued keep running and are revoked as usual."""
        validate_name(name, "role name")
        base = "roles" if kind == "dynamic" else "static-roles"
        self._policies.authorize(p, f"database/{base}/{name}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = s.get(DbRoleRow, name)
            if row is None or row.kind != kind:
                raise NotFound(f"{kind} role {name!r} does not exist")
            s.delete(row)

    def _dynamic_role(self, name: str) -> DynamicRole:
        with self._db.session() as s:
            row = s.get(DbRoleRow, name)
            if row is None or row.kind != "dynamic":
                raise NotFound(f"role {name!r} does not exist")
            return DynamicRole.from_document(row.document)

    # -- dynamic credentials -----------------------------------------------------------------
    def _username(self, role: str) -> str:
        slug = "".join(c for c in role.lower() if c.isalnum() and c.isascii())[:10] or "role"
        rand = base64.b32encode(self._rng.token_bytes(10)).decode().lower()  # 80 bits
        return f"{USER_PREFIX}{slug}_{rand}"

    def creds(self, p: Principal, role_name: str, ttl: timedelta | None = None
              ) -> DynamicCredentials:  # fmt: skip
        """A new database user for `role_name`, under a lease of `ttl` (role default)."""
        validate_name(role_name, "role name")
        decision = self._policies.authorize(p, f"database/creds/{role_name}", Capability.READ)
        role = self._dynamic_role(role_name)
        limit = role.max_ttl
        policy_max = decision.constraints.get("max_ttl")
        if policy_max is not None:
            limit = min(limit, timedelta(seconds=int(policy_max)))
        if ttl is not None and ttl <= timedelta(0):
            raise InvalidRequest("ttl must be positive")
        lifetime = min(ttl or role.default_ttl, limit)
        now = self._clock.now()
        username, password = self._username(role_name), new_password(self._rng)
        lease_id = f"database/creds/{role_name}/{new_ulid(self._clock, self._rng)}"
        self._record_intent(p, lease_id, role_name, role, username, now, lifetime, limit)
        req = CreateUser(username, password, now + lifetime, role.grants,
                         role.creation_statements)  # fmt: skip
        try:
            self.connections.run(role.connection, lambda e, c: e.create_user(c, req))
        except EngineUnavailable:
            self._forget_intent(lease_id)  # never connected: no user can exist
            raise
        except TesseraError:
            self._undo_create(lease_id)
            raise
        with self._db.session(write=True) as s:
            activated = s.execute(
                update(LeaseRow)
                .where(LeaseRow.id == lease_id, LeaseRow.state == LeaseState.PENDING.value)
                .values(state=LeaseState.ACTIVE.value)
            )
            row = s.get(LeaseRow, lease_id)
            assert row is not None
            lease = to_lease(row)
        if not getattr(activated, "rowcount", 0):
            # revoked while being created (its token died, or a repair took it for
            # interrupted): the user must not outlive it
            self._drop_quietly(lease)
            raise Conflict("the lease was revoked while its credentials were being created")
        return DynamicCredentials(lease, username, password)

    def _drop_quietly(self, lease: Lease) -> None:
        try:
            self.revoke_lease(lease)
        except TesseraError as exc:  # the sweep drops it later: its lease is not live
            log.warning("dropping the user of revoked lease %s failed: %s", lease.id, exc.detail)

    def _record_intent(
        self, p: Principal, lease_id: str, role_name: str, role: DynamicRole, username: str,
        now: datetime, lifetime: timedelta, limit: timedelta,
    ) -> None:  # fmt: skip
        fingerprint = lease_fingerprint(lease_id)
        with self._db.session(write=True) as s:
            if self.connections.row(s, role.connection) is None:  # pragma: no cover
                raise NotFound("connection missing")
            credential_id = self._inventory.record(
                s,
                RecordCredential(
                    kind=CredentialKind.DYNAMIC_LEASE, fingerprint=fingerprint,
                    name=f"{role.connection}/{username}", source=CredentialSource.MANAGED,
                    identity_id=p.identity_id, issued_at=now, not_after=now + lifetime,
                    attributes={"lease_id": lease_id, "role": role_name,
                                "connection": role.connection, "username": username},
                    location=(LocationKind.ISSUED, f"tessera:{lease_id}"),
                ),
            )  # fmt: skip
            s.add(
                LeaseRow(
                    id=lease_id, engine=ENGINE, role=role_name, connection=role.connection,
                    username=username, token_accessor=p.accessor, identity_id=p.identity_id,
                    credential_id=credential_id, state=LeaseState.PENDING.value,
                    renewable=role.renewable, issued_at=now, expires_at=now + lifetime,
                    max_expires_at=now + limit, revoked_at=None, attempts=0,
                    next_attempt_at=None, last_error=None,
                )
            )  # fmt: skip

    def _forget_intent(self, lease_id: str) -> None:
        with self._db.session(write=True) as s:
            row = s.get(LeaseRow, lease_id)
            if row is not None:
                s.delete(row)
            self._inventory.delete_credential(
                s, CredentialKind.DYNAMIC_LEASE.value, lease_fingerprint(lease_id)
            )

    def _undo_create(self, lease_id: str) -> None:
        """The database refused part of the create: drop whatever exists, then forget the
        lease; if even that fails, leave the lease `revoking` for the worker to finish."""
        with self._db.session() as s:
            row = s.get(LeaseRow, lease_id)
            assert row is not None
            lease = to_lease(row)
        try:
            self.revoke_lease(lease)
        except TesseraError:
            with self._db.session(write=True) as s:
                s.execute(
                    update(LeaseRow)
                    .where(LeaseRow.id == lease_id)
                    .values(state=LeaseState.REVOKING.value, next_attempt_at=self._clock.now())
                )
            return
        self._forget_intent(lease_id)

    # -- LeaseBackend ------------------------------------------------------------------------
    def renew_lease(self, lease: Lease, expires_at: datetime) -> None:
        req = RenewUser(lease.username, expires_at)
        self.connections.run(lease.connection, lambda e, c: e.renew_user(c, req))

    def revoke_lease(self, lease: Lease) -> None:
        with self._db.session() as s:
            row = s.get(DbRoleRow, lease.role)
            statements: tuple[str, ...] = ()
            if row is not None and row.kind == "dynamic":
                statements = DynamicRole.from_document(row.document).revocation_statements
        req = RevokeUser(lease.username, statements)
        self.connections.run(lease.connection, lambda e, c: e.revoke_user(c, req))

    # -- static roles ------------------------------------------------------------------------
    def static_creds(self, p: Principal, name: str) -> StaticCredentials:
        validate_name(name, "role name")
        self._policies.authorize(p, f"database/static-creds/{name}", Capability.READ)
        with self._db.session() as s:
            row = s.get(DbRoleRow, name)
            if row is None or row.kind != "static" or row.password is None:
                raise NotFound(f"static role {name!r} does not exist")
            password = self._barrier.decrypt(AAD("db_roles", name, "password"), row.password)
            role = StaticRole.from_document(row.document)
            return StaticCredentials(
                role.username, password.decode(), _utc(row.last_rotated_at),
                _utc(row.next_rotation_at),
            )  # fmt: skip

    def rotate_role(self, p: Principal, name: str) -> RoleInfo:
        validate_name(name, "role name")
        self._policies.authorize(p, f"database/rotate-role/{name}", Capability.UPDATE)
        self._rotate_static(name)
        return self._role_info(name, "static")

    def _rotate_static(self, name: str) -> None:
        """pending password (committed, doubles as the claim) → ALTER → promoted. A crash
        leaves the pending one, which the next rotation applies again before promoting."""
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = s.get(DbRoleRow, name, with_for_update=True)
            if row is None or row.kind != "static":
                raise NotFound(f"static role {name!r} does not exist")
            role = StaticRole.from_document(row.document)
            if row.pending_password is None:
                row.pending_password = self._barrier.encrypt(
                    AAD("db_roles", name, "pending_password"), new_password(self._rng).encode()
                )
            pending = row.pending_password
            row.next_rotation_at = now + CLAIM_HOLD
        password = self._barrier.decrypt(AAD("db_roles", name, "pending_password"), pending)
        req = RotatePassword(role.username, password.decode())
        self.connections.run(role.connection, lambda e, c: e.rotate_password(c, req))
        done = self._clock.now()
        fingerprint = lease_fingerprint(f"database/static-roles/{name}")
        with self._db.session(write=True) as s:
            row = s.get(DbRoleRow, name)
            if row is None or row.pending_password != pending:
                return  # deleted or re-rotated meanwhile
            row.password = self._barrier.encrypt(AAD("db_roles", name, "password"), password)
            row.pending_password = None
            row.last_rotated_at = done
            row.next_rotation_at = done + role.rotation_period
            if row.credential_id is None:
                row.credential_id = self._inventory.record(
                    s,
                    RecordCredential(
                        kind=CredentialKind.STATIC_SECRET, fingerprint=fingerprint,
                        name=f"database/static-roles/{name}", source=CredentialSource.MANAGED,
                        issued_at=done,
                        attributes={"connection": role.connection, "username": role.username,
                                    "rotation_period": int(role.rotation_period.total_seconds())},
                        location=(LocationKind.ISSUED, f"tessera:database/static-roles/{name}"),
                    ),
                )  # fmt: skip
            self._inventory.set_rotated(s, CredentialKind.STATIC_SECRET.value, fingerprint, done)

    def rotate_due_static(self) -> int:
        """Rotate every static role whose time has come (the worker's step); returns count."""
        now = self._clock.now()
        with self._db.session() as s:
            names = list(
                s.scalars(
                    select(DbRoleRow.name).where(
                        DbRoleRow.kind == "static", DbRoleRow.next_rotation_at <= now
                    )
                )
            )
        done = 0
        for name in names:
            with self._db.session(write=True) as s:  # claim: move the due time forward
                claimed = s.execute(
                    update(DbRoleRow)
                    .where(DbRoleRow.name == name, DbRoleRow.next_rotation_at <= now)
                    .values(next_rotation_at=now + CLAIM_HOLD)
                )
            if not getattr(claimed, "rowcount", 0):
                continue
            try:
                self._rotate_static(name)
                done += 1
            except TesseraError as exc:
                log.warning("rotating static role %s failed: %s", name, exc.detail)
        return done

    # -- sweep -------------------------------------------------------------------------------
    def sweep(self) -> int:
        """Drop users carrying Tessera's prefix that no live lease accounts for. Users are
        listed before leases are read: a user always has its lease committed first."""
        dropped = 0
        for name in self.connections.names():
            try:
                users = self.connections.run(name, lambda e, c: e.list_users(c, USER_PREFIX))
                live = self._leases.live_usernames()
                for user in sorted(set(users) - live):
                    self._drop(name, RevokeUser(user))
                    dropped += 1
                    log.warning("dropped database user %s on %s: no live lease", user, name)
            except TesseraError as exc:
                log.warning("sweep of connection %s failed: %s", name, exc.detail)
        return dropped

    def _drop(self, connection: str, req: RevokeUser) -> None:
        self.connections.run(connection, lambda e, c: e.revoke_user(c, req))

    def connection_row(self, name: str) -> DbConnectionRow | None:
        with self._db.session() as s:
            return s.get(DbConnectionRow, name)
