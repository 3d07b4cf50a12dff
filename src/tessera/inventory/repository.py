"""Queries and writes for identities, credentials and locations (used only by services)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import ColumnElement, Table, delete, func, insert, literal, select, tuple_
from sqlalchemy.orm import Session

from tessera.core.clock import as_utc
from tessera.core.errors import InvalidRequest
from tessera.core.paging import decode_cursor, encode_cursor
from tessera.inventory.models import (
    Credential,
    CredentialKind,
    CredentialQuery,
    CredentialSort,
    CredentialSource,
    CredentialStatus,
    CredentialSummary,
    Identity,
    IdentityKind,
    IdentityQuery,
    IdentityStatus,
    Location,
    LocationKind,
    Page,
    SearchMatch,
)
from tessera.storage.models import (
    CredentialLocationRow,
    CredentialNameRow,
    CredentialRow,
    IdentityLabelRow,
    IdentityRow,
    UTCDateTime,
)

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
    """The domain object of a row (with the locations given, if any)."""
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
        key_type=row.key_type,
        key_bits=row.key_bits,
        signature_algorithm=row.signature_algorithm,
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
    after: CredentialCursor | None,
    now: datetime,
) -> Page[Credential]:
    """One keyset page. By id: `id > after`. By expiry: (not_after, id) ascending over the
    credentials that expire, then those that do not (by id), so each step is an index range."""
    filters = credential_filters(query, now)
    want = query.limit + 1
    if query.sort is CredentialSort.ID:
        stmt = select(CredentialRow).where(*filters).order_by(CredentialRow.id)
        if after is not None:
            stmt = stmt.where(CredentialRow.id > after.id)
        rows = list(session.execute(stmt.limit(want)).scalars())
    else:
        rows = []
        if after is None or after.not_after is not None:
            stmt = (
                select(CredentialRow)
                .where(*filters, CredentialRow.not_after.is_not(None))
                .order_by(CredentialRow.not_after, CredentialRow.id)
            )
            if after is not None:
                stmt = stmt.where(
                    tuple_(CredentialRow.not_after, CredentialRow.id)
                    > tuple_(literal(after.not_after, UTCDateTime), literal(after.id))
                )
            rows = list(session.execute(stmt.limit(want)).scalars())
        if len(rows) < want and not _needs_expiry(query):
            stmt = (
                select(CredentialRow)
                .where(*filters, CredentialRow.not_after.is_(None))
                .order_by(CredentialRow.id)
            )
            if after is not None and after.not_after is None:
                stmt = stmt.where(CredentialRow.id > after.id)
            rows += session.execute(stmt.limit(want - len(rows))).scalars()
    items = [credential_from_row(r) for r in rows]
    if len(items) > query.limit:
        items = items[: query.limit]
        last = items[-1]
        cursor = CredentialCursor(query.sort, last.id, last.not_after)
        return Page(tuple(items), cursor.encode())
    return Page(tuple(items), None)


def _needs_expiry(query: CredentialQuery) -> bool:
    return query.expiring_within is not None or query.status is CredentialStatus.EXPIRED


def credential_filters(query: CredentialQuery, now: datetime) -> list[ColumnElement[bool]]:
    """The WHERE terms of a query; each can be served by a (column, id) index or a side table."""
    c = CredentialRow
    out: list[ColumnElement[bool]] = []
    if query.kind is not None:
        out.append(c.kind == query.kind.value)
    if query.source is not None:
        out.append(c.source == query.source.value)
    if query.owner is not None:
        out.append(c.owner == query.owner)
    if query.identity is not None:
        named = select(IdentityRow.id).where(IdentityRow.name == query.identity)
        out.append(c.identity_id == named.scalar_subquery())
    if query.status is CredentialStatus.EXPIRED:
        out += [c.status == CredentialStatus.ACTIVE.value, c.not_after <= now]
    elif query.status is not None:
        out.append(c.status == query.status.value)
    if query.expiring_within is not None:
        out += [
            c.status == CredentialStatus.ACTIVE.value,
            c.not_after > now,
            c.not_after <= now + query.expiring_within,
        ]
    if query.environment is not None:
        in_env = select(IdentityRow.id).where(IdentityRow.environment == query.environment)
        out.append(c.identity_id.in_(in_env))
    if query.label is not None:
        key, value = query.label
        labelled = select(IdentityLabelRow.identity_id).where(
            IdentityLabelRow.key == key, IdentityLabelRow.value == value
        )
        out.append(c.identity_id.in_(labelled))
    if query.key_type is not None:
        out.append(c.key_type == query.key_type)
    if query.key_bits is not None:
        out.append(c.key_bits == query.key_bits)
    if query.signature_algorithm is not None:
        out.append(c.signature_algorithm == query.signature_algorithm)
    if query.q is not None:
        n = CredentialNameRow.name_lower
        if query.match is SearchMatch.EXACT:
            named = select(CredentialNameRow.credential_id).where(n == query.q)
        else:  # a prefix is a range in byte order (see CredentialNameRow)
            named = select(CredentialNameRow.credential_id).where(
                n >= query.q, n < _after_prefix(query.q)
            )
        out.append(c.id.in_(named))
    return out


def _after_prefix(prefix: str) -> str:
    """The least string greater than every string that starts with `prefix`."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be encoded: skip past them
        last = 0xE000
    if last > 0x10FFFF:
        return prefix + "\U0010ffff"
    return prefix[:-1] + chr(last)


@dataclass(frozen=True)
class CredentialCursor:
    """Where a credential page ended: the last id, and its expiry when sorted by expiry.
    Encoded opaquely; `decode` refuses anything it did not make (400)."""

    sort: CredentialSort
    id: str
    not_after: datetime | None = None

    def encode(self) -> str:
        if self.sort is CredentialSort.ID:
            return encode_cursor(self.id)
        if self.not_after is None:
            return encode_cursor("n" + self.id)
        micros = (self.not_after - _EPOCH) // timedelta(microseconds=1) + _MICROS_OFFSET
        return encode_cursor(f"e{micros:019d}{self.id}")

    @classmethod
    def decode(cls, cursor: str | None, sort: CredentialSort) -> CredentialCursor | None:
        raw = decode_cursor(cursor)
        if raw is None:
            return None
        if sort is CredentialSort.ID and _ID_RE.fullmatch(raw):
            return cls(sort, raw)
        if sort is CredentialSort.EXPIRY:
            if raw.startswith("n") and _ID_RE.fullmatch(raw[1:]):
                return cls(sort, raw[1:])
            if raw.startswith("e") and raw[1:20].isdigit() and _ID_RE.fullmatch(raw[20:]):
                try:
                    micros = int(raw[1:20]) - _MICROS_OFFSET
                    return cls(sort, raw[20:], _EPOCH + timedelta(microseconds=micros))
                except OverflowError:
                    pass
        raise InvalidRequest(f"cursor is not valid for sort={sort.value}")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS_OFFSET = 10**17  # keeps dates before 1970 (odd discovered certificates) non-negative
_ID_RE = re.compile(r"[0-9A-Z]{1,32}")


def summarize(session: Session, creds: Sequence[Credential]) -> list[CredentialSummary]:
    """Each credential with its identity's name and environment and its location statistics:
    two queries for the whole batch, not two per credential."""
    ids = [cr.id for cr in creds]
    loc = CredentialLocationRow
    stats = {
        cid: (count, first, last)
        for cid, count, first, last in session.execute(
            select(
                loc.credential_id,
                func.count(),
                func.min(loc.first_seen_at),
                func.max(loc.last_seen_at),
            )
            .where(loc.credential_id.in_(ids))
            .group_by(loc.credential_id)
        )
    }
    identity_ids = {cr.identity_id for cr in creds if cr.identity_id is not None}
    identities = {
        iid: (name, env)
        for iid, name, env in session.execute(
            select(IdentityRow.id, IdentityRow.name, IdentityRow.environment).where(
                IdentityRow.id.in_(identity_ids)
            )
        )
    }
    out = []
    for cr in creds:
        count, first, last = stats.get(cr.id, (0, None, None))
        name, env = identities.get(cr.identity_id or "", (None, None))
        out.append(CredentialSummary(cr, name, env, count, _opt(first), _opt(last)))
    return out


def insert_names(session: Session, names: Mapping[str, set[str]]) -> None:
    """Add the searchable names of new credentials (credential id -> names)."""
    rows = [{"credential_id": cid, "name_lower": n} for cid, ns in names.items() for n in ns]
    if rows:
        session.connection().execute(insert(cast(Table, CredentialNameRow.__table__)), rows)


def set_identity_labels(session: Session, identity_id: str, labels: Mapping[str, str]) -> None:
    """Mirror an identity's labels into `identity_labels` (replacing what was there)."""
    session.execute(delete(IdentityLabelRow).where(IdentityLabelRow.identity_id == identity_id))
    if labels:
        session.connection().execute(
            insert(cast(Table, IdentityLabelRow.__table__)),
            [{"identity_id": identity_id, "key": k, "value": v} for k, v in labels.items()],
        )


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
