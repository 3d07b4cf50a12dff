"""Row ↔ domain conversion for tokens."""

from __future__ import annotations

from tessera.auth.models import TokenInfo
from tessera.core.clock import as_utc
from tessera.storage.models import TokenRow


def info_from_row(row: TokenRow) -> TokenInfo:
    return TokenInfo(
        accessor=row.accessor,
        policies=tuple(row.policies),
        display_name=row.display_name,
        identity_id=row.identity_id,
        meta=dict(row.meta),
        renewable=row.renewable,
        ttl_seconds=row.ttl_seconds,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        max_expires_at=as_utc(row.max_expires_at) if row.max_expires_at else None,
        parent_accessor=row.parent_accessor,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
    )
