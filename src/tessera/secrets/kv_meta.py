"""KV path metadata: applying a settings update, deleting a path with its versions, and
reading a path's row, versions and inventory dates as `Metadata`. Used only by
`tessera.secrets.kv.KvService`, which holds policy and orchestration."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tessera.core.clock import Clock, as_utc
from tessera.core.errors import InvalidRequest
from tessera.inventory.models import CredentialKind, CredentialStatus
from tessera.inventory.service import InventoryService
from tessera.secrets.kv_models import (
    GENERATE_KEY,
    Metadata,
    MetadataUpdate,
    VersionInfo,
    fingerprint,
    generator_of,
    public_metadata,
)
from tessera.secrets.kv_store import prune, touch_credential
from tessera.storage.models import CredentialRow
from tessera.storage.models_secrets import KvSecretRow, KvVersionRow


def apply_update(
    s: Session,
    clock: Clock,
    row: KvSecretRow,
    req: MetadataUpdate,
    owner: str | None,
    now: datetime,
) -> None:
    """Apply the set fields of `req` to `row`; lowering max_versions prunes at once and an
    owner change follows to the inventory credential."""
    if req.max_versions is not None:
        row.max_versions = req.max_versions
        if row.current_version:
            row.oldest_version = prune(
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
        touch_credential(s, clock, row.credential_id, owner=owner)
    row.updated_at = now


def delete_path(s: Session, inventory: InventoryService, path: str, now: datetime) -> None:
    """Remove every version and the metadata row; the inventory credential becomes revoked."""
    s.execute(delete(KvVersionRow).where(KvVersionRow.path == path))
    s.execute(delete(KvSecretRow).where(KvSecretRow.path == path))
    kind = CredentialKind.STATIC_SECRET.value
    inventory.set_status(s, [(kind, fingerprint(path))], CredentialStatus.REVOKED, now)


def to_metadata(s: Session, row: KvSecretRow) -> Metadata:
    """The path's settings, its versions' states and its credential's rotation/use dates."""
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
            VersionInfo.stored(v.version, v.created_at, v.deleted_at, v.destroyed) for v in versions
        ),
        credential_id=row.credential_id,
        last_rotated_at=as_utc(rotated) if rotated else None,
        last_used_at=as_utc(used) if used else None,
        generate=generator_of(row.custom_metadata),
    )
