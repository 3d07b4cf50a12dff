"""Identity and inventory use cases. Other domains record their credentials through
`InventoryService.record`, inside their own transaction, so no credential exists without its row."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tessera.auth.models import Principal
from tessera.core.clock import Clock
from tessera.core.errors import Conflict, InvalidRequest, NotFound
from tessera.core.ids import new_ulid
from tessera.core.paging import check_limit, decode_cursor
from tessera.core.randomness import Randomness
from tessera.inventory import repository as repo
from tessera.inventory.models import (
    CreateIdentityRequest,
    Credential,
    CredentialQuery,
    CredentialSource,
    CredentialStatus,
    CredentialSummary,
    Identity,
    IdentityQuery,
    IdentityStatus,
    Page,
    RecordCredential,
    UpdateIdentityRequest,
    key_facts,
    search_names,
    validate_labels,
    validate_name,
    validate_owner,
)
from tessera.inventory.ports import Authorizer, CredentialRevoker
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models import (
    CredentialLocationRow,
    CredentialNameRow,
    CredentialRow,
    IdentityRow,
)

# SPIFFE-ID spec: trust domain [a-z0-9.-_], path segments [A-Za-z0-9.-_], no dot segments
SPIFFE_ID_RE = re.compile(
    r"spiffe://[a-z0-9._-]{1,255}(/(?!\.{1,2}(/|$))[A-Za-z0-9._-]+)*", re.ASCII
)


EXPORT_BATCH = 500
_CREDENTIAL_ID_RE = re.compile(r"[0-9A-Za-z]{1,32}")


def _check_credential_id(credential_id: str) -> None:
    # anything else cannot be an id: answer as for a missing one, before touching policy paths
    if not _CREDENTIAL_ID_RE.fullmatch(credential_id):
        raise NotFound("no such credential")


_INSERT_CREDENTIALS = insert(cast(Table, CredentialRow.__table__))
_INSERT_LOCATIONS = insert(cast(Table, CredentialLocationRow.__table__))
_CREDENTIALS = cast(Table, CredentialRow.__table__)
_MARK_USED = (  # executemany
    update(_CREDENTIALS)
    .where(
        _CREDENTIALS.c.id == bindparam("cid"),
        or_(
            _CREDENTIALS.c.last_used_at.is_(None), _CREDENTIALS.c.last_used_at <= bindparam("floor")
        ),
    )
    .values(last_used_at=bindparam("used"))
)


class _DryRun(Exception):
    """Rolls a dry-run transaction back."""


class InventoryService:
    """Identities and the credential spine."""

    def __init__(self, db: Database, clock: Clock, rng: Randomness, authz: Authorizer) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._authz = authz
        self._revokers: list[CredentialRevoker] = []

    def add_revoker(self, revoker: CredentialRevoker) -> None:
        self._revokers.append(revoker)

    # -- identities ------------------------------------------------------------------------
    def create_identity(self, principal: Principal, req: CreateIdentityRequest) -> Identity:
        name = validate_name(req.name, "identity name")
        self._authz.authorize(principal, f"identities/{name}", Capability.CREATE)
        owner = validate_owner(req.owner)
        environment = validate_name(req.environment, "environment")
        labels = validate_labels(req.labels)
        if req.spiffe_id is not None and (
            len(req.spiffe_id) > 2048 or not SPIFFE_ID_RE.fullmatch(req.spiffe_id)
        ):
            raise InvalidRequest(
                "spiffe_id must be spiffe://<trust domain>/<path> (lower-case trust domain; "
                "path segments of letters, digits, '.', '-', '_'), at most 2048 characters"
            )
        now = self._clock.now()
        row = IdentityRow(
            id=new_ulid(self._clock, self._rng),
            name=name,
            kind=req.kind.value,
            owner=owner,
            environment=environment,
            labels=labels,
            spiffe_id=req.spiffe_id,
            status=IdentityStatus.ACTIVE.value,
            created_at=now,
            updated_at=now,
            decommissioned_at=None,
        )
        try:
            with self._db.session(write=True) as s:
                if repo.get_identity_row(s, name) is not None:
                    raise Conflict(f"an identity named {name!r} already exists")
                s.add(row)
                s.flush()
                repo.set_identity_labels(s, row.id, labels)
        except IntegrityError:
            raise Conflict(f"an identity named {name!r} already exists") from None
        return repo.identity_from_row(row)

    def get_identity(self, principal: Principal, name: str) -> Identity:
        self._authz.authorize(principal, f"identities/{validate_name(name)}", Capability.READ)
        with self._db.session() as s:
            return repo.identity_from_row(self._require(s, name))

    def list_identities(self, principal: Principal, query: IdentityQuery) -> Page[Identity]:
        self._authz.authorize(principal, "identities", Capability.LIST)
        check_limit(query.limit)
        with self._db.session() as s:
            page = repo.list_identities(s, query, decode_cursor(query.cursor))
        # listing is not reading: only identities the caller may read (and not denied) appear
        visible = tuple(
            i
            for i in page.items
            if self._authz.permits(principal, f"identities/{i.name}", Capability.READ)
        )
        return Page(visible, page.next_cursor)

    def update_identity(
        self, principal: Principal, name: str, req: UpdateIdentityRequest
    ) -> Identity:
        self._authz.authorize(principal, f"identities/{validate_name(name)}", Capability.UPDATE)
        with self._db.session(write=True) as s:
            row = self._require(s, name)
            if row.status == IdentityStatus.DECOMMISSIONED.value:
                raise Conflict(f"identity {name!r} is decommissioned")
            if req.owner is not None:
                row.owner = validate_owner(req.owner)
                # the identity's credentials follow its owner unless a discovery set one
                s.execute(
                    update(CredentialRow)
                    .where(
                        CredentialRow.identity_id == row.id,
                        CredentialRow.source == CredentialSource.MANAGED.value,
                    )
                    .values(owner=row.owner, updated_at=self._clock.now())
                )
            if req.environment is not None:
                row.environment = validate_name(req.environment, "environment")
            if req.labels is not None:
                row.labels = validate_labels(req.labels)
                repo.set_identity_labels(s, row.id, row.labels)
            row.updated_at = self._clock.now()
            return repo.identity_from_row(row)

    def decommission(self, principal: Principal, name: str) -> tuple[Identity, int]:
        """Mark the identity decommissioned and revoke its credentials in one transaction.
        Idempotent; returns the identity and how many credentials were revoked now."""
        self._authz.authorize(
            principal, f"identities/{validate_name(name)}/decommission", Capability.UPDATE
        )
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row = self._require(s, name, lock="update")
            revoked = sum(r.revoke_for_identity(s, row.id, now) for r in self._revokers)
            if row.status != IdentityStatus.DECOMMISSIONED.value:
                row.status = IdentityStatus.DECOMMISSIONED.value
                row.decommissioned_at = now
                row.updated_at = now
            return repo.identity_from_row(row), revoked

    def decommission_plan(self, principal: Principal, name: str) -> list[Credential]:
        """What `decommission` would revoke now, found by running it in a transaction that is
        rolled back (so the answer is exactly what the revokers do, child tokens included)."""
        self._authz.authorize(
            principal, f"identities/{validate_name(name)}/decommission", Capability.UPDATE
        )
        now = self._clock.now()
        found: list[Credential] = []
        try:
            with self._db.session(write=True) as s:
                row = self._require(s, name, lock="update")
                for revoker in self._revokers:
                    revoker.revoke_for_identity(s, row.id, now)
                s.flush()
                changed = s.scalars(
                    select(CredentialRow)
                    .where(
                        CredentialRow.updated_at == now,
                        CredentialRow.status != CredentialStatus.ACTIVE.value,
                    )
                    .order_by(CredentialRow.kind, CredentialRow.id)
                )
                found = [repo.credential_from_row(r) for r in changed]
                raise _DryRun
        except _DryRun:
            pass
        return found

    def bind_identity(self, session: Session, name: str) -> tuple[str, str]:
        """(id, owner) of an active identity for a credential being bound to it. The row is
        locked FOR SHARE so a concurrent decommission (FOR UPDATE) cannot miss the credential."""
        row = self._require(session, validate_name(name, "identity"), lock="share")
        if row.status != IdentityStatus.ACTIVE.value:
            raise Conflict(f"identity {name!r} is decommissioned")
        return row.id, row.owner

    def _require(self, session: Session, name: str, lock: str | None = None) -> IdentityRow:
        row = repo.get_identity_row(session, name, lock)
        if row is None:
            raise NotFound(f"no identity named {name!r}")
        return row

    # -- credentials -----------------------------------------------------------------------
    def list_credentials(self, principal: Principal, query: CredentialQuery) -> Page[Credential]:
        """One keyset page of the credentials matching every filter of `query`; those the
        caller may not read are left out (so a page may be short and still have a next)."""
        self._authz.authorize(principal, "inventory/credentials", Capability.LIST)
        check_limit(query.limit)
        after = repo.CredentialCursor.decode(query.cursor, query.sort)
        with self._db.session() as s:
            page = repo.list_credentials(s, query, after, self._clock.now())
        return Page(self._readable(principal, page.items), page.next_cursor)

    def export(self, principal: Principal, query: CredentialQuery) -> Iterator[CredentialSummary]:
        """Every credential matching `query` (its limit and cursor are ignored) that the caller
        may read, with its location statistics. Checks policy and input now; rows are read in
        batches of short transactions while the caller consumes them."""
        self._authz.authorize(principal, "inventory/credentials", Capability.LIST)
        batch = replace(query, limit=EXPORT_BATCH, cursor=None)
        return self._export(principal, batch)

    def _export(self, principal: Principal, query: CredentialQuery) -> Iterator[CredentialSummary]:
        after: repo.CredentialCursor | None = None
        while True:
            with self._db.session() as s:
                page = repo.list_credentials(s, query, after, self._clock.now())
                summaries = repo.summarize(s, self._readable(principal, page.items))
            yield from summaries
            if page.next_cursor is None:
                return
            after = repo.CredentialCursor.decode(page.next_cursor, query.sort)

    def _readable(
        self, principal: Principal, items: Iterable[Credential]
    ) -> tuple[Credential, ...]:
        return tuple(
            c
            for c in items
            if self._authz.permits(principal, f"inventory/credentials/{c.id}", Capability.READ)
        )

    def get_credential(self, principal: Principal, credential_id: str) -> Credential:
        """One credential with every location it was issued at or seen in."""
        _check_credential_id(credential_id)
        self._authz.authorize(principal, f"inventory/credentials/{credential_id}", Capability.READ)
        with self._db.session() as s:
            row = s.get(CredentialRow, credential_id)
            if row is None:
                raise NotFound("no such credential")
            return repo.credential_from_row(row, repo.locations_of(s, row.id))

    def set_credential_owner(
        self, principal: Principal, credential_id: str, owner: str
    ) -> Credential:
        """Make `owner` accountable for one credential (e.g. a discovered one nobody claimed).
        A managed credential's owner follows its identity again when the identity's changes."""
        _check_credential_id(credential_id)
        self._authz.authorize(
            principal, f"inventory/credentials/{credential_id}", Capability.UPDATE
        )
        owner = validate_owner(owner)
        with self._db.session(write=True) as s:
            row = s.get(CredentialRow, credential_id)
            if row is None:
                raise NotFound("no such credential")
            row.owner = owner
            row.updated_at = self._clock.now()
            return repo.credential_from_row(row, repo.locations_of(s, row.id))

    def record(self, session: Session, rec: RecordCredential) -> str:
        """Insert or refresh the inventory row for (kind, fingerprint); add its location.
        Runs in the caller's transaction. Returns the credential id."""
        now = self._clock.now()
        row = session.execute(
            select(CredentialRow).where(
                CredentialRow.kind == rec.kind.value, CredentialRow.fingerprint == rec.fingerprint
            )
        ).scalar_one_or_none()
        if row is None:
            facts = key_facts(rec.attributes)
            row = CredentialRow(
                id=new_ulid(self._clock, self._rng),
                kind=rec.kind.value,
                fingerprint=rec.fingerprint,
                name=rec.name[:512],
                identity_id=rec.identity_id,
                owner=rec.owner,
                source=rec.source.value,
                status=CredentialStatus.ACTIVE.value,
                issued_at=rec.issued_at,
                not_after=rec.not_after,
                last_used_at=None,
                last_rotated_at=rec.issued_at,
                attributes=dict(rec.attributes),
                created_at=now,
                updated_at=now,
                key_type=facts.key_type,
                key_bits=facts.key_bits,
                signature_algorithm=facts.signature_algorithm,
            )
            session.add(row)
            session.flush()
            repo.insert_names(session, {row.id: search_names(rec)})
        else:
            row.updated_at = now
        if rec.location is not None:
            kind, where = rec.location
            loc = session.execute(
                select(CredentialLocationRow).where(
                    CredentialLocationRow.credential_id == row.id,
                    CredentialLocationRow.kind == kind.value,
                    CredentialLocationRow.location == where,
                )
            ).scalar_one_or_none()
            if loc is None:
                session.add(
                    CredentialLocationRow(
                        credential_id=row.id,
                        kind=kind.value,
                        location=where[:1024],
                        first_seen_at=now,
                        last_seen_at=now,
                    )
                )
            else:
                loc.last_seen_at = now
        return row.id

    def set_status(
        self,
        session: Session,
        kind_fingerprints: list[tuple[str, str]],
        status: CredentialStatus,
        now: datetime,
    ) -> None:
        """Move credentials to a new status (e.g. revoked) in the caller's transaction."""
        for kind, fingerprint in kind_fingerprints:
            session.execute(
                update(CredentialRow)
                .where(CredentialRow.kind == kind, CredentialRow.fingerprint == fingerprint)
                .values(status=status.value, updated_at=now)
            )

    def set_not_after(
        self, session: Session, kind: str, fingerprint: str, not_after: datetime | None
    ) -> None:
        session.execute(
            update(CredentialRow)
            .where(CredentialRow.kind == kind, CredentialRow.fingerprint == fingerprint)
            .values(not_after=not_after, updated_at=self._clock.now())
        )

    def set_rotated(self, session: Session, kind: str, fingerprint: str, when: datetime) -> None:
        """Record that the credential's secret value changed at `when`."""
        session.execute(
            update(CredentialRow)
            .where(CredentialRow.kind == kind, CredentialRow.fingerprint == fingerprint)
            .values(last_rotated_at=when, updated_at=when)
        )

    def mark_used(
        self,
        session: Session,
        uses: Mapping[str, datetime],
        unless_within: timedelta = timedelta(0),
    ) -> None:
        """Move credentials' `last_used_at` (by credential id) forward to the given times; never
        back, and not when a use within `unless_within` is recorded already (several nodes
        record uses, each at most once per interval)."""
        if not uses:
            return
        rows = [{"cid": cid, "used": used, "floor": used - unless_within}
                for cid, used in uses.items()]  # fmt: skip
        session.connection().execute(_MARK_USED, rows)

    def delete_credential(self, session: Session, kind: str, fingerprint: str) -> None:
        """Remove a row recorded for a credential that was never made (a failed create)."""
        ids = select(CredentialRow.id).where(
            CredentialRow.kind == kind, CredentialRow.fingerprint == fingerprint
        )
        session.execute(
            delete(CredentialLocationRow).where(CredentialLocationRow.credential_id.in_(ids))
        )
        session.execute(delete(CredentialNameRow).where(CredentialNameRow.credential_id.in_(ids)))
        session.execute(
            delete(CredentialRow).where(
                CredentialRow.kind == kind, CredentialRow.fingerprint == fingerprint
            )
        )

    def set_status_of_fingerprints(
        self,
        session: Session,
        kind: str,
        fingerprints: Select[Any],
        status: CredentialStatus,
        now: datetime,
        only_from: CredentialStatus | None = None,
    ) -> None:
        """Bulk form of `set_status` for the credentials whose fingerprints a query selects
        (e.g. every certificate of a CA), in one statement; `only_from` leaves credentials in
        any other status as they are (a revoked one is never 'superseded')."""
        stmt = update(CredentialRow).where(
            CredentialRow.kind == kind, CredentialRow.fingerprint.in_(fingerprints)
        )
        if only_from is not None:
            stmt = stmt.where(CredentialRow.status == only_from.value)
        session.execute(stmt.values(status=status.value, updated_at=now))

    def record_issued(self, session: Session, recs: Sequence[RecordCredential]) -> list[str]:
        """Insert the rows of credentials just issued, whose fingerprints cannot exist yet (a
        new certificate), with their location: two multi-row INSERTs in the caller's
        transaction instead of a lookup per credential. Returns the new ids in order."""
        if not recs:
            return []
        now = self._clock.now()
        ids = [new_ulid(self._clock, self._rng) for _ in recs]
        conn = session.connection()  # Core executemany: no ORM bookkeeping per row
        facts = [key_facts(r.attributes) for r in recs]
        conn.execute(
            _INSERT_CREDENTIALS,
            [
                {
                    "id": cid,
                    "kind": r.kind.value,
                    "fingerprint": r.fingerprint,
                    "name": r.name[:512],
                    "identity_id": r.identity_id,
                    "owner": r.owner,
                    "source": r.source.value,
                    "status": CredentialStatus.ACTIVE.value,
                    "issued_at": r.issued_at,
                    "not_after": r.not_after,
                    "last_used_at": None,
                    "last_rotated_at": r.issued_at,
                    "attributes": dict(r.attributes),
                    "created_at": now,
                    "updated_at": now,
                    "key_type": f.key_type,
                    "key_bits": f.key_bits,
                    "signature_algorithm": f.signature_algorithm,
                }
                for cid, r, f in zip(ids, recs, facts, strict=True)
            ],
        )
        repo.insert_names(session, {cid: search_names(r) for cid, r in zip(ids, recs, strict=True)})
        locations = [
            {
                "credential_id": cid,
                "kind": r.location[0].value,
                "location": r.location[1][:1024],
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for cid, r in zip(ids, recs, strict=True)
            if r.location is not None
        ]
        if locations:
            conn.execute(_INSERT_LOCATIONS, locations)
        return ids
