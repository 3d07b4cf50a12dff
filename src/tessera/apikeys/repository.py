"""Row ↔ domain conversion and the queries of the API key domain."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Select, String, Table, bindparam, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from tessera.apikeys.models import ApiKey, ApiKeyStatus, RotationPolicy
from tessera.apikeys.ports import InventoryPort
from tessera.core.clock import as_utc
from tessera.storage.models import IdentityRow
from tessera.storage.models_apikeys import ApiKeyRow

_KEYS = cast(Table, ApiKeyRow.__table__)
_CHUNK = 500

# executemany statements: only ever move last_used_at forward (several nodes flush)
_TOUCH_KEY = (
    update(_KEYS)
    .where(
        _KEYS.c.id == bindparam("kid"),
        or_(_KEYS.c.last_used_at.is_(None), _KEYS.c.last_used_at < bindparam("used")),
    )
    .values(last_used_at=bindparam("used"))
)


def key_path(identity: str, key_id: str | None = None) -> str:
    """The policy path of an identity's keys, or of one of them."""
    return f"apikeys/keys/{identity}" + (f"/{key_id}" if key_id else "")


def rotation_subject(key_id: str, generation: int) -> str:
    """The lifecycle job subject of one scheduled rotation: each generation is its own job."""
    return f"{key_id}:{generation}"


def fingerprint(key_id: str) -> str:
    """The inventory fingerprint of a key: its public id (never the secret or its hash), so a
    leaked key found by a scan leads to its credential."""
    return "apikey:" + key_id


def status_of(row: ApiKeyRow, now: datetime) -> ApiKeyStatus:
    if row.revoked_at is not None:
        return ApiKeyStatus.REVOKED
    if as_utc(row.expires_at) <= now:
        return ApiKeyStatus.EXPIRED
    if row.replaced_by is not None:
        return ApiKeyStatus.SUPERSEDED
    return ApiKeyStatus.ACTIVE


def key_from_row(row: ApiKeyRow, identity: str, now: datetime) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        identity=identity,
        identity_id=row.identity_id,
        scopes=tuple(row.scopes),
        status=status_of(row, now),
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
        replaces=row.replaces,
        replaced_by=row.replaced_by,
        credential_id=row.credential_id,
        rotation=rotation_of(row),
        rotate_at=as_utc(row.rotate_at) if row.rotate_at else None,
        generation=row.generation or 0,
        awaiting_pickup=row.sealed_key is not None
        and row.sealed_until is not None
        and as_utc(row.sealed_until) > now,
    )


def rotation_of(row: ApiKeyRow) -> RotationPolicy:
    every, overlap = row.rotate_every_seconds, row.overlap_seconds
    return RotationPolicy(
        rotate_every=timedelta(seconds=every) if every is not None else None,
        overlap=timedelta(seconds=overlap) if overlap is not None else None,
    )


def load(s: Session, key_id: str, *, lock: bool = False) -> tuple[ApiKeyRow, str] | None:
    """The key row and its identity's name; `lock` takes the row FOR UPDATE."""
    stmt = (
        select(ApiKeyRow, IdentityRow.name)
        .join(IdentityRow, IdentityRow.id == ApiKeyRow.identity_id)
        .where(ApiKeyRow.id == key_id)
    )
    if lock:
        stmt = stmt.with_for_update(of=ApiKeyRow)
    found = s.execute(stmt).first()
    return None if found is None else (found[0], found[1])


def page(
    s: Session, identity_id: str | None, after: str | None, limit: int
) -> list[tuple[ApiKeyRow, str]]:
    """Up to `limit` keys in key-id order after `after`, optionally of one identity."""
    stmt = select(ApiKeyRow, IdentityRow.name).join(
        IdentityRow, IdentityRow.id == ApiKeyRow.identity_id
    )
    if identity_id is not None:
        stmt = stmt.where(ApiKeyRow.identity_id == identity_id)
    if after is not None:
        stmt = stmt.where(ApiKeyRow.id > after)
    rows = s.execute(stmt.order_by(ApiKeyRow.id).limit(limit))
    return [(row, name) for row, name in rows]


def write_usage(s: Session, uses: Mapping[str, datetime], inventory: InventoryPort) -> None:
    """Move last_used_at of the keys, and of their inventory credentials, forward."""
    ids = list(uses)
    conn = s.connection()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        credentials = {
            key_id: credential_id
            for key_id, credential_id in s.execute(
                select(ApiKeyRow.id, ApiKeyRow.credential_id).where(ApiKeyRow.id.in_(chunk))
            )
        }
        found = [k for k in chunk if k in credentials]
        if not found:
            continue
        conn.execute(_TOUCH_KEY, [{"kid": k, "used": uses[k]} for k in found])
        inventory.mark_used(s, {credentials[k]: uses[k] for k in found})


def due_rotations(
    s: Session, now: datetime, blocked: Select[str], limit: int
) -> list[tuple[str, int]]:
    """(key id, generation) of live, unrotated keys whose `rotate_at` has come and whose job is
    not blocked, soonest first; blocked ones are left out in the query so they never starve."""
    subject = _KEYS.c.id + ":" + sql_cast(_KEYS.c.generation, String)
    rows = s.execute(
        select(_KEYS.c.id, _KEYS.c.generation)
        .where(
            _KEYS.c.rotate_at <= now,
            _KEYS.c.revoked_at.is_(None),
            _KEYS.c.replaced_by.is_(None),
            _KEYS.c.expires_at > now,
            subject.not_in(blocked),
        )
        .order_by(_KEYS.c.rotate_at, _KEYS.c.id)
        .limit(limit)
    )
    return [(key_id, generation) for key_id, generation in rows]


def purge_sealed(s: Session, now: datetime) -> int:
    """Wipe the sealed successors whose pickup window has ended."""
    result = s.execute(
        update(_KEYS).where(_KEYS.c.sealed_until <= now).values(sealed_key=None, sealed_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)
