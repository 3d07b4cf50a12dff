"""Queries and writes for identities, credentials and locations (used only by services)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tessera.core.clock import as_utc
from tessera.core.paging import encode_cursor
from tessera.inventory.models import (
    Credential,
    CredentialKind,
    CredentialQuery,
    CredentialSource,
    CredentialStatus,
    Identity,
    IdentityKind,
    IdentityQuery,
    IdentityStatus,
    Location,
    LocationKind,
    Page,
)
from tessera.storage.models import CredentialLocationRow, CredentialRow, IdentityRow

T = TypeVar("T")
LABEL_SCAN_BUDGET = 10_000


def _opt(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def identity_from_row(row: IdentityRow) -> Identity:
    return Identity(
        id=row.id,
        name=row.name,
        kind=IdentityKind(row.kind),
        owner=row.owner,
        environment=row.environment,
        labels=dict(row.labels),
        spiffe_id=row.spiffe_id,
        status=IdentityStatus(row.status),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        decommissioned_at=_opt(row.decommissioned_at),
    )


def credential_from_row(row: CredentialRow, locations: tuple[Location, ...] = ()) -> Credential:
    return Credential(
        id=row.id,
        kind=CredentialKind(row.kind),
        fingerprint=row.fingerprint,
        name=row.name,
        identity_id=row.identity_id,
        owner=row.owner,
        source=CredentialSource(row.source),
        status=CredentialStatus(row.status),
        issued_at=_opt(row.issued_at),
        not_after=_opt(row.not_after),
        last_used_at=_opt(row.last_used_at),
        last_rotated_at=_opt(row.last_rotated_at),
        attributes=dict(row.attributes),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        locations=locations,
    )


def get_identity_row(session: Session, name: str, lock: str | None = None) -> IdentityRow | None:
    """By name; `lock` "share" or "update" takes a row lock (PostgreSQL; SQLite serialises)."""
    stmt = select(IdentityRow).where(IdentityRow.name == name)
    if lock is not None:
        stmt = stmt.with_for_update(read=lock == "share")
    return session.execute(stmt).scalar_one_or_none()


def list_identities(session: Session, query: IdentityQuery, after: str | None) -> Page[Identity]:
    stmt = select(IdentityRow).order_by(IdentityRow.id)
    if query.kind is not None:
        stmt = stmt.where(IdentityRow.kind == query.kind.value)
    if query.owner is not None:
        stmt = stmt.where(IdentityRow.owner == query.owner)
    if query.environment is not None:
        stmt = stmt.where(IdentityRow.environment == query.environment)
    if query.status is not None:
        stmt = stmt.where(IdentityRow.status == query.status.value)
    if after is not None:
        stmt = stmt.where(IdentityRow.id > after)
    if query.label is None:
        rows = list(session.execute(stmt.limit(query.limit + 1)).scalars())
        return _page([identity_from_row(r) for r in rows], query.limit, lambda i: i.id)
    # JSON containment differs per engine: filter labels in Python over a bounded scan; when the
    # scan budget runs out the page is short and its cursor resumes after the last row scanned.
    key, value = query.label
    matches: list[Identity] = []
    scanned, last_id = 0, ""
    scan = session.execute(stmt.limit(LABEL_SCAN_BUDGET).execution_options(yield_per=500))
    for row in scan.scalars():
        scanned, last_id = scanned + 1, row.id
        if row.labels.get(key) == value:
            if len(matches) == query.limit:  # one match beyond the page: there is more
                return Page(tuple(matches), encode_cursor(matches[-1].id))
            matches.append(identity_from_row(row))
    if scanned < LABEL_SCAN_BUDGET:  # reached the end of the table
        return Page(tuple(matches), None)
    return Page(tuple(matches), encode_cursor(last_id))  # budget spent: resume after it


def list_credentials(
    session: Session,
    query: CredentialQuery,
    after: str | None,
    now: datetime,
    identity_id: str | None,
) -> Page[Credential]:
    stmt: Select[Any] = select(CredentialRow).order_by(CredentialRow.id)
    if query.kind is not None:
        stmt = stmt.where(CredentialRow.kind == query.kind.value)
    if query.source is not None:
        stmt = stmt.where(CredentialRow.source == query.source.value)
    if query.owner is not None:
        stmt = stmt.where(CredentialRow.owner == query.owner)
    if query.identity is not None:
        stmt = stmt.where(CredentialRow.identity_id == identity_id)
    if query.status is CredentialStatus.EXPIRED:
        stmt = stmt.where(
            CredentialRow.status == CredentialStatus.ACTIVE.value, CredentialRow.not_after <= now
        )
    elif query.status is not None:
        stmt = stmt.where(CredentialRow.status == query.status.value)
    if query.expiring_within is not None:
        stmt = stmt.where(
            CredentialRow.status == CredentialStatus.ACTIVE.value,
            CredentialRow.not_after > now,
            CredentialRow.not_after <= now + query.expiring_within,
        )
    if after is not None:
        stmt = stmt.where(CredentialRow.id > after)
    rows = list(session.execute(stmt.limit(query.limit + 1)).scalars())
    return _page([credential_from_row(r) for r in rows], query.limit, lambda c: c.id)


def locations_of(session: Session, credential_id: str) -> tuple[Location, ...]:
    rows = session.execute(
        select(CredentialLocationRow)
        .where(CredentialLocationRow.credential_id == credential_id)
        .order_by(CredentialLocationRow.id)
    ).scalars()
    return tuple(
        Location(LocationKind(r.kind), r.location, as_utc(r.first_seen_at), as_utc(r.last_seen_at))
        for r in rows
    )


def _page(items: list[T], limit: int, key: Callable[[T], str]) -> Page[T]:
    """Keyset page: we fetched limit+1 rows; the extra one only says there is more."""
    if len(items) > limit:
        items = items[:limit]
        return Page(tuple(items), encode_cursor(key(items[-1])))
    return Page(tuple(items), None)
