"""API key use cases: create, list, show, rotate with overlap, revoke, verify.

Policy paths (one scheme; `keys/` keeps identity names apart from `verify`):
- `apikeys/keys/<identity>`: `create` a key for the identity; `list` its keys.
- `apikeys/keys`: `list` keys of every identity (each shown only if `read` on its own path).
- `apikeys/keys/<identity>/<key id>`: `read` (show), `update` (rotate, set the rotation
  policy, pick up a sealed successor), `delete` (revoke).
- `apikeys/verify`: `update`, for services that check the keys presented to them.
The `max_ttl` constraint of the rule granting the operation caps the new key's lifetime: the
`create` rule's for a new key, the `update` rule's for a rotation's successor.

Verified keys are cached in memory for at most `cache_ttl` seconds; a revoke or rotation on this
node clears the cache at once, other nodes drop their entries within `cache_ttl`. Uses are
noted in memory and written to `last_used_at` at most once per `usage_interval` per key.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tessera.apikeys import format as key_format
from tessera.apikeys import repository as repo
from tessera.apikeys.cache import VerifiedKeyCache
from tessera.apikeys.errors import InvalidApiKey
from tessera.apikeys.models import (
    ApiKey,
    ApiKeyLimits,
    ApiKeyQuery,
    ApiKeyStatus,
    CreateApiKeyRequest,
    CreatedApiKey,
    RotateApiKeyRequest,
    RotatedApiKey,
    RotationPolicy,
    VerifiedKey,
    validate_scopes,
)
from tessera.apikeys.ports import Authorizer, InventoryPort, KeySource
from tessera.apikeys.repository import key_path
from tessera.apikeys.rotation_policy import apply_policy, check_policy, human, lifetime
from tessera.apikeys.successors import Successors
from tessera.apikeys.usage import UsageBuffer
from tessera.auth.models import Principal
from tessera.core.clock import Clock, as_utc
from tessera.core.errors import Conflict, InvalidRequest, NotFound, Sealed
from tessera.core.paging import check_limit, decode_cursor, encode_cursor
from tessera.core.randomness import Randomness
from tessera.core.text import check_text
from tessera.inventory.models import (
    CredentialKind,
    CredentialSource,
    CredentialStatus,
    LocationKind,
    Page,
    RecordCredential,
    validate_name,
)
from tessera.policy.models import Capability
from tessera.storage.db import Database
from tessera.storage.models import IdentityRow
from tessera.storage.models_apikeys import ApiKeyRow

KEY_NAME = "apikey_hmac_key"
VERIFY_PATH = "apikeys/verify"
FLUSH_PERIOD = 5.0  # seconds between background flushes (each writes only the keys due)
_KIND = CredentialKind.API_KEY
_STAND_IN = bytes(32)  # compared against when the key id is unknown: same work as a wrong key
log = logging.getLogger("tessera.apikeys")


class ApiKeyService:
    """API keys of identities. Keys are stored only as keyed hashes; each is an inventory
    credential of kind `api_key` owned by its identity's owner."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        rng: Randomness,
        keys: KeySource,
        policies: Authorizer,
        inventory: InventoryPort,
        limits: ApiKeyLimits | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._rng = rng
        self._keys = keys
        self._policies = policies
        self._inventory = inventory
        self._limits = limits or ApiKeyLimits()
        self._key: bytes | None = None
        self._cache = VerifiedKeyCache(clock, self._limits.cache_ttl)
        self._usage = UsageBuffer(clock, self._limits.usage_interval)
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.successors = Successors(db, clock, keys, policies, self.verify_key)

    # -- seal lifecycle and background work ------------------------------------------------
    def on_unseal(self) -> None:
        self._key = self._keys.system_secret(KEY_NAME)

    def on_seal(self) -> None:
        self._key = None
        self.clear_cache()

    def clear_cache(self) -> None:
        self._cache.clear()

    def start(self) -> None:
        """Start the thread that writes noted uses every FLUSH_PERIOD seconds."""
        if self._flusher is not None:
            return
        self._stop.clear()
        self._flusher = threading.Thread(target=self._run, name="apikey-usage", daemon=True)
        self._flusher.start()

    def stop(self) -> None:
        """Stop the flusher and write every use still in memory."""
        if self._flusher is not None:
            self._stop.set()
            self._flusher.join(timeout=30)
            self._flusher = None
        self._flush_logged(force=True)

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_PERIOD):
            self._flush_logged(force=False)

    def _flush_logged(self, *, force: bool) -> None:
        try:
            self.flush_usage(force=force)
        except Exception:  # the uses were put back; the next flush retries them
            log.exception("could not record API key usage")

    def flush_usage(self, *, force: bool = False) -> int:
        """Write the noted uses that are due (every one when `force`); returns how many keys
        were written. On failure the uses are kept for the next flush."""
        uses = self._usage.take_due(force=force)
        if not uses:
            return 0
        try:
            with self._db.session(write=True) as s:
                repo.write_usage(s, uses, self._inventory)
        except BaseException:
            self._usage.put_back(uses)
            raise
        return len(uses)

    def _hash(self, key: str) -> bytes:
        if self._key is None:
            raise Sealed("Tessera is sealed")
        return key_format.key_hash(self._key, key)

    # -- management ------------------------------------------------------------------------
    def create(self, principal: Principal, req: CreateApiKeyRequest) -> CreatedApiKey:
        """A new key for an active identity; the key is in the answer and nowhere else."""
        identity = validate_name(req.identity, "identity")
        decision = self._policies.authorize(principal, key_path(identity), Capability.CREATE)
        scopes = validate_scopes(req.scopes)
        name = check_text(req.name, "name") if req.name is not None else f"{identity} api key"
        ttl = lifetime(req.ttl, self._limits.default_ttl, decision, self._limits)
        policy = check_policy(req.rotation, self._limits)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            identity_id, owner = self._inventory.bind_identity(s, identity)
            row, key = self._insert(s, identity_id, owner, name, scopes, now, now + ttl, None)
            apply_policy(row, policy)
            return CreatedApiKey(key=key, info=repo.key_from_row(row, identity, now))

    def list_keys(self, principal: Principal, query: ApiKeyQuery) -> Page[ApiKey]:
        """Keys in key-id order, keyset-paged; only those the caller may read appear."""
        check_limit(query.limit)
        after = decode_cursor(query.cursor)
        now = self._clock.now()
        with self._db.session() as s:
            identity_id = None
            if query.identity is not None:
                identity = validate_name(query.identity, "identity")
                self._policies.authorize(principal, key_path(identity), Capability.LIST)
                identity_id = s.execute(
                    select(IdentityRow.id).where(IdentityRow.name == identity)
                ).scalar_one_or_none()
                if identity_id is None:
                    return Page((), None)
            else:
                self._policies.authorize(principal, "apikeys/keys", Capability.LIST)
            rows = repo.page(s, identity_id, after, query.limit + 1)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        visible = tuple(
            repo.key_from_row(row, name, now)
            for row, name in rows
            if self._policies.permits(principal, key_path(name, row.id), Capability.READ)
        )
        return Page(visible, encode_cursor(rows[-1][0].id) if more else None)

    def get(self, principal: Principal, key_id: str) -> ApiKey:
        with self._db.session() as s:
            row, identity = self._require(s, key_id)
        self._policies.authorize(principal, key_path(identity, row.id), Capability.READ)
        return repo.key_from_row(row, identity, self._clock.now())

    def rotate(self, principal: Principal, key_id: str, req: RotateApiKeyRequest) -> RotatedApiKey:
        """A successor with the same identity, name and scopes. The old key keeps working for
        the overlap (0: stops at once), never past its own expiry, and is superseded now."""
        overlap = self._limits.default_overlap if req.overlap is None else req.overlap
        if not timedelta(0) <= overlap <= self._limits.max_overlap:
            raise InvalidRequest(f"overlap must be between 0 and {human(self._limits.max_overlap)}")
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row, identity = self._require(s, key_id, lock=True)
            decision = self._policies.authorize(
                principal, key_path(identity, row.id), Capability.UPDATE
            )
            status = repo.status_of(row, now)
            if status is ApiKeyStatus.SUPERSEDED:
                raise Conflict(f"key {row.id} was rotated already: rotate {row.replaced_by}")
            if status is not ApiKeyStatus.ACTIVE:
                raise Conflict(f"key {row.id} is {status.value} and cannot be rotated")
            original = as_utc(row.expires_at) - as_utc(row.created_at)
            ttl = lifetime(req.ttl, original, decision, self._limits)
            new_row, key = self._supersede(s, row, identity, overlap, ttl, now)
            created = CreatedApiKey(key=key, info=repo.key_from_row(new_row, identity, now))
            previous = repo.key_from_row(row, identity, now)
        self.clear_cache()
        return RotatedApiKey(created=created, previous=previous)

    def rotate_due(self, key_id: str, generation: int) -> str | None:
        """The scheduler's rotation (no principal: the key's own policy asked for it) of a key
        whose `rotate_at` has come; the successor is sealed for pickup until the overlap ends.
        Returns its id, or None when nothing is due (rotated, revoked, expired, policy gone)."""
        now = self._clock.now()
        with self._db.session(write=True) as s:
            found = repo.load(s, key_id, lock=True)
            if found is None:
                return None
            row, identity = found
            if (
                row.generation != generation
                or row.rotate_at is None
                or as_utc(row.rotate_at) > now
                or repo.status_of(row, now) is not ApiKeyStatus.ACTIVE
            ):
                return None
            overlap = repo.rotation_of(row).overlap or self._limits.default_overlap
            original = as_utc(row.expires_at) - as_utc(row.created_at)
            ttl = max(self._limits.min_ttl, min(original, self._limits.max_ttl))
            new_row, key = self._supersede(s, row, identity, overlap, ttl, now)
            self.successors.seal(new_row, key, as_utc(row.expires_at))
            successor = new_row.id
        self.clear_cache()
        return successor

    def set_rotation(self, principal: Principal, key_id: str, policy: RotationPolicy) -> ApiKey:
        """Replace an active key's rotation policy; the next rotation is due `rotate_every`
        after the key was made (at once if that is past), or never without `rotate_every`."""
        checked = check_policy(policy, self._limits)
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row, identity = self._require(s, key_id, lock=True)
            self._policies.authorize(principal, key_path(identity, row.id), Capability.UPDATE)
            status = repo.status_of(row, now)
            if status is not ApiKeyStatus.ACTIVE:
                raise Conflict(f"key {row.id} is {status.value}: set the policy on its successor")
            apply_policy(row, checked)
            return repo.key_from_row(row, identity, now)

    def _supersede(
        self,
        s: Session,
        row: ApiKeyRow,
        identity: str,
        overlap: timedelta,
        ttl: timedelta,
        now: datetime,
    ) -> tuple[ApiKeyRow, str]:
        """The successor (inheriting the rotation policy) and the old key superseded: it keeps
        working for the overlap, never past its own expiry, and is no longer deliverable."""
        identity_id, owner = self._inventory.bind_identity(s, identity)
        new_row, key = self._insert(
            s, identity_id, owner, row.name, tuple(row.scopes), now, now + ttl, row.id
        )
        new_row.generation = row.generation + 1
        apply_policy(new_row, repo.rotation_of(row))
        row.expires_at = min(as_utc(row.expires_at), now + overlap)
        row.replaced_by = new_row.id
        row.rotate_at, row.sealed_key, row.sealed_until = None, None, None
        old = repo.fingerprint(row.id)
        self._inventory.set_status(s, [(_KIND.value, old)], CredentialStatus.SUPERSEDED, now)
        self._inventory.set_not_after(s, _KIND.value, old, row.expires_at)
        return new_row, key

    def revoke(self, principal: Principal, key_id: str) -> ApiKey:
        """Stop the key at once (on this node; within `cache_ttl` on others). Idempotent."""
        now = self._clock.now()
        with self._db.session(write=True) as s:
            row, identity = self._require(s, key_id, lock=True)
            self._policies.authorize(principal, key_path(identity, row.id), Capability.DELETE)
            row.rotate_at, row.sealed_key, row.sealed_until = None, None, None
            if row.revoked_at is None:
                row.revoked_at = now
                self._inventory.set_status(
                    s, [(_KIND.value, repo.fingerprint(row.id))], CredentialStatus.REVOKED, now
                )
            revoked = repo.key_from_row(row, identity, now)
        self.clear_cache()
        return revoked

    def revoke_for_identity(self, session: Session, identity_id: str, now: datetime) -> int:
        """CredentialRevoker port: every key of the identity, in the caller's transaction."""
        rows = list(
            session.execute(
                select(ApiKeyRow)
                .where(ApiKeyRow.identity_id == identity_id, ApiKeyRow.revoked_at.is_(None))
                .with_for_update()
            ).scalars()
        )
        for row in rows:
            row.revoked_at = now
            row.rotate_at, row.sealed_key, row.sealed_until = None, None, None
        if rows:
            self._inventory.set_status(
                session,
                [(_KIND.value, repo.fingerprint(r.id)) for r in rows],
                CredentialStatus.REVOKED,
                now,
            )
        # clear after the commit: clearing now would let a reader cache the pre-commit row
        event.listen(session, "after_commit", lambda _s: self.clear_cache(), once=True)
        return len(rows)

    def _require(self, s: Session, key_id: str, *, lock: bool = False) -> tuple[ApiKeyRow, str]:
        found = repo.load(s, key_id, lock=lock) if key_format.is_key_id(key_id) else None
        if found is None:
            raise NotFound("no such API key")
        return found

    def _insert(
        self,
        s: Session,
        identity_id: str,
        owner: str,
        name: str,
        scopes: tuple[str, ...],
        now: datetime,
        expires: datetime,
        replaces: str | None,
    ) -> tuple[ApiKeyRow, str]:
        """Write the key row and its inventory row in the caller's transaction."""
        generated = key_format.generate(self._rng)
        credential_id = self._inventory.record(
            s,
            RecordCredential(
                kind=_KIND,
                fingerprint=repo.fingerprint(generated.key_id),
                name=name,
                source=CredentialSource.MANAGED,
                identity_id=identity_id,
                owner=owner,
                issued_at=now,
                not_after=expires,
                attributes={"key_id": generated.key_id, "scopes": list(scopes)}
                | ({"replaces": replaces} if replaces else {}),
                location=(LocationKind.ISSUED, "tessera:apikeys"),
            ),
        )
        row = ApiKeyRow(
            id=generated.key_id,
            key_hash=self._hash(generated.key),
            identity_id=identity_id,
            name=name,
            scopes=list(scopes),
            credential_id=credential_id,
            replaces=replaces,
            replaced_by=None,
            created_at=now,
            expires_at=expires,
            revoked_at=None,
            last_used_at=None,
            generation=0,
        )
        s.add(row)
        s.flush()
        return row, generated.key

    # -- verification ----------------------------------------------------------------------
    def verify(self, principal: Principal, key: str) -> VerifiedKey:
        """For services: whose key this is and its scopes, or InvalidApiKey (one answer for a
        wrong, unknown, expired, revoked or malformed key)."""
        hit = self.verify_cached(principal, key)
        return hit if hit is not None else self.verify_key(key)

    def verify_cached(self, principal: Principal, key: str) -> VerifiedKey | None:
        """The same answer from memory only, or None when storage must be asked (lets an async
        caller stay on the event loop for the common case and use a thread otherwise)."""
        self._policies.authorize(principal, VERIFY_PATH, Capability.UPDATE)
        if key_format.parse_key_id(key) is None:
            raise InvalidApiKey()
        hit = self._cache.get(self._hash(key))
        return None if hit is None else self._accept(hit)

    def verify_key(self, key: str) -> VerifiedKey:
        """Verification without authorization, for callers that authorized already (the
        router after `verify_cached`, an API-key login method)."""
        key_id = key_format.parse_key_id(key)
        if key_id is None:
            raise InvalidApiKey()  # shape and checksum: a typo never reaches storage
        digest = self._hash(key)
        hit = self._cache.get(digest)
        if hit is not None:
            return self._accept(hit)
        generation, read_at = self._cache.generation, self._clock.monotonic()
        with self._db.session() as s:
            found = s.execute(
                select(
                    ApiKeyRow.key_hash,
                    ApiKeyRow.identity_id,
                    IdentityRow.name,
                    ApiKeyRow.scopes,
                    ApiKeyRow.expires_at,
                    ApiKeyRow.revoked_at,
                )
                .join(IdentityRow, IdentityRow.id == ApiKeyRow.identity_id)
                .where(ApiKeyRow.id == key_id)
            ).first()
        # compare even when the id is unknown, so unknown and wrong keys take the same time
        matches = key_format.digests_equal(found[0] if found else _STAND_IN, digest)
        if found is None or not matches or found[5] is not None:
            raise InvalidApiKey()
        verified = VerifiedKey(
            key_id=key_id,
            identity=found[2],
            identity_id=found[1],
            scopes=tuple(found[3]),
            expires_at=as_utc(found[4]),
        )
        self._cache.put(digest, verified, generation, read_at)
        return self._accept(verified)

    def _accept(self, verified: VerifiedKey) -> VerifiedKey:
        now = self._clock.now()
        if verified.expires_at <= now:
            raise InvalidApiKey()
        self._usage.note(verified.key_id, now)
        return verified


__all__ = ["KEY_NAME", "ApiKeyService", "key_path"]
