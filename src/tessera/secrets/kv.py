"""Versioned KV secrets (in the manner of Vault's KV v2): versions, check-and-set, soft delete,
undelete, destroy, metadata and listing. Each path is one inventory credential (`static_secret`).

Policy paths: `kv/data/<path>` (create a new path, update an existing one, read, delete the
latest version), `kv/delete|undelete|destroy/<path>` (update), `kv/metadata/<path>` (read,
create/update, delete) and `kv/metadata[/<prefix>]` (list). Values are sealed by the barrier
with AAD (kv_versions, "<path>#<version>", value)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.barrier.service import Barrier
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.core.paging import check_limit
from tessera.core.randomness import Randomness
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    CredentialStatus,
    LocationKind,
    RecordCredential,
    validate_owner,
)
from tessera.inventory.service import InventoryService
from tessera.policy.models import Capability
from tessera.policy.service import PolicyService
from tessera.secrets.errors import VersionConflict
from tessera.secrets.kv_models import (
    GENERATE_KEY,
    USAGE_INTERVAL,
    CasRequired,
    KeyList,
    Metadata,
    MetadataUpdate,
    SecretDeleted,
    SecretDestroyed,
    SecretValue,
    UsageThrottle,
    VersionInfo,
    WriteRequest,
    decode_cursor,
    decode_value,
    effective_max_versions,
    encode_value,
    fingerprint,
    generator_of,
    list_children,
    public_metadata,
    validate_path,
    validate_versions,
    value_aad,
)
from tessera.storage.db import Database
from tessera.storage.models import CredentialRow
from tessera.storage.models_secrets import KvSecretRow, KvVersionRow

T = TypeVar("T")
_SECRETS = cast(Table, KvSecretRow.__table__)
_VERSIONS = cast(Table, KvVersionRow.__table__)
_CREDENTIALS = cast(Table, CredentialRow.__table__)
_LOCK = (
    select(_SECRETS)
    .where(_SECRETS.c.path == bindparam("b_path"))
    .with_for_update()  # PostgreSQL; SQLite writers hold the database lock already
)
_ADVANCE = (
    update(_SECRETS)
    .where(_SECRETS.c.path == bindparam("b_path"))
    .where(_SECRETS.c.current_version == bindparam("b_old"))
    .values(
        current_version=bindparam("b_new"),
        oldest_version=bindparam("b_oldest"),
        updated_at=bindparam("b_now"),
    )
)
_INSERT_VERSION = insert(_VERSIONS)
_ROTATED = (
    update(_CREDENTIALS)
    .where(_CREDENTIALS.c.id == bindparam("b_id"))
    .values(last_rotated_at=bindparam("b_now"), updated_at=bindparam("b_now"))
)


def _read(version: ColumnElement[int]) -> Select[Any]:
    joined = _SECRETS.outerjoin(
        _VERSIONS,
        and_(_VERSIONS.c.path == _SECRETS.c.path, _VERSIONS.c.version == version),
    )
    return (
        select(_SECRETS.c.credential_id, _SECRETS.c.custom_metadata, *_VERSIONS.c)
        .select_from(joined)
        .where(_SECRETS.c.path == bindparam("b_path"))
    )


_READ_LATEST = _read(_SECRETS.c.current_version)
_READ_VERSION = _read(bindparam("b_version"))
_LIVE = KvVersionRow.deleted_at.is_(None) & KvVersionRow.destroyed.is_(False)

_CREATE_ATTEMPTS = 3  # a concurrent first write of the same path makes ours retry as an update


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
        return _retrying(lambda: self._write_once(principal, path, plaintext, req.cas))

    def _write_once(
        self, principal: Principal | None, path: str, plaintext: bytes, cas: int | None
    ) -> VersionInfo:
        """One write transaction; `principal` None is the rotation scheduler (no policy)."""
        now = self._clock.now()
        with self._db.session(write=True) as s:
            conn = s.connection()  # prepared Core statements: the hot path skips the ORM
            row = conn.execute(_LOCK, {"b_path": path}).first()
            if row is None:
                if principal is not None:
                    self._policies.authorize(principal, f"kv/data/{path}", Capability.CREATE)
                if cas not in (None, 0):
                    raise VersionConflict(f"cas is {cas} but the secret has no version yet")
                self._create_row(s, path, now, written=True)
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
                conn.execute(_ROTATED, {"b_id": row.credential_id, "b_now": now})
            version = current + 1
            oldest = self._prune(s, path, version, oldest, max_versions)
            moved = conn.execute(
                _ADVANCE,
                {"b_path": path, "b_old": current, "b_new": version, "b_oldest": oldest,
                 "b_now": now},
            )  # fmt: skip
            if moved.rowcount != 1:  # belt and braces over the row lock
                raise VersionConflict("the secret was written concurrently")
            blob = self._barrier.encrypt(value_aad(path, version), plaintext)
            conn.execute(
                _INSERT_VERSION,
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
        stmt = _READ_LATEST if version is None else _READ_VERSION
        with self._db.session() as s:
            found = s.connection().execute(stmt, {"b_path": path, "b_version": version}).first()
        if found is None or found.version is None:
            raise NotFound("no such secret version" if version else "no such secret")
        info, data = self._open(path, found)
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
            found = s.connection().execute(_READ_LATEST, {"b_path": path}).first()
        if found is None:
            raise NotFound("no such secret")
        spec = generator_of(found.custom_metadata)
        if spec is None:
            raise InvalidRequest("this path's metadata has no generator (generate)")
        current = found.version or 0
        if expected is not None and current != expected:
            raise VersionConflict(f"the current version is {current}, not {expected}")
        data = dict(self._open(path, found)[1]) if found.version is not None else {}
        data[spec.field] = spec.generate(self._rng)
        return self._write_once(principal, path, encode_value(data), current)

    def _open(self, path: str, found: Any) -> tuple[VersionInfo, dict[str, Any]]:
        """A read row's state and decrypted data; deleted or destroyed versions raise."""
        info = VersionInfo.stored(
            found.version, found.created_at, found.deleted_at, found.destroyed
        )
        if info.destroyed or found.ciphertext is None:
            raise SecretDestroyed(
                f"version {info.version} was destroyed for good", version=info.version
            )
        if info.deleted_at is not None:
            raise SecretDeleted(
                f"version {info.version} was deleted at {info.deleted_at.isoformat()} "
                "(undelete brings it back)",
                version=info.version,
                deleted_at=info.deleted_at.isoformat(),
            )
        data = decode_value(self._barrier.decrypt(value_aad(path, info.version), found.ciphertext))
        return info, data

    # -- version states ------------------------------------------------------------------------
    def delete_latest(self, principal: Principal, path: str) -> int:
        """Soft-delete the current version; returns its number."""
        path = validate_path(path)
        self._policies.authorize(principal, f"kv/data/{path}", Capability.DELETE)
        with self._db.session(write=True) as s:
            row = self._require(s, path)
            if row.current_version == 0:
                raise NotFound("no such secret")
            latest = _versions(path, (row.current_version,)) & _LIVE
            s.execute(update(KvVersionRow).where(latest).values(deleted_at=self._clock.now()))
            return row.current_version

    def delete_versions(self, principal: Principal, path: str, versions: tuple[int, ...]) -> None:
        """Soft-delete the given versions (unknown, destroyed or deleted ones are left)."""
        self._change(principal, "delete", path, versions, _LIVE, deleted_at=self._clock.now())

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
            self._require(s, path)
            s.execute(update(KvVersionRow).where(_versions(path, wanted), which).values(**values))

    # -- metadata ------------------------------------------------------------------------------
    def read_metadata(self, principal: Principal, path: str) -> Metadata:
        path = validate_path(path)
        self._policies.authorize(principal, f"kv/metadata/{path}", Capability.READ)
        with self._db.session() as s:
            return self._metadata(s, self._require(s, path, lock=False))

    def write_metadata(self, principal: Principal, path: str, req: MetadataUpdate) -> Metadata:
        """Change settings (creating the path without a version if it does not exist);
        lowering max_versions prunes at once; an owner change follows to the inventory."""
        path = validate_path(path)
        self._precheck_create_or_update(principal, f"kv/metadata/{path}")
        owner = validate_owner(req.owner) if req.owner is not None else None
        now = self._clock.now()

        def once() -> Metadata:
            with self._db.session(write=True) as s:
                row = _lock(s, path)
                cap = Capability.CREATE if row is None else Capability.UPDATE
                self._policies.authorize(principal, f"kv/metadata/{path}", cap)
                if row is None:
                    row = self._create_row(s, path, now, written=False)
                self._apply(s, row, req, owner, now)
                return self._metadata(s, row)

        return _retrying(once)

    def delete_metadata(self, principal: Principal, path: str) -> None:
        """Remove every version and the metadata; the inventory credential becomes revoked."""
        path = validate_path(path)
        self._policies.authorize(principal, f"kv/metadata/{path}", Capability.DELETE)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = self._require(s, path)
            s.execute(delete(KvVersionRow).where(KvVersionRow.path == path))
            s.execute(delete(KvSecretRow).where(KvSecretRow.path == path))
            kind = CredentialKind.STATIC_SECRET.value
            self._inventory.set_status(
                s, [(kind, fingerprint(path))], CredentialStatus.REVOKED, now
            )
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
        # PostgreSQL's default collation is not byte order: compare and sort in "C"
        col = KvSecretRow.path if self._db.is_sqlite else KvSecretRow.path.collate("C")

        def fetch(lower: str, inclusive: bool, upper: str | None, n: int) -> list[str]:
            stmt = select(KvSecretRow.path).where(col >= lower if inclusive else col > lower)
            if upper is not None:
                stmt = stmt.where(col < upper)
            return list(s.execute(stmt.order_by(col).limit(n)).scalars())

        with self._db.session() as s:
            return list_children(fetch, prefix, decode_cursor(cursor), limit)

    # -- helpers -------------------------------------------------------------------------------
    def _precheck_create_or_update(self, principal: Principal, policy_path: str) -> None:
        """Refuse before any lookup when neither capability is granted, so a denial says
        nothing about whether the path exists."""
        if not (
            self._policies.permits(principal, policy_path, Capability.CREATE)
            or self._policies.permits(principal, policy_path, Capability.UPDATE)
        ):
            self._policies.authorize(principal, policy_path, Capability.CREATE)  # raises

    def _require(self, s: Session, path: str, *, lock: bool = True) -> KvSecretRow:
        row = _lock(s, path) if lock else s.get(KvSecretRow, path)
        if row is None:
            raise NotFound("no such secret")
        return row

    def _create_row(self, s: Session, path: str, now: datetime, *, written: bool) -> KvSecretRow:
        """The metadata row and its inventory credential (a revoked one from an earlier life
        of the path comes back active). Raises IntegrityError when another writer won."""
        cid = self._inventory.record(
            s,
            RecordCredential(
                kind=CredentialKind.STATIC_SECRET,
                fingerprint=fingerprint(path),
                name=path,
                source=CredentialSource.MANAGED,
                issued_at=now,
                attributes={"engine": "kv", "path": path},
                location=(LocationKind.ISSUED, f"tessera:kv/{path}"),
            ),
        )
        self._touch_credential(
            s,
            cid,
            status=CredentialStatus.ACTIVE.value,
            owner=None,
            issued_at=now,
            last_rotated_at=now if written else None,
            last_used_at=None,
        )
        row = KvSecretRow(
            path=path,
            current_version=0,
            oldest_version=0,
            max_versions=0,
            cas_required=False,
            custom_metadata={},
            owner=None,
            rotation_period_seconds=None,
            credential_id=cid,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        return row

    def _apply(
        self, s: Session, row: KvSecretRow, req: MetadataUpdate, owner: str | None, now: datetime
    ) -> None:
        if req.max_versions is not None:
            row.max_versions = req.max_versions
            if row.current_version:
                row.oldest_version = self._prune(
                    s, row.path, row.current_version, row.oldest_version, row.max_versions
                )
        if req.cas_required is not None:
            row.cas_required = req.cas_required
        stored = dict(row.custom_metadata or {})
        if req.custom_metadata is not None:  # replaces the caller-visible keys only
            spec = stored.get(GENERATE_KEY)
            stored = dict(req.custom_metadata) | ({GENERATE_KEY: spec} if spec else {})
        if req.generate is not None:
            stored[GENERATE_KEY] = req.generate.encode()
        elif req.clear_generate:
            stored.pop(GENERATE_KEY, None)
        if GENERATE_KEY in stored and row.max_versions == 1:
            # rotation's overlap window is the previous version: it must be kept
            raise InvalidRequest("a path with a generator must keep at least 2 versions")
        row.custom_metadata = stored
        if req.rotation_period is not None:
            seconds = int(req.rotation_period.total_seconds())
            row.rotation_period_seconds = seconds or None
        if owner is not None and owner != row.owner:
            row.owner = owner
            self._touch_credential(s, row.credential_id, owner=owner)
        row.updated_at = now

    def _prune(self, s: Session, path: str, newest: int, oldest: int, configured: int) -> int:
        """Delete versions beyond the newest `max_versions`; returns the new oldest version."""
        keep_from = newest - effective_max_versions(configured) + 1
        if oldest >= keep_from:
            return max(oldest, 1)
        s.execute(
            delete(KvVersionRow).where(KvVersionRow.path == path, KvVersionRow.version < keep_from)
        )
        return keep_from

    def _touch_credential(self, s: Session, credential_id: str, **values: Any) -> None:
        s.execute(
            update(CredentialRow)
            .where(CredentialRow.id == credential_id)
            .values(updated_at=self._clock.now(), **values)
        )

    def _note_use(self, credential_id: str) -> None:
        """Record a read in last_used_at, at most once per USAGE_INTERVAL per path: from
        memory on this node, and by the stored value across nodes."""
        now = self._clock.now()
        if not self._usage.due(credential_id, now):
            return
        with self._db.session(write=True) as s:
            s.execute(
                update(CredentialRow)
                .where(
                    CredentialRow.id == credential_id,
                    (CredentialRow.last_used_at.is_(None))
                    | (CredentialRow.last_used_at <= now - USAGE_INTERVAL),
                )
                .values(last_used_at=now)
            )

    def _metadata(self, s: Session, row: KvSecretRow) -> Metadata:
        versions = s.execute(
            select(KvVersionRow).where(KvVersionRow.path == row.path).order_by(KvVersionRow.version)
        ).scalars()
        cred = s.execute(
            select(CredentialRow.last_rotated_at, CredentialRow.last_used_at).where(
                CredentialRow.id == row.credential_id
            )
        ).first()
        rotated, used = cred if cred is not None else (None, None)
        period = row.rotation_period_seconds
        return Metadata(
            path=row.path,
            current_version=row.current_version,
            oldest_version=row.oldest_version,
            max_versions=row.max_versions,
            cas_required=row.cas_required,
            custom_metadata=public_metadata(row.custom_metadata),
            owner=row.owner,
            rotation_period=timedelta(seconds=period) if period else None,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            versions=tuple(
                VersionInfo.stored(v.version, v.created_at, v.deleted_at, v.destroyed)
                for v in versions
            ),
            credential_id=row.credential_id,
            last_rotated_at=as_utc(rotated) if rotated else None,
            last_used_at=as_utc(used) if used else None,
            generate=generator_of(row.custom_metadata),
        )


def _retrying(transaction: Callable[[], T]) -> T:
    """Run a transaction that may create the path; when a concurrent creator won (unique key),
    run it again: it now sees the path and proceeds as an update (or a cas mismatch)."""
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return transaction()
        except IntegrityError:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise Conflict("the secret was changed concurrently; retry") from None
    raise AssertionError("unreachable")


def _lock(s: Session, path: str) -> KvSecretRow | None:
    """The path's row, locked FOR UPDATE on PostgreSQL (SQLite writers hold the database
    lock already), so concurrent writers of one path queue and each sees the other's version."""
    stmt = select(KvSecretRow).where(KvSecretRow.path == path).with_for_update()
    return s.execute(stmt).scalar_one_or_none()


def _versions(path: str, versions: tuple[int, ...]) -> ColumnElement[bool]:
    return and_(KvVersionRow.path == path, KvVersionRow.version.in_(versions))
