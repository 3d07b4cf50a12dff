"""Row ↔ domain conversion and the queries of the API key domain."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from tessera.apikeys.models import ApiKey, ApiKeyStatus
from tessera.core.clock import as_utc
from tessera.storage.models import CredentialRow, IdentityRow
from tessera.storage.models_apikeys import ApiKeyRow

_KEYS = cast(Table, ApiKeyRow.__table__)
_CREDENTIALS = cast(Table, CredentialRow.__table__)
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
_TOUCH_CREDENTIAL = (
    update(_CREDENTIALS)
    .where(
        _CREDENTIALS.c.id == bindparam("cid"),
        or_(
            _CREDENTIALS.c.last_used_at.is_(None),
            _CREDENTIALS.c.last_used_at < bindparam("used"),
        ),
    )
    .values(last_used_at=bindparam("used"))
)


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


def write_usage(s: Session, uses: Mapping[str, datetime]) -> None:
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
        conn.execute(_TOUCH_CREDENTIAL, [{"cid": credentials[k], "used": uses[k]} for k in found])
