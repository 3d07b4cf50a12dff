"""Versioned KV secrets (in the manner of Vault's KV v2): versions, check-and-set, soft delete,
undelete, destroy, metadata and listing. Each path is one inventory credential (`static_secret`).

Policy paths: `kv/data/<path>` (create a new path, update an existing one, read, delete the
latest version), `kv/delete|undelete|destroy/<path>` (update), `kv/metadata/<path>` (read,
create/update, delete) and `kv/metadata[/<prefix>]` (list). Values are sealed by the barrier
with AAD (kv_versions, "<path>#<version>", value). Row access lives in `kv_store`, metadata
updates and conversion in `kv_meta`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, true, update

from tessera.auth.models import Principal
from tessera.barrier.service import Barrier
from tessera.core.clock import Clock
from tessera.core.errors import InvalidRequest, NotFound
from tessera.core.paging import check_limit
from tessera.core.randomness import Randomness
from tessera.inventory.models import validate_owner
from tessera.inventory.service import InventoryService
from tessera.policy.models import Capability
from tessera.policy.service import PolicyService
from tessera.secrets.errors import VersionConflict
from tessera.secrets.kv_meta import apply_update, delete_path, to_metadata
from tessera.secrets.kv_models import (
    USAGE_INTERVAL,
    CasRequired,
    KeyList,
    Metadata,
    MetadataUpdate,
    SecretValue,
    UsageThrottle,
    VersionInfo,
    WriteRequest,
    encode_value,
    generator_of,
    public_metadata,
    validate_path,
    validate_versions,
    value_aad,
)
from tessera.secrets.kv_store import (
    ADVANCE,
    INSERT_VERSION,
    LIVE,
    LOCK,
    READ_LATEST,
    READ_VERSION,
    ROTATED,
    create_row,
    list_paths,
    lock,
    open_version,
    prune,
    require,
    retrying,
    versions_of,
)
from tessera.storage.db import Database
from tessera.storage.models_secrets import KvVersionRow


class KvService:
    """Secrets at paths, with versions, check-and-set, soft delete, undelete and destroy."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        barrier: Barrier,
        policies: PolicyService,
        inventory: InventoryService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._barrier = barrier
        self._policies = policies
        self._inventory = inventory
        self._usage = UsageThrottle()

    # -- data ----------------------------------------------------------------------------------
    def write(self, principal: Principal, req: WriteRequest) -> VersionInfo:
        """Store `req.data` as the next version (cas checked), pruning beyond max_versions."""
        path = validate_path(req.path)
        if req.cas is not None and (isinstance(req.cas, bool) or req.cas < 0):
            raise InvalidRequest("cas must be a non-negative integer")
        self._precheck_create_or_update(principal, f"kv/data/{path}")
        plaintext = encode_value(req.data)  # shape and size refused before any write
        return retrying(lambda: self._write_once(principal, path, plaintext, req.cas))

    def _write_once(
        self, principal: Principal | None, path: str, plaintext: bytes, cas: int | None
    ) -> VersionInfo:
        """One write transaction; `principal` None is the rotation scheduler (no policy)."""
        now = self._clock.now()
        with self._db.session(write=True) as s:
            conn = s.connection()  # prepared Core statements: the hot path skips the ORM
            row = conn.execute(LOCK, {"b_path": path}).first()
            if row is None:
                if principal is not None:
                    self._policies.authorize(principal, f"kv/data/{path}", Capability.CREATE)
                if cas not in (None, 0):
                    raise VersionConflict(f"cas is {cas} but the secret has no version yet")
                create_row(s, self._inventory, self._clock, path, now, written=True)
                current, oldest, max_versions = 0, 1, 0
            else:
                if principal is not None:
                    self._policies.authorize(principal, f"kv/data/{path}", Capability.UPDATE)
                if row.cas_required and cas is None:
                    raise CasRequired("this path requires cas (the current version number)")
                if cas is not None and cas != row.current_version:
                    raise VersionConflict(
                        f"cas is {cas} but the current version is {row.current_version}"
                    )
                current, oldest, max_versions = (
                    row.current_version,
                    max(row.oldest_version, 1),
                    row.max_versions,
                )
                conn.execute(ROTATED, {"b_id": row.credential_id, "b_now": now})
            version = current + 1
            oldest = prune(s, path, version, oldest, max_versions)
            moved = conn.execute(
                ADVANCE,
                {"b_path": path, "b_old": current, "b_new": version, "b_oldest": oldest,
                 "b_now": now},
            )  # fmt: skip
            if moved.rowcount != 1:  # belt and braces over the row lock
                raise VersionConflict("the secret was written concurrently")
            blob = self._barrier.encrypt(value_aad(path, version), plaintext)
            conn.execute(
                INSERT_VERSION,
                {"path": path, "version": version, "ciphertext": blob, "created_at": now,
                 "deleted_at": None, "destroyed": False},
            )  # fmt: skip
        return VersionInfo(version, now, None, False)

    def read(self, principal: Principal, path: str, version: int | None = None) -> SecretValue:
        """The latest version, or `version`; deleted → SecretDeleted, destroyed →
        SecretDestroyed, pruned or never written → NotFound."""
        path = validate_path(path)
        self._policies.authorize(principal, f"kv/data/{path}", Capability.READ)
        if version is not None and (isinstance(version, bool) or version < 1):
            raise InvalidRequest("version must be a positive integer")
        stmt = READ_LATEST if version is None else READ_VERSION
        with self._db.session() as s:
            found = s.connection().execute(stmt, {"b_path": path, "b_version": version}).first()
        if found is None or found.version is None:
            raise NotFound("no such secret version" if version else "no such secret")
        info, data = open_version(self._barrier, path, found)
        self._note_use(found.credential_id)
        return SecretValue(path, data, info, public_metadata(found.custom_metadata))

    def rotate(
        self, principal: Principal | None, path: str, expected: int | None = None
    ) -> VersionInfo:
        """Write the next version with the metadata's generated field made afresh and the
        latest version's other fields carried over (check-and-set on the latest, which stays
        readable as the overlap window). `expected`: only if the latest is that version.
        `principal` None is the scheduler. Policy: kv/data/<path> update."""
        path = validate_path(path)
        if principal is not None:
            self._policies.authorize(principal, f"kv/data/{path}", Capability.UPDATE)
        with self._db.session() as s:
            found = s.connection().execute(READ_LATEST, {"b_path": path}).first()
        if found is None:
            raise NotFound("no such secret")
        spec = generator_of(found.custom_metadata)
        if spec is None:
            raise InvalidRequest("this path's metadata has no generator (generate)")
        current = found.version or 0
        if expected is not None and current != expected:
            raise VersionConflict(f"the current version is {current}, not {expected}")
        data = (
            dict(open_version(self._barrier, path, found)[1]) if found.version is not None else {}
        )
        data[spec.field] = spec.generate(self._rng)
        return self._write_once(principal, path, encode_value(data), current)

    # -- version states ------------------------------------------------------------------------
    def delete_latest(self, principal: Principal, path: str) -> int:
        """Soft-delete the current version; returns its number."""
        path = validate_path(path)
        self._policies.authorize(principal, f"kv/data/{path}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = require(s, path)
            if row.current_version == 0:
                raise NotFound("no such secret")
            latest = versions_of(path, (row.current_version,)) & LIVE
            s.execute(update(KvVersionRow).where(latest).values(deleted_at=self._clock.now()))
            return row.current_version

    def delete_versions(self, principal: Principal, path: str, versions: tuple[int, ...]) -> None:
        """Soft-delete the given versions (unknown, destroyed or deleted ones are left)."""
        self._change(principal, "delete", path, versions, LIVE, deleted_at=self._clock.now())

    def undelete(self, principal: Principal, path: str, versions: tuple[int, ...]) -> None:
        """Bring soft-deleted versions back (destroyed ones stay destroyed)."""
        not_destroyed = KvVersionRow.destroyed.is_(False)
        self._change(principal, "undelete", path, versions, not_destroyed, deleted_at=None)

    def destroy(self, principal: Principal, path: str, versions: tuple[int, ...]) -> None:
        """Erase the values of the given versions for good (their state stays listed)."""
        self._change(principal, "destroy", path, versions, true(), ciphertext=None, destroyed=True)

    def _change(
        self, principal: Principal, action: str, path: str, versions: tuple[int, ...],
        which: ColumnElement[bool], **values: Any,
    ) -> None:  # fmt: skip
        """Set `values` on the listed versions that `which` selects (policy: kv/<action>/…)."""
        path = validate_path(path)
        self._policies.authorize(principal, f"kv/{action}/{path}", Capability.UPDATE)
        wanted = validate_versions(versions)
        with self._db.session(write=True) as s:
            require(s, path)
            s.execute(update(KvVersionRow).where(versions_of(path, wanted), which).values(**values))

    # -- metadata ------------------------------------------------------------------------------
    def read_metadata(self, principal: Principal, path: str) -> Metadata:
        path = validate_path(path)
        self._policies.authorize(principal, f"kv/metadata/{path}", Capability.READ)
        with self._db.session() as s:
            return to_metadata(s, require(s, path, locked=False))

    def write_metadata(self, principal: Principal, path: str, req: MetadataUpdate) -> Metadata:
        """Change settings (creating the path without a version if it does not exist);
        lowering max_versions prunes at once; an owner change follows to the inventory."""
        path = validate_path(path)
        self._precheck_create_or_update(principal, f"kv/metadata/{path}")
        owner = validate_owner(req.owner) if req.owner is not None else None
        now = self._clock.now()

        def once() -> Metadata:
            with self._db.session(write=True) as s:
                row = lock(s, path)
                cap = Capability.CREATE if row is None else Capability.UPDATE
                self._policies.authorize(principal, f"kv/metadata/{path}", cap)
                if row is None:
                    row = create_row(s, self._inventory, self._clock, path, now, written=False)
                apply_update(s, self._clock, row, req, owner, now)
                return to_metadata(s, row)

        return retrying(once)

    def delete_metadata(self, principal: Principal, path: str) -> None:
        """Remove every version and the metadata; the inventory credential becomes revoked."""
        path = validate_path(path)
        self._policies.authorize(principal, f"kv/metadata/{path}", Capability.DELETE)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = require(s, path)
            delete_path(s, self._inventory, path, now)
            self._usage.forget(row.credential_id)

    def list_keys(
        self, principal: Principal, prefix: str, limit: int = 1000, cursor: str | None = None
    ) -> KeyList:
        """Immediate children of `prefix` ("" = the root) in path order; folders end in '/'.
        A trailing '/' on the prefix is ignored. Keyset paging: pass back `next_cursor`."""
        prefix = validate_path(prefix.removesuffix("/"), allow_empty=True)
        check_limit(limit)
        self._policies.authorize(
            principal, "kv/metadata" + (f"/{prefix}" if prefix else ""), Capability.LIST
        )
        return list_paths(self._db, prefix, cursor, limit)

    # -- helpers -------------------------------------------------------------------------------
    def _precheck_create_or_update(self, principal: Principal, policy_path: str) -> None:
        """Refuse before any lookup when neither capability is granted, so a denial says
        nothing about whether the path exists."""
        if not (
            self._policies.permits(principal, policy_path, Capability.CREATE)
            or self._policies.permits(principal, policy_path, Capability.UPDATE)
        ):
            self._policies.authorize(principal, policy_path, Capability.CREATE)  # raises

    def _note_use(self, credential_id: str) -> None:
        """Record a read in last_used_at, at most once per USAGE_INTERVAL per path: from
        memory on this node, and by the stored value across nodes."""
        now = self._clock.now()
        if not self._usage.due(credential_id, now):
            return
        with self._db.session(write=True) as s:
            self._inventory.mark_used(s, {credential_id: now}, unless_within=USAGE_INTERVAL)
