"""Row access for KV secrets: prepared Core statements, row locking, version pruning, the
path's inventory credential, row → domain conversion of a read, and the listing query.
Used only by `tessera.secrets.kv.KvService`, which holds policy and orchestration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.barrier.service import Barrier
from tessera.core.clock import Clock
from tessera.core.errors import Conflict, NotFound
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    CredentialStatus,
    LocationKind,
    RecordCredential,
)
from tessera.inventory.service import InventoryService
from tessera.secrets.kv_models import (
    KeyList,
    SecretDeleted,
    SecretDestroyed,
    VersionInfo,
    decode_cursor,
    decode_value,
    effective_max_versions,
    fingerprint,
    list_children,
    value_aad,
)
from tessera.storage.db import Database
from tessera.storage.models import CredentialRow
from tessera.storage.models_secrets import KvSecretRow, KvVersionRow

T = TypeVar("T")
_SECRETS = cast(Table, KvSecretRow.__table__)
_VERSIONS = cast(Table, KvVersionRow.__table__)
_CREDENTIALS = cast(Table, CredentialRow.__table__)
LOCK = (
    select(_SECRETS)
    .where(_SECRETS.c.path == bindparam("b_path"))
    .with_for_update()  # PostgreSQL; SQLite writers hold the database lock already
)
ADVANCE = (
    update(_SECRETS)
    .where(_SECRETS.c.path == bindparam("b_path"))
    .where(_SECRETS.c.current_version == bindparam("b_old"))
    .values(
        current_version=bindparam("b_new"),
        oldest_version=bindparam("b_oldest"),
        updated_at=bindparam("b_now"),
    )
)
INSERT_VERSION = insert(_VERSIONS)
ROTATED = (
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


READ_LATEST = _read(_SECRETS.c.current_version)
READ_VERSION = _read(bindparam("b_version"))
LIVE = KvVersionRow.deleted_at.is_(None) & KvVersionRow.destroyed.is_(False)

_CREATE_ATTEMPTS = 3  # a concurrent first write of the same path makes ours retry as an update


def retrying(transaction: Callable[[], T]) -> T:
    """Run a transaction that may create the path; when a concurrent creator won (unique key),
    run it again: it now sees the path and proceeds as an update (or a cas mismatch)."""
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return transaction()
        except IntegrityError:
            if attempt == _CREATE_ATTEMPTS - 1:
                raise Conflict("the secret was changed concurrently; retry") from None
    raise AssertionError("unreachable")


def lock(s: Session, path: str) -> KvSecretRow | None:
    """The path's row, locked FOR UPDATE on PostgreSQL (SQLite writers hold the database
    lock already), so concurrent writers of one path queue and each sees the other's version."""
    stmt = select(KvSecretRow).where(KvSecretRow.path == path).with_for_update()
    return s.execute(stmt).scalar_one_or_none()


def require(s: Session, path: str, *, locked: bool = True) -> KvSecretRow:
    """The path's row (locked unless `locked` is False); NotFound when there is none."""
    row = lock(s, path) if locked else s.get(KvSecretRow, path)
    if row is None:
        raise NotFound("no such secret")
    return row


def versions_of(path: str, versions: tuple[int, ...]) -> ColumnElement[bool]:
    """Selects the listed versions of `path`."""
    return and_(KvVersionRow.path == path, KvVersionRow.version.in_(versions))


def prune(s: Session, path: str, newest: int, oldest: int, configured: int) -> int:
    """Delete versions beyond the newest `max_versions`; returns the new oldest version."""
    keep_from = newest - effective_max_versions(configured) + 1
    if oldest >= keep_from:
        return max(oldest, 1)
    s.execute(
        delete(KvVersionRow).where(KvVersionRow.path == path, KvVersionRow.version < keep_from)
    )
    return keep_from


def touch_credential(s: Session, clock: Clock, credential_id: str, **values: Any) -> None:
    """Set `values` on the inventory credential and bump its updated_at."""
    s.execute(
        update(CredentialRow)
        .where(CredentialRow.id == credential_id)
        .values(updated_at=clock.now(), **values)
    )


def create_row(
    s: Session,
    inventory: InventoryService,
    clock: Clock,
    path: str,
    now: datetime,
    *,
    written: bool,
) -> KvSecretRow:
    """The metadata row and its inventory credential (a revoked one from an earlier life
    of the path comes back active). Raises IntegrityError when another writer won."""
    cid = inventory.record(
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
    touch_credential(
        s,
        clock,
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


def open_version(barrier: Barrier, path: str, found: Any) -> tuple[VersionInfo, dict[str, Any]]:
    """A read row's state and decrypted data; deleted or destroyed versions raise."""
    info = VersionInfo.stored(found.version, found.created_at, found.deleted_at, found.destroyed)
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
    data = decode_value(barrier.decrypt(value_aad(path, info.version), found.ciphertext))
    return info, data


def list_paths(db: Database, prefix: str, cursor: str | None, limit: int) -> KeyList:
    """Immediate children of a validated `prefix`, keyset-paged from `cursor`."""
    # PostgreSQL's default collation is not byte order: compare and sort in "C"
    col = KvSecretRow.path if db.is_sqlite else KvSecretRow.path.collate("C")

    def fetch(lower: str, inclusive: bool, upper: str | None, n: int) -> list[str]:
        stmt = select(KvSecretRow.path).where(col >= lower if inclusive else col > lower)
        if upper is not None:
            stmt = stmt.where(col < upper)
        return list(s.execute(stmt.order_by(col).limit(n)).scalars())

    with db.session() as s:
        return list_children(fetch, prefix, decode_cursor(cursor), limit)
